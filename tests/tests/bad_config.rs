//! Bad configuration, for every worker binary: invalid flags and values, an
//! empty, unreachable or mistyped broker list, unknown librdkafka
//! properties, missing topics, a ClickHouse that refuses the password or
//! does not answer, broken rule files, an output that cannot be written.
//! Each is a failure exit within a bounded time whose stderr ends with one
//! line, `<binary>: <what is wrong>`, above it only log lines, never a
//! panic or a backtrace.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parley_tests::{binary, brokers, repo, unique_name, ws::SECRET};

const WORKERS: [&str; 5] = [
    "db-writer",
    "analytics",
    "anomaly-detector",
    "parquet-exporter",
    "websocket-sender",
];

/// Longest any bad configuration may take to be reported: the unreachable
/// broker case waits for librdkafka's 15 s metadata timeout.
const BOUND: Duration = Duration::from_secs(40);

struct Case {
    worker: &'static str,
    args: Vec<String>,
    /// Run without `PARLEY_JWT_SECRET`.
    no_secret: bool,
    expected: &'static str,
}

fn case(worker: &'static str, args: &[&str], expected: &'static str) -> Case {
    Case {
        worker,
        args: args.iter().map(|s| s.to_string()).collect(),
        no_secret: false,
        expected,
    }
}

/// Flags a worker needs to get as far as the case under test, but for the
/// ones the case sets itself.
fn base_args(worker: &str, scratch: &Path, case_args: &[String]) -> Vec<String> {
    let rules = repo().join("deploy/anomaly-detector/rules.toml");
    let mut base = vec![
        ("--brokers", brokers()),
        ("--metrics-addr", "127.0.0.1:0".into()),
    ];
    match worker {
        "anomaly-detector" => base.push(("--rules", rules.display().to_string())),
        "parquet-exporter" => base.push(("--out", scratch.join("out").display().to_string())),
        "websocket-sender" => base.push(("--listen", "127.0.0.1:0".into())),
        _ => {}
    }
    base.into_iter()
        .filter(|(flag, _)| !case_args.iter().any(|a| a == flag))
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect()
}

/// Runs one case and checks it; returns a complaint, if any.
fn run(case: &Case, scratch: &Path) -> Option<String> {
    let mut args = base_args(case.worker, scratch, &case.args);
    args.extend(case.args.iter().cloned());
    let mut command = Command::new(binary(case.worker));
    command
        .args(&args)
        .env_remove("RUST_BACKTRACE")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if case.no_secret {
        command.env_remove("PARLEY_JWT_SECRET");
    } else {
        command.env("PARLEY_JWT_SECRET", SECRET);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("start worker");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            return Some(format!(
                "{} {:?}: still running after {BOUND:?}",
                case.worker, case.args
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let text = reader.join().unwrap_or_default();
    let label = format!(
        "{} {:?} (exit {:?}, {took:.1?})",
        case.worker,
        case.args,
        status.code()
    );
    let lines: Vec<String> = text
        .lines()
        .map(strip_ansi)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let prefix = format!("{}: ", case.worker);
    let last = lines.last().cloned().unwrap_or_default();
    let problem = if status.success() || status.code().is_none() {
        Some("did not fail with an exit status")
    } else if text.contains("panicked") || text.contains("backtrace") {
        Some("panicked")
    } else if !last.starts_with(&prefix) || !last.contains(case.expected) {
        Some("last line is not `<binary>: …` with the expected reason")
    } else if lines.iter().filter(|l| l.starts_with(&prefix)).count() != 1 {
        Some("more than one error line")
    } else if lines[..lines.len() - 1]
        .iter()
        .any(|l| !l.starts_with(|c: char| c.is_ascii_digit()))
    {
        Some("stderr holds more than log lines and the error line")
    } else {
        None
    };
    eprintln!("{label}: {last}");
    problem.map(|p| {
        format!(
            "{label}: {p} (expected {:?}):\n{}",
            case.expected,
            lines.join("\n")
        )
    })
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn every_bad_configuration_is_one_clear_line_and_a_failure_exit() {
    let scratch = std::env::temp_dir().join(unique_name("bad-config"));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut cases = Vec::new();
    for worker in WORKERS {
        cases.extend(common_cases(worker));
    }
    for worker in [
        "db-writer",
        "analytics",
        "anomaly-detector",
        "parquet-exporter",
    ] {
        cases.push(case(
            worker,
            &["--dlq-topic", "it-no-such-dlq"],
            "\"it-no-such-dlq\" does not exist",
        ));
    }
    for worker in ["db-writer", "analytics"] {
        cases.push(case(
            worker,
            &["--actions-topic", "it-no-such-actions"],
            "\"it-no-such-actions\" does not exist",
        ));
        cases.push(case(
            worker,
            &["--actions-topic", "game-messages"],
            "--actions-topic must differ from --topic",
        ));
        cases.push(case(
            worker,
            &["--group", "g", "--actions-group", "g"],
            "--actions-group must differ from --group",
        ));
    }
    cases.push(case(
        "db-writer",
        &["--clickhouse-actions-table", "actions-v2"],
        "--clickhouse-actions-table must be a plain identifier",
    ));
    cases.extend(worker_cases(&scratch));

    let started = Instant::now();
    let problems = run_all(&cases, &scratch);
    eprintln!("{} cases in {:.1?}", cases.len(), started.elapsed());
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        problems.is_empty(),
        "{} bad answers:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// What every worker must refuse: bad flags, values, brokers, topics.
fn common_cases(worker: &'static str) -> Vec<Case> {
    vec![
        case(
            worker,
            &["--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        ),
        case(worker, &["--concurrency", "abc"], "invalid value 'abc'"),
        case(
            worker,
            &["--drain-timeout", "forever"],
            "invalid value 'forever'",
        ),
        case(
            worker,
            &["--start-from", "middle"],
            "invalid value 'middle'",
        ),
        case(
            worker,
            &["--metrics-addr", "nowhere"],
            "invalid value 'nowhere'",
        ),
        case(worker, &["--kafka-prop", "novalue"], "--kafka-prop"),
        case(
            worker,
            &["--concurrency", "0"],
            "--concurrency must be at least 1",
        ),
        case(
            worker,
            &["--drain-timeout", "60s"],
            "--drain-timeout must be",
        ),
        case(
            worker,
            &["--brokers", ""],
            "--brokers must name at least one broker",
        ),
        case(
            worker,
            &["--brokers", " , "],
            "--brokers must name at least one broker",
        ),
        case(
            worker,
            &["--brokers", "127.0.0.1:1"],
            "cannot reach Kafka at 127.0.0.1:1",
        ),
        case(
            worker,
            &["--kafka-prop", "no.such.property=1"],
            "No such configuration property",
        ),
        case(
            worker,
            &["--kafka-props-file", "/nonexistent/kafka.properties"],
            "/nonexistent/kafka.properties",
        ),
        case(
            worker,
            &["--topic", "it-no-such-topic"],
            "\"it-no-such-topic\" does not exist",
        ),
    ]
}

/// What one worker must refuse: its sink's settings, its secret, its rule
/// files (bad ones written under `scratch`), its output.
fn worker_cases(scratch: &Path) -> Vec<Case> {
    let write = |name: &str, text: &str| {
        let path = scratch.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let syntax = write("syntax.toml", "[[rule]]\nname = \"broken\nkind = [\n");
    let regex = write(
        "regex.toml",
        "[[rule]]\nname = \"r\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"info\"\npatterns = [\"(unclosed\"]\n",
    );
    let threshold = write(
        "threshold.toml",
        "[[rule]]\nname = \"f\"\nkind = \"flood\"\ncategory = \"flood\"\nseverity = \"warning\"\nthreshold = 0\nwindow = \"30s\"\n",
    );
    let unknown_kind = write(
        "kind.toml",
        "[[rule]]\nname = \"k\"\nkind = \"telepathy\"\ncategory = \"other\"\nseverity = \"info\"\n",
    );
    let a_file = write("a-file", "not a directory");
    let under_a_file = format!("{a_file}/out");
    let missing_rules = scratch.join("missing.toml").display().to_string();

    vec![
        case(
            "db-writer",
            &["--clickhouse-url", "http://127.0.0.1:1"],
            "ClickHouse at http://127.0.0.1:1",
        ),
        case(
            "db-writer",
            &["--clickhouse-url", "ftp://127.0.0.1"],
            "invalid configuration",
        ),
        case("db-writer", &["--clickhouse-password", "wrong"], "password"),
        case(
            "db-writer",
            &["--clickhouse-user", "it-nobody"],
            "it-nobody",
        ),
        case(
            "websocket-sender",
            &["--clickhouse-password", "wrong"],
            "refused the credentials",
        ),
        case(
            "websocket-sender",
            &["--clickhouse-user", "it-nobody"],
            "refused the credentials",
        ),
        case(
            "websocket-sender",
            &["--jwt-secret", "short"],
            "at least 32",
        ),
        Case {
            no_secret: true,
            ..case("websocket-sender", &[], "PARLEY_JWT_SECRET")
        },
        case(
            "anomaly-detector",
            &["--rules", &syntax],
            "TOML parse error",
        ),
        case(
            "anomaly-detector",
            &["--rules", &regex],
            "invalid pattern \"(unclosed\"",
        ),
        case(
            "anomaly-detector",
            &["--rules", &threshold],
            "threshold must be at least 1",
        ),
        case("anomaly-detector", &["--rules", &unknown_kind], "telepathy"),
        case(
            "anomaly-detector",
            &["--by-game-topic", "it-no-such-by-game"],
            "internal topic \"it-no-such-by-game\" does not exist",
        ),
        case(
            "anomaly-detector",
            &["--by-game-topic", "game-messages"],
            "--by-game-topic must differ from --topic",
        ),
        case(
            "anomaly-detector",
            &["--rules", &missing_rules],
            "cannot read",
        ),
        case(
            "parquet-exporter",
            &["--out", &under_a_file],
            "Not a directory",
        ),
        case(
            "parquet-exporter",
            &["--out", "ftp://host/x"],
            "only local paths and s3://",
        ),
        case(
            "parquet-exporter",
            &["--out", ""],
            "--out must not be empty",
        ),
        case("parquet-exporter", &["--zstd-level", "99"], "zstd"),
    ]
}

/// Runs the cases eight at a time (most answer at once, an unreachable
/// broker in 15 s); the bad answers.
fn run_all(cases: &[Case], scratch: &Path) -> Vec<String> {
    let next = std::sync::Mutex::new(cases.iter());
    std::thread::scope(|s| {
        let pool: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let mut found = Vec::new();
                    while let Some(c) = next.lock().ok().and_then(|mut it| it.next()) {
                        found.extend(run(c, scratch));
                    }
                    found
                })
            })
            .collect();
        pool.into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a case thread panicked".into()])
            })
            .collect()
    })
}
