//! A failing output and the exporter's answer to it: a small tmpfs to fill
//! or make read-only, the paused-while-failing checks, and the recovered
//! checks (every message in exactly one file).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use parley_tests::process::{http_get, metric, Worker};
use parley_tests::{committed_offsets, wait_until};

use crate::fixture::{coverage, health, stored_ids, truth_ids, Fixture};

/// A tmpfs mounted on a folder (the tests run as root), unmounted on drop.
pub struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let disk = SmallDisk {
            dir: dir.to_path_buf(),
        };
        disk.run(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]);
        disk
    }

    /// `mount -o remount,<options>`: `ro`, `rw`, `size=…`.
    pub fn remount(&self, options: &str) {
        self.run(&["-o", &format!("remount,{options}")]);
    }

    fn run(&self, args: &[&str]) {
        let status = Command::new("mount")
            .args(args)
            .arg(&self.dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount {args:?} {:?}", self.dir);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// While the output is failing: unhealthy with `reason`, alive, paused,
/// and nothing committed past the files; once the offsets stored before the
/// failure are committed, that stays so for a few seconds.
pub fn assert_paused_on_a_failing_output(
    f: &Fixture,
    exporter: &mut Worker,
    port: u16,
    reason: &str,
) {
    wait_until(Duration::from_secs(30), "/healthz 503", || {
        let (code, body) = health(port);
        code == 503 && body.contains(reason)
    });
    let (_, body) = health(port);
    assert!(
        body.contains(&format!(
            "sink failing, partitions paused until it recovers: output {}",
            f.out.display()
        )),
        "{body}"
    );
    // Offsets of files renamed before the failure are stored, and reach the
    // broker with the next background commit (every second): let that pass
    // before the commits must stand still.
    std::thread::sleep(Duration::from_millis(2500));
    let committed_before = committed_offsets(&f.group, &f.topic);
    std::thread::sleep(Duration::from_secs(3));
    assert!(exporter.is_running(), "{}", exporter.log_text());
    let (code, body) = health(port);
    assert_eq!(code, 503, "{body}");
    let (_, metrics) = http_get(&format!("127.0.0.1:{port}"), "/metrics").expect("metrics");
    assert!(
        metric(&metrics, "parley_consumers_paused") >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "parley_sink_errors_total") >= 1.0,
        "{metrics}"
    );
    let committed = committed_offsets(&f.group, &f.topic);
    assert_eq!(
        committed, committed_before,
        "commits moved during the outage"
    );
    let (_, next) = coverage(&f.files().0);
    for (p, offset) in &committed {
        assert!(
            *offset <= next.get(p).copied().unwrap_or(0),
            "partition {p} committed to {offset}, past the files ({:?})",
            next.get(p)
        );
    }
}

/// After recovery: healthy, every valid message in exactly one file,
/// consecutive ranges, no temp files, a clean stop.
pub fn assert_recovered(f: &Fixture, exporter: &mut Worker, port: u16, truth: &Path, valid: u64) {
    wait_until(
        Duration::from_secs(60),
        "files covering every message",
        || coverage(&f.files().0).0 >= valid,
    );
    wait_until(Duration::from_secs(10), "/healthz 200", || {
        health(port).0 == 200
    });
    assert!(
        exporter.stop(Duration::from_secs(30)).success(),
        "{}",
        exporter.log_text()
    );
    let log = exporter.log_text();
    assert!(log.contains("sink recovered"), "{log}");
    let read = f.read();
    let ids = stored_ids(&read);
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), unique.len(), "a message is in two files");
    assert_eq!(unique, truth_ids(truth), "messages lost");
    let (mut parts, tmp) = f.files();
    assert_eq!(tmp, 0, "temporary files left");
    parts.sort_unstable();
    for pair in parts.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert_eq!(pair[0].2 + 1, pair[1].1, "gap or overlap: {pair:?}");
        }
    }
}
