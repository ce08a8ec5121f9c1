//! A process's CPU time and resident memory from `/proc` (Linux only).
//! CPU is user + system time of all its threads, live or exited, so the
//! figure is robust on a machine shared with the client.

use std::time::Duration;

use crate::ws_crates::error::BenchError;

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

fn read(path: String) -> Result<String, BenchError> {
    std::fs::read_to_string(&path).map_err(|e| BenchError::Proc {
        path,
        reason: e.to_string(),
    })
}

/// User + system ticks from the text of `/proc/<pid>/stat`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces and parentheses: fields are counted
    // after its closing parenthesis (field 3 is the state).
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace().skip(11); // field 14: utime
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_status_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Busy and total ticks of all CPUs from the text of `/proc/stat`.
pub fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user and nice).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Busy and total ticks of the whole machine so far.
pub fn machine_ticks() -> Result<(u64, u64), BenchError> {
    let path = "/proc/stat".to_string();
    let text = read(path.clone())?;
    parse_machine_ticks(&text).ok_or_else(|| BenchError::Proc {
        path,
        reason: "no cpu line".into(),
    })
}

/// CPU time used so far by process `pid` ("self" for this one).
pub fn cpu_time(pid: &str, ticks_per_sec: u64) -> Result<Duration, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let text = read(path.clone())?;
    let ticks = parse_stat_ticks(&text).ok_or_else(|| BenchError::Proc {
        path,
        reason: "no utime/stime".into(),
    })?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_sec.max(1) as f64,
    ))
}

/// Resident memory of process `pid` in KiB.
pub fn rss_kib(pid: &str) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = read(path.clone())?;
    parse_status_rss_kib(&text).ok_or_else(|| BenchError::Proc {
        path,
        reason: "no VmRSS".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_survive_odd_command_names() {
        let stat = "4242 (ws (crate) bench) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    1234 56 0 0 20 0 3 0 100 1000000 300 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(1290));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_from_status() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t  4321 kB\nThreads:\t2\n";
        assert_eq!(parse_status_rss_kib(status), Some(4321));
        assert_eq!(parse_status_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn machine_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 800 20 0 5 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_machine_ticks(stat), Some((160, 980)));
        assert_eq!(parse_machine_ticks("intr 1 2"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        assert!(rss_kib("self").expect("rss") > 0);
        assert!(cpu_time("self", clock_ticks()).is_ok());
    }
}
