//! The live dashboard test's harness: a Prometheus of its own, a ClickHouse
//! proxy that can play "down", a stand-in Alertmanager, and the workspace's
//! binaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parley_tests::process::http_get;
use parley_tests::{free_port, unique_name, wait_until};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::dashboards::repo;

/// A Prometheus of the test's own: own port, own storage, killed on drop.
pub struct Prometheus {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (job → metrics address) every
    /// second, with the repository's rules evaluated every second.
    pub fn start(targets: &[(String, String)]) -> Prometheus {
        let dir = std::env::temp_dir().join(unique_name("prometheus"));
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let rules = repo().join("deploy/prometheus/rules/*.yml");
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {:?}\nscrape_configs:\n",
            rules.to_string_lossy()
        );
        for (job, addr) in targets {
            config.push_str(&format!(
                "  - job_name: {job:?}\n    static_configs:\n      - targets: [{addr:?}]\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus config");
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start prometheus (Debian package prometheus; deploy/local/install.sh)");
        let prometheus = Prometheus { child, addr, dir };
        wait_until(Duration::from_secs(30), "Prometheus ready", || {
            http_get(&prometheus.addr, "/-/ready").is_some_and(|(s, _)| s == 200)
        });
        prometheus
    }

    /// `GET /api/v1/<path>` with query parameters; the `data` field.
    pub fn api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let mut request = ureq::get(format!("http://{}/api/v1/{path}", self.addr));
        for (k, v) in params {
            request = request.query(*k, v);
        }
        let mut response = request
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| e.to_string())?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let body: Value =
            serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}: {text}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body["data"].clone())
    }

    /// An instant query at `time` (seconds); the result's series.
    pub fn query(&self, expr: &str, time: f64) -> Result<Vec<Value>, String> {
        let data = self.api(
            "query",
            &[("query", expr.to_owned()), ("time", time.to_string())],
        )?;
        Ok(match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                data["result"].as_array().cloned().unwrap_or_default()
            }
            Some("scalar") | Some("string") => vec![data["result"].clone()],
            _ => Vec::new(),
        })
    }

    /// Prometheus' own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy to ClickHouse that can play "ClickHouse is down": while
/// failing it drops every connection, open or new.
pub struct ClickHouseProxy {
    /// `http://host:port` to give db-writer.
    pub url: String,
    failing: watch::Sender<bool>,
}

impl ClickHouseProxy {
    /// Listens on a free port, forwarding to the stack's ClickHouse.
    pub async fn start() -> ClickHouseProxy {
        let upstream = parley_tests::clickhouse::url();
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (failing, watch) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut failing = watch.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if *failing.borrow() {
                        return; // dropped: the client sees the connection close
                    }
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = failing.wait_for(|f| *f) => {}
                    }
                });
            }
        });
        ClickHouseProxy { url, failing }
    }

    /// Starts or stops playing "down".
    pub fn fail(&self, failing: bool) {
        self.failing.send_replace(failing);
    }
}

/// An HTTP server that answers 200 `{}` to every request (a stand-in
/// Alertmanager for anomaly-detector).
pub async fn accepting_http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf));
                    match read.await {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

/// Where `cargo build` put the workspace's binaries (beside `deps/`).
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// True when `binary --help` mentions `flag`.
pub fn supports(binary: &Path, flag: &str) -> bool {
    Command::new(binary)
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}
