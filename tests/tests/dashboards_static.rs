//! The Grafana dashboards, their provisioning and the Prometheus alerting
//! rules, checked without a running stack: the JSON is well formed, every
//! panel goes through the `datasource` variable with a unit and a
//! description, every query follows the conventions of Grafana's
//! dashboard-linter (job and instance matchers, `$__rate_interval`, counters
//! only under rate/increase), parses as PromQL (promtool), and names only
//! metrics the workers export; the rules pass `promtool check rules` and
//! their unit tests (`promtool test rules`), and every alert has one.
//! `dashboards_live.rs` then runs every query against real workers.

mod dashboards;
#[path = "dashboards/files.rs"]
mod files;

use std::collections::{BTreeMap, BTreeSet};

use dashboards::{exported_metrics, exporter, load, repo, Dashboard, Exporter};
use files::{relative, rule_exprs, run_promtool, yaml_value, yml_files};
use serde_json::Value;

/// The uid the provisioned datasource has and every dashboard defaults to.
const DATASOURCE_UID: &str = "parley-prometheus";
const DS_VAR: &str = "${datasource}";
const PANEL_TYPES: [&str; 4] = ["timeseries", "stat", "bargauge", "table"];
/// Grafana unit ids the dashboards may use (a subset of Grafana's list).
const UNITS: [&str; 16] = [
    "none",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "decbytes",
    "Bps",
    "binBps",
    "s",
    "ms",
    "cps",
    "cpm",
    "ops",
    "reqps",
    "dateTimeAsIso",
    "bool_on_off",
];
/// Grafana's own variables the queries may use.
const BUILTINS: [&str; 3] = ["__rate_interval", "__range", "__interval"];

fn variable<'a>(d: &'a Dashboard, name: &str) -> Option<&'a Value> {
    d.variables().into_iter().find(|v| v["name"] == name)
}

#[test]
fn dashboards_are_well_formed() {
    let mut uids = BTreeSet::new();
    for d in load() {
        let j = &d.json;
        let name = &d.name;
        assert!(
            j["schemaVersion"].as_i64().is_some_and(|v| v >= 36),
            "{name}: schemaVersion {}",
            j["schemaVersion"]
        );
        let uid = j["uid"].as_str().unwrap_or_default();
        assert!(!uid.is_empty() && uid.len() <= 40, "{name}: uid {uid:?}");
        assert!(uids.insert(uid.to_owned()), "{name}: uid {uid} used twice");
        assert!(
            j["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(
            j["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "parley")),
            "{name}: tag parley (the dashboards link each other by it)"
        );
        let mut ids = BTreeSet::new();
        for panel in d.panels() {
            let id = panel["id"].as_i64().expect("panel id");
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            for key in ["h", "w", "x", "y"] {
                assert!(
                    panel["gridPos"][key].is_i64(),
                    "{name}: panel {id} gridPos.{key}"
                );
            }
            let (x, w) = (
                panel["gridPos"]["x"].as_i64().unwrap_or(0),
                panel["gridPos"]["w"].as_i64().unwrap_or(0),
            );
            assert!(x + w <= 24, "{name}: panel {id} wider than the grid");
        }
        assert!(ids.len() > 5, "{name}: only {} panels", ids.len());
    }
}

#[test]
fn variables_follow_the_conventions() {
    for d in load() {
        let name = &d.name;
        let ds = variable(&d, "datasource").unwrap_or_else(|| panic!("{name}: no datasource"));
        assert_eq!(ds["type"], "datasource", "{name}: datasource type");
        assert_eq!(ds["query"], "prometheus", "{name}: datasource query");
        assert_eq!(
            ds["current"]["value"], DATASOURCE_UID,
            "{name}: the datasource variable defaults to the provisioned uid"
        );
        for required in ["job", "instance"] {
            assert!(
                variable(&d, required).is_some(),
                "{name}: no {required} variable"
            );
        }
        let mut used_by_queries = BTreeSet::new();
        for t in d.targets() {
            used_by_queries.extend(dashboards::variables_used(&t.expr));
        }
        for v in d.variables() {
            let var = v["name"].as_str().unwrap_or_default();
            if v["type"] != "query" {
                continue;
            }
            let query = v["query"].as_str().unwrap_or_default();
            used_by_queries.extend(dashboards::variables_used(query));
            assert_eq!(v["datasource"]["uid"], DS_VAR, "{name}: ${var} datasource");
            assert_eq!(
                v["refresh"], 2,
                "{name}: ${var} refreshes on time range change"
            );
            assert_eq!(v["multi"], true, "{name}: ${var} is multi-select");
            assert_eq!(v["includeAll"], true, "{name}: ${var} has All");
            assert_eq!(v["allValue"], ".+", "{name}: ${var} All is .+");
            let mut label = var.to_owned();
            label[..1].make_ascii_uppercase();
            assert_eq!(v["label"], label.as_str(), "{name}: ${var} label");
            let (selector, label_name) = dashboards::label_values(query)
                .unwrap_or_else(|| panic!("{name}: ${var} query {query:?} is not label_values"));
            let metric = dashboards::selectors(&selector)
                .first()
                .map(|s| s.metric.clone())
                .unwrap_or_default();
            let expected = match var {
                "job" => Some(("parley_worker_info", "job")),
                "instance" => Some(("parley_worker_info", "instance")),
                "group" => Some(("parley_records_consumed_total", "group")),
                "game" => Some(("parley_analytics_messages_total", "game")),
                _ => None,
            };
            if let Some((m, l)) = expected {
                assert_eq!(
                    (metric.as_str(), label_name.as_str()),
                    (m, l),
                    "{name}: ${var} query"
                );
            }
        }
        for used in &used_by_queries {
            assert!(
                BUILTINS.contains(&used.as_str()) || variable(&d, used).is_some(),
                "{name}: ${used} is used but not defined"
            );
        }
        for v in d.variables() {
            let var = v["name"].as_str().unwrap_or_default();
            assert!(
                var == "datasource" || used_by_queries.contains(var),
                "{name}: ${var} is defined but no query uses it"
            );
        }
    }
    let game_ops = load()
        .into_iter()
        .find(|d| d.name == "game-operations")
        .expect("game-operations");
    for var in ["datasource", "job", "instance", "game", "group"] {
        assert!(
            variable(&game_ops, var).is_some(),
            "game-operations: ${var}"
        );
    }
}

#[test]
fn panels_use_the_datasource_variable_and_say_what_they_show() {
    for d in load() {
        let name = &d.name;
        for panel in d.panels() {
            let id = panel["id"].as_i64().unwrap_or_default();
            let kind = panel["type"].as_str().unwrap_or_default();
            if kind == "row" {
                assert!(panel["targets"].is_null(), "{name}: row {id} has targets");
                continue;
            }
            let title = panel["title"].as_str().unwrap_or_default();
            let what = format!("{name}: panel {id} {title:?}");
            assert!(PANEL_TYPES.contains(&kind), "{what}: type {kind}");
            assert!(!title.is_empty(), "{what}: title");
            assert!(
                panel["description"].as_str().is_some_and(|s| s.len() > 10),
                "{what}: description"
            );
            assert_eq!(panel["datasource"]["type"], "prometheus", "{what}");
            assert_eq!(panel["datasource"]["uid"], DS_VAR, "{what}: datasource");
            let unit = panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default();
            assert!(UNITS.contains(&unit), "{what}: unit {unit:?}");
            let targets = panel["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{what}: no targets");
            let mut refs = BTreeSet::new();
            for t in targets {
                let r = t["refId"].as_str().unwrap_or_default();
                assert!(!r.is_empty() && refs.insert(r), "{what}: refId {r:?}");
                assert_eq!(t["datasource"]["uid"], DS_VAR, "{what}/{r}: datasource");
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{what}/{r}: expr"
                );
            }
        }
    }
}

#[test]
fn every_query_follows_the_conventions() {
    let known = exported_metrics();
    for d in load() {
        let has_group = variable(&d, "group").is_some();
        for t in d.targets() {
            let what = format!("{} / {} / {}: {}", t.dashboard, t.panel, t.ref_id, t.expr);
            let chars: Vec<char> = t.expr.chars().collect();
            let selectors = dashboards::selectors(&t.expr);
            assert!(!selectors.is_empty(), "{what}: selects nothing");
            for s in &selectors {
                let matchers = s.matchers.replace(' ', "");
                for (label, var) in [("job", "$job"), ("instance", "$instance")] {
                    assert!(
                        matchers.contains(&format!("{label}=~\"{var}\"")),
                        "{what}: {} lacks {label}=~\"{var}\"",
                        s.metric
                    );
                }
                // Runtime series carry `group`; follow the dashboard's choice.
                let runtime =
                    s.metric != "up" && exporter(&known, &s.metric) == Some(Exporter::Every);
                if has_group && runtime {
                    assert!(
                        matchers.contains("group=~\"$group\""),
                        "{what}: {} lacks group=~\"$group\"",
                        s.metric
                    );
                }
                if s.metric.ends_with("_total") {
                    let before: String = chars[..s.start].iter().collect();
                    let before = before.trim_end();
                    assert!(
                        ["rate(", "irate(", "increase("]
                            .iter()
                            .any(|f| before.ends_with(f)),
                        "{what}: counter {} outside rate/increase",
                        s.metric
                    );
                }
            }
            for range in dashboards::ranges(&t.expr) {
                assert!(
                    range == "$__rate_interval" || range == "$__range",
                    "{what}: range [{range}] (use $__rate_interval, or $__range for totals)"
                );
            }
            let mut rest = t.expr.as_str();
            while let Some(at) = rest.find("rate(") {
                rest = &rest[at + 5..];
                let range = dashboards::ranges(rest).into_iter().next();
                assert_eq!(
                    range.as_deref(),
                    Some("$__rate_interval"),
                    "{what}: rate() over $__rate_interval"
                );
            }
        }
    }
}

#[test]
fn every_metric_is_exported_by_a_worker() {
    let known = exported_metrics();
    assert!(
        known.contains_key("parley_records_consumed_total")
            && known.contains_key("parley_ws_connections"),
        "the metric constants were not found in shared/src and workers/*/src"
    );
    let mut unknown = BTreeSet::new();
    let mut seen = 0;
    for d in load() {
        for t in d.targets() {
            for s in dashboards::selectors(&t.expr) {
                seen += 1;
                if exporter(&known, &s.metric).is_none() {
                    unknown.insert(format!("{} / {}: {}", t.dashboard, t.panel, s.metric));
                }
            }
        }
        for v in d.variables() {
            if let Some((selector, _)) = v["query"].as_str().and_then(dashboards::label_values) {
                for s in dashboards::selectors(&selector) {
                    if exporter(&known, &s.metric).is_none() {
                        unknown.insert(format!("{} / ${}: {}", d.name, v["name"], s.metric));
                    }
                }
            }
        }
    }
    let rules = rule_exprs();
    assert!(
        rules.len() >= 10,
        "only {} rule expressions found",
        rules.len()
    );
    for (file, alert, expr) in rules {
        let selectors = dashboards::selectors(&expr);
        assert!(!selectors.is_empty(), "{file} {alert}: selects nothing");
        for s in selectors {
            seen += 1;
            if exporter(&known, &s.metric).is_none() {
                unknown.insert(format!("{file} {alert}: {}", s.metric));
            }
        }
    }
    assert!(seen > 50, "only {seen} selectors found");
    assert!(
        unknown.is_empty(),
        "metrics no worker exports:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn dashboard_queries_parse_as_promql() {
    // Every query, with the variables a dashboard fills in, as a recording
    // rule: promtool parses each one with Prometheus' own parser.
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let mut count = 0;
    for d in load() {
        let mut exprs: Vec<(String, String)> = d
            .targets()
            .into_iter()
            .map(|t| (format!("panel_{}_{}", t.panel_id, t.ref_id), t.expr))
            .collect();
        for v in d.variables() {
            if let Some((selector, _)) = v["query"].as_str().and_then(dashboards::label_values) {
                exprs.push((
                    format!("variable_{}", v["name"].as_str().unwrap_or("")),
                    selector,
                ));
            }
        }
        for (id, expr) in exprs {
            let expr = dashboards::substitute(&expr, ".+", "30s", "1h");
            let record = format!("dashboard:{}:{id}", d.name.replace('-', "_"));
            let quoted = serde_json::to_string(&expr).expect("JSON string");
            rules.push_str(&format!(
                "      - record: {record}\n        expr: {quoted}\n"
            ));
            count += 1;
        }
    }
    let path = std::env::temp_dir().join(format!(
        "parley-dashboard-queries-{}.yml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, &rules).expect("write rules");
    let out = run_promtool(&["check", "rules", &path.to_string_lossy()]);
    let _ = std::fs::remove_file(&path);
    assert!(out.contains(&format!("{count} rules found")), "{out}");
}

#[test]
fn rules_pass_promtool_and_every_alert_has_a_unit_test() {
    let rules_dir = repo().join("deploy/prometheus/rules");
    let tests_dir = repo().join("deploy/prometheus/tests");
    let rule_files: Vec<String> = yml_files(&rules_dir).iter().map(|p| relative(p)).collect();
    let test_files: Vec<String> = yml_files(&tests_dir).iter().map(|p| relative(p)).collect();
    assert!(!rule_files.is_empty() && !test_files.is_empty());

    let mut args = vec!["check", "rules"];
    args.extend(rule_files.iter().map(String::as_str));
    println!("{}", run_promtool(&args));
    let mut args = vec!["test", "rules"];
    args.extend(test_files.iter().map(String::as_str));
    println!("{}", run_promtool(&args));
    println!(
        "{}",
        run_promtool(&["check", "config", "deploy/prometheus/prometheus.yml"])
    );

    let tests: String = test_files
        .iter()
        .map(|f| std::fs::read_to_string(repo().join(f)).expect("test file"))
        .collect();
    let mut alerts: BTreeMap<String, String> = BTreeMap::new();
    for file in &rule_files {
        let text = std::fs::read_to_string(repo().join(file)).expect("rules file");
        // Rules are split on "- alert:"; each chunk is one rule.
        for chunk in text.split("- alert:").skip(1) {
            let name = chunk.lines().next().unwrap_or_default().trim().to_owned();
            let before = alerts.insert(name.clone(), file.clone());
            assert!(before.is_none(), "alert {name} defined twice");
            let severity = chunk
                .lines()
                .find_map(|l| l.trim().strip_prefix("severity:"))
                .map(str::trim)
                .unwrap_or_default();
            assert!(
                ["info", "warning", "critical"].contains(&severity),
                "{file} {name}: severity {severity:?}"
            );
            for annotation in ["summary:", "description:"] {
                assert!(
                    chunk.lines().any(|l| l.trim().starts_with(annotation)),
                    "{file} {name}: no {annotation} annotation"
                );
            }
            assert!(
                tests.contains(&format!("alertname: {name}\n")),
                "{file} {name}: no unit test in deploy/prometheus/tests/"
            );
        }
    }
    for required in [
        "ParleyWorkerDown",
        "ParleyConsumerLagGrowing",
        "ParleyDLQRateHigh",
        "ParleyClickHouseInsertsFailing",
        "ParleyWebSocketSlowDisconnectSpike",
    ] {
        assert!(alerts.contains_key(required), "no {required} rule");
    }
}

#[test]
fn grafana_provisioning_matches_the_dashboards() {
    let base = repo().join("deploy/grafana/provisioning");
    let ds = std::fs::read_to_string(base.join("datasources/prometheus.yml"))
        .expect("datasources/prometheus.yml");
    assert_eq!(yaml_value(&ds, "apiVersion").as_deref(), Some("1"));
    assert_eq!(yaml_value(&ds, "type").as_deref(), Some("prometheus"));
    assert_eq!(yaml_value(&ds, "uid").as_deref(), Some(DATASOURCE_UID));
    assert!(yaml_value(&ds, "url").is_some_and(|u| u.starts_with("http")));
    let provider =
        std::fs::read_to_string(base.join("dashboards/parley.yml")).expect("dashboards/parley.yml");
    assert_eq!(yaml_value(&provider, "apiVersion").as_deref(), Some("1"));
    assert_eq!(yaml_value(&provider, "type").as_deref(), Some("file"));
    assert!(yaml_value(&provider, "path").is_some_and(|p| p.starts_with('/')));
    for d in load() {
        assert_eq!(
            variable(&d, "datasource").map(|v| &v["current"]["value"]),
            Some(&Value::from(DATASOURCE_UID)),
            "{}",
            d.name
        );
    }
}

#[test]
fn the_moderation_dashboard_shows_actions_by_kind() {
    let moderation = load()
        .into_iter()
        .find(|d| d.name == "moderation")
        .expect("moderation dashboard");
    let panel = moderation
        .panels()
        .into_iter()
        .find(|p| p["title"] == "Moderation actions")
        .expect("a \"Moderation actions\" panel");
    assert_eq!(panel["type"], "timeseries");
    let expr = panel["targets"][0]["expr"].as_str().unwrap_or_default();
    assert!(
        expr.starts_with("sum by (action) (rate(parley_analytics_moderation_actions_total{"),
        "the panel shows the rate of actions by kind: {expr}"
    );
}

#[test]
fn scanner_finds_selectors_not_labels_or_functions() {
    let expr = r#"histogram_quantile(0.99, sum by (le, worker) (rate(parley_x_bucket{job=~"$job", a="b{c}"}[$__rate_interval]))) / on (job) group_left(version) up offset 5m or vector(0) * 1e3"#;
    let found: Vec<String> = dashboards::selectors(expr)
        .into_iter()
        .map(|s| s.metric)
        .collect();
    assert_eq!(found, ["parley_x_bucket", "up"]);
    assert_eq!(
        dashboards::selectors(expr)[0].matchers,
        r#"job=~"$job", a="b{c}""#
    );
    assert_eq!(dashboards::ranges(expr), ["$__rate_interval"]);
}

#[test]
fn substitution_covers_every_variable_form() {
    let s = dashboards::substitute(
        r#"rate(x{a=~"$job", b=~"${game}", c=~"${group:regex}"}[$__rate_interval]) + increase(y[$__range])"#,
        ".+",
        "30s",
        "1m",
    );
    assert_eq!(
        s,
        r#"rate(x{a=~".+", b=~".+", c=~".+"}[30s]) + increase(y[1m])"#
    );
}
