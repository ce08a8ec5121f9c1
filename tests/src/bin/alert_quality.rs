//! `alert_quality --truth FILE --alerts-topic T [--brokers B]`: reads every
//! alert from the topic and scores it against loadgen's `--truth` file;
//! prints a Markdown table, then one JSON line.

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(truth), Some(topic)) = (flag("--truth"), flag("--alerts-topic")) else {
        eprintln!("usage: alert_quality --truth FILE --alerts-topic T [--brokers B]");
        std::process::exit(2);
    };
    if let Some(brokers) = flag("--brokers") {
        std::env::set_var("PARLEY_BROKERS", brokers);
    }
    let truth = match std::fs::read_to_string(&truth) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("alert_quality: cannot read {truth}: {e}");
            std::process::exit(1);
        }
    };
    let alerts: Vec<serde_json::Value> = parley_tests::read_all(&topic, Duration::from_secs(30))
        .into_iter()
        .filter_map(|r| serde_json::from_slice(r.payload.as_deref()?).ok())
        .collect();
    let quality = parley_tests::alert_quality::evaluate(&truth, &alerts);
    println!("{}", quality.table());
    println!("{}", serde_json::to_string(&quality).unwrap_or_default());
}
