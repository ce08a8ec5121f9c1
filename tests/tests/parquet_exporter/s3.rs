//! An S3-compatible object store for the exporter: moto's server, and a TCP
//! proxy in front of it that can be cut (an unreachable store).

use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_tests::{free_port, wait_until};
use serde_json::Value;

/// moto's S3-compatible server on a free port, stopped on drop.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
}

impl S3Server {
    pub fn start() -> S3Server {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; deploy/local/install.sh does)");
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_until(Duration::from_secs(30), "moto_server", || {
            ureq::get(&endpoint).call().is_ok()
        });
        S3Server { child, endpoint }
    }

    pub fn create_bucket(&self, bucket: &str) {
        ureq::put(&format!("{}/{bucket}", self.endpoint))
            .send_empty()
            .expect("create bucket");
    }

    /// What pyarrow reads under `bucket/prefix` (rows, distinct, ids, tmp…).
    pub fn read(&self, path: &str) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/read_s3_parquet.py");
        let output = Command::new("python3")
            .arg(&script)
            .arg(&self.endpoint)
            .arg(path)
            .output()
            .expect("python3");
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.env_via(&self.endpoint)
    }

    /// The exporter's S3 environment, reaching the server at `endpoint`.
    pub fn env_via(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", endpoint.to_owned()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy in front of a server that can be cut (open connections
/// closed, new ones dropped) and restored: an unreachable object store.
pub struct CutProxy {
    pub endpoint: String,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl CutProxy {
    pub fn start(upstream: &str) -> CutProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (open, held) = (Arc::clone(&up), Arc::clone(&connections));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !open.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let ends = [client.try_clone(), server.try_clone()];
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                held.extend(ends.into_iter().flatten());
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        CutProxy {
            endpoint,
            up,
            connections,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut held = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        for c in held.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
