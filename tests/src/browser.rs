//! Headless Chromium for tests that look at a page as a person would:
//! Debian's `chromium`, driven over the Chrome DevTools Protocol (one
//! DevTools WebSocket, one flattened session per tab).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::process::http_get;
use crate::{free_port, unique_name, wait_until};

/// How long one DevTools command may take.
pub const CDP_TIMEOUT: Duration = Duration::from_secs(20);

/// A headless Chromium in its own process group, killed (group and all)
/// on drop, its throwaway profile removed.
pub struct Chromium {
    child: Child,
    profile: PathBuf,
    debug_port: u16,
}

impl Chromium {
    /// Starts Chromium headless with a throwaway profile.
    pub fn launch() -> Chromium {
        let path = std::env::var_os("PARLEY_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        assert!(
            path.exists(),
            "{} not found: install Debian's chromium (deploy/local/install.sh) or set PARLEY_CHROMIUM",
            path.display()
        );
        let profile = std::env::temp_dir().join(unique_name("chromium-profile"));
        std::fs::create_dir_all(&profile).expect("chromium profile dir");
        let debug_port = free_port();
        let mut command = Command::new(&path);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                &format!("--remote-debugging-port={debug_port}"),
                &format!("--user-data-dir={}", profile.display()),
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--hide-scrollbars",
                "--mute-audio",
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own group, so the drop reaches the renderers and the zygote.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("start chromium");
        Chromium {
            child,
            profile,
            debug_port,
        }
    }

    /// The browser's DevTools WebSocket URL, once it listens.
    pub fn devtools_url(&mut self) -> String {
        let addr = format!("127.0.0.1:{}", self.debug_port);
        let mut url = None;
        wait_until(
            Duration::from_secs(20),
            "chromium DevTools endpoint",
            || {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("chromium exited early: {status}");
                }
                url = http_get(&addr, "/json/version")
                    .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
                    .and_then(|v| v["webSocketDebuggerUrl"].as_str().map(str::to_owned));
                url.is_some()
            },
        );
        url.expect("DevTools URL")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One DevTools connection to the browser; each tab is a flattened session.
pub struct Cdp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// JS whose value a timed-out wait prints (default: the page's text).
    pub describe: String,
}

/// A tab, addressed by its DevTools session.
pub struct Page {
    session: String,
    /// Name used in failure messages.
    pub name: &'static str,
}

impl Cdp {
    /// Connects to the browser's DevTools WebSocket.
    pub async fn connect(url: &str) -> Cdp {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect to chromium DevTools");
        Cdp {
            ws,
            next_id: 0,
            describe: "document.body.innerText.slice(0, 3000)".into(),
        }
    }

    /// Sends one command and waits for its answer, skipping events.
    pub async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            request["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(request.to_string()))
            .await
            .map_err(|e| format!("send {method}: {e}"))?;
        let answer = tokio::time::timeout(CDP_TIMEOUT, async {
            while let Some(frame) = self.ws.next().await {
                let frame = frame.map_err(|e| format!("read: {e}"))?;
                let Message::Text(text) = frame else { continue };
                let value: Value =
                    serde_json::from_str(text.as_str()).map_err(|e| format!("json: {e}"))?;
                if value["id"].as_u64() == Some(id) {
                    return Ok(value);
                }
            }
            Err("DevTools connection closed".to_owned())
        })
        .await
        .map_err(|_| format!("{method}: no answer in {CDP_TIMEOUT:?}"))??;
        match answer.get("error") {
            Some(error) => Err(format!("{method}: {error}")),
            None => Ok(answer["result"].clone()),
        }
    }

    /// Opens `url` in a new window of `width`×`height` CSS pixels.
    pub async fn open(&mut self, name: &'static str, url: &str, width: u32, height: u32) -> Page {
        let target = self
            .call(
                None,
                "Target.createTarget",
                json!({"url": "about:blank", "newWindow": true}),
            )
            .await
            .expect("create target");
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await
            .expect("attach to target");
        let page = Page {
            session: attached["sessionId"]
                .as_str()
                .expect("session id")
                .to_owned(),
            name,
        };
        for (method, params) in [
            (
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
            ),
            (
                "Emulation.setFocusEmulationEnabled",
                json!({"enabled": true}),
            ),
            ("Page.navigate", json!({"url": url})),
        ] {
            self.call(Some(&page.session), method, params)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        page
    }

    /// Evaluates `expression` in the page; its JSON value.
    pub async fn eval(&mut self, page: &Page, expression: &str) -> Result<Value, String> {
        let result = self
            .call(
                Some(&page.session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(details) = result.get("exceptionDetails") {
            return Err(format!("{}: {details}", page.name));
        }
        Ok(result["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Evaluates `expression`, which must not throw.
    pub async fn value(&mut self, page: &Page, expression: &str) -> Value {
        self.eval(page, expression)
            .await
            .unwrap_or_else(|e| panic!("{e}\nin: {expression}"))
    }

    /// True when the JS boolean `condition` holds now.
    pub async fn holds(&mut self, page: &Page, condition: &str) -> bool {
        self.eval(page, condition).await == Ok(Value::Bool(true))
    }

    /// Polls `condition` until it holds; on timeout, fails with what the
    /// page shows.
    pub async fn wait_for(&mut self, page: &Page, what: &str, condition: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.holds(page, condition).await {
            if Instant::now() > deadline {
                let describe = self.describe.clone();
                let shown = self.eval(page, &describe).await;
                panic!(
                    "{}: timed out after {timeout:?} waiting for {what}\npage: {shown:?}",
                    page.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes a PNG of what the tab shows.
    pub async fn screenshot(&mut self, page: &Page, path: &str) {
        let shot = self
            .call(
                Some(&page.session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot base64");
        std::fs::write(path, png).expect("write screenshot");
    }
}

// ---------- what the tests read from the page ----------
