//! ClickHouse stopped for 30 s while db-writer runs: nothing is lost, the
//! worker says it is unhealthy meanwhile, and recovers by itself.
//! (Its own test binary: stopping ClickHouse must not disturb other tests.)

use std::time::{Duration, Instant};

use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::{http_get, loadgen, metric, Worker};
use parley_tests::stack::ServiceStopped;
use parley_tests::{brokers, free_port, fresh_topic, unique_name, wait_until};

#[tokio::test]
async fn clickhouse_outage_loses_nothing_and_health_tells_the_truth() {
    let topic = fresh_topic("dw-outage", 12).await;
    let dlq = fresh_topic("dw-outage-dlq", 3).await;
    let database = fresh_database();
    let group = unique_name("dw-outage");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let producer = {
        let args: Vec<String> = [
            "--brokers",
            &brokers(),
            "--topic",
            &topic,
            "--count",
            "100000",
            "--rate",
            "2500",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        std::thread::spawn(move || loadgen(&args))
    };
    let mut writer = Worker::start(
        "db-writer",
        &[
            "--brokers",
            &brokers(),
            "--topic",
            &topic,
            "--group",
            &group,
            "--dlq-topic",
            &dlq,
            "--clickhouse-database",
            &database,
            "--metrics-addr",
            &addr,
            "--stall-timeout",
            "5s",
            "--batch-age",
            "500ms",
            // A small buffer, so the outage fills it and the partitions pause.
            "--batch-rows",
            "5000",
            "--max-buffered-rows",
            "20000",
        ]
        .map(str::to_owned),
    );
    wait_until(Duration::from_secs(60), "first rows", || {
        clickhouse::try_query(&format!("SELECT count() FROM {database}.messages"))
            .is_ok_and(|n| n != "0")
    });

    let outage_guard = ServiceStopped::begin("clickhouse");
    let outage = Instant::now();
    let (mut saw_unhealthy, mut saw_paused) = (false, false);
    while outage.elapsed() < Duration::from_secs(30) {
        if let Some((503, body)) = http_get(&addr, "/healthz") {
            assert!(body.contains("sink down"), "{body}");
            saw_unhealthy = true;
        }
        if let Some((_, metrics)) = http_get(&addr, "/metrics") {
            saw_paused |= metric(&metrics, "parley_consumers_paused") >= 1.0;
        }
        assert!(
            writer.is_running(),
            "db-writer died during the outage: {}",
            writer.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(saw_unhealthy, "/healthz never reported the stalled sink");
    assert!(
        saw_paused,
        "partitions were never paused while the sink was down"
    );
    drop(outage_guard);

    let valid = producer.join().expect("loadgen")["valid"]
        .as_u64()
        .expect("valid");
    wait_until(
        Duration::from_secs(180),
        "every message after the outage",
        || {
            clickhouse::try_query(&format!(
                "SELECT uniqExact(message_id) FROM {database}.messages"
            ))
            .is_ok_and(|n| n == valid.to_string())
        },
    );
    wait_until(Duration::from_secs(30), "healthy again", || {
        http_get(&addr, "/healthz").is_some_and(|(status, _)| status == 200)
    });
    assert!(
        writer.stop(Duration::from_secs(30)).success(),
        "{}",
        writer.log_text()
    );
    assert!(writer.log_text().contains("insert failed; retrying"));
    drop_database(&database);
}
