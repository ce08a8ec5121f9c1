//! Connection flags every Parley binary shares, with env fallbacks.

use std::collections::BTreeMap;

use std::path::PathBuf;

use clap::Args;

/// Default bootstrap servers of the local stack.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// How to reach Kafka: `--brokers` plus free-form librdkafka properties
/// (TLS, SASL, timeouts) passed through unchanged.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma separated.
    #[arg(long, env = "PARLEY_BROKERS", default_value = DEFAULT_BROKERS)]
    pub brokers: String,

    /// Extra librdkafka property `key=value` (repeatable), e.g.
    /// `security.protocol=SASL_SSL`. Applied after Parley's own settings.
    #[arg(long = "kafka-prop", value_name = "KEY=VALUE", value_parser = parse_kafka_prop)]
    pub kafka_props: Vec<(String, String)>,

    /// A librdkafka properties file (`key=value` lines, `#` comments), read
    /// at start: where SASL passwords and TLS settings belong, rather than
    /// on the command line. `--kafka-prop` overrides it.
    #[arg(long, env = "PARLEY_KAFKA_PROPS_FILE", value_name = "PATH", value_parser = PropsFile::read)]
    pub kafka_props_file: Option<PropsFile>,
}

/// The properties of a `--kafka-props-file`, read when flags are parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct PropsFile {
    path: PathBuf,
    properties: Vec<(String, String)>,
}

impl std::fmt::Debug for PropsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be passwords: show only the path and the keys.
        let keys: Vec<&str> = self.properties.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "PropsFile({}, keys {keys:?})", self.path.display())
    }
}

impl PropsFile {
    /// Reads and parses `path` (the clap value parser).
    pub fn read(path: &str) -> Result<PropsFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let properties = parse_props(&text).map_err(|e| format!("{path}: {e}"))?;
        Ok(PropsFile {
            path: PathBuf::from(path),
            properties,
        })
    }
}

/// Parses `key=value` lines; blank lines and `#`/`!` comments are skipped.
pub fn parse_props(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .map(|(n, line)| {
            parse_kafka_prop(line)
                .map(|(k, v)| (k, v.trim().to_owned()))
                .map_err(|_| format!("line {n}: expected key=value"))
        })
        .collect()
}

impl KafkaArgs {
    /// The librdkafka properties to apply, `bootstrap.servers` included.
    pub fn client_properties(&self) -> BTreeMap<String, String> {
        let mut props = BTreeMap::new();
        props.insert("bootstrap.servers".to_owned(), self.brokers.clone());
        let from_file = self.kafka_props_file.iter().flat_map(|f| &f.properties);
        for (key, value) in from_file.chain(&self.kafka_props) {
            props.insert(key.clone(), value.clone());
        }
        props
    }
}

/// How to reach ClickHouse over HTTP: the flags db-writer (which writes
/// the messages table) and websocket-sender (which reads history) share.
#[derive(Debug, Clone, Args)]
pub struct ClickHouseArgs {
    /// ClickHouse HTTP endpoint.
    #[arg(
        long = "clickhouse-url",
        env = "PARLEY_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub url: String,

    /// ClickHouse database.
    #[arg(
        long = "clickhouse-database",
        env = "PARLEY_CLICKHOUSE_DATABASE",
        default_value = "parley"
    )]
    pub database: String,

    /// ClickHouse table of messages.
    #[arg(
        long = "clickhouse-table",
        env = "PARLEY_CLICKHOUSE_TABLE",
        default_value = "messages"
    )]
    pub table: String,

    /// ClickHouse user.
    #[arg(
        long = "clickhouse-user",
        env = "PARLEY_CLICKHOUSE_USER",
        default_value = "default"
    )]
    pub user: String,

    /// ClickHouse password (prefer the env var or --clickhouse-password-file).
    #[arg(
        long = "clickhouse-password",
        env = "PARLEY_CLICKHOUSE_PASSWORD",
        hide_env_values = true,
        default_value = ""
    )]
    pub password: Secret,

    /// File holding the ClickHouse password.
    #[arg(
        long = "clickhouse-password-file",
        env = "PARLEY_CLICKHOUSE_PASSWORD_FILE"
    )]
    pub password_file: Option<PathBuf>,
}

/// A validated ClickHouse connection.
#[derive(Debug, Clone)]
pub struct ClickHouseConnection {
    /// HTTP URL, without a trailing slash.
    pub url: String,
    /// Database (a plain identifier).
    pub database: String,
    /// Table (a plain identifier).
    pub table: String,
    /// User.
    pub user: String,
    /// Password (from the flag, env or file).
    pub password: Secret,
}

impl ClickHouseArgs {
    /// Validates the flags and reads the password file.
    pub fn connection(&self) -> Result<ClickHouseConnection, String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(format!(
                "--clickhouse-url must be http(s)://…, got {:?}",
                self.url
            ));
        }
        for (flag, name) in [("database", &self.database), ("table", &self.table)] {
            if !is_plain_identifier(name) {
                return Err(format!("--clickhouse-{flag} must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got {name:?}"));
            }
        }
        let password = match &self.password_file {
            Some(path) => Secret::from_file(path).map_err(|e| {
                format!(
                    "cannot read --clickhouse-password-file {}: {e}",
                    path.display()
                )
            })?,
            None => self.password.clone(),
        };
        Ok(ClickHouseConnection {
            url: self.url.trim_end_matches('/').to_owned(),
            database: self.database.clone(),
            table: self.table.clone(),
            user: self.user.clone(),
            password,
        })
    }
}

/// True for a ClickHouse name that needs no quoting: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_plain_identifier(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A librdkafka client configuration holding `properties` (bootstrap
/// servers, TLS, SASL…); callers add their own settings after.
pub fn client_config(properties: &BTreeMap<String, String>) -> rdkafka::config::ClientConfig {
    let mut config = rdkafka::config::ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    config
}

/// A reader that assigns partitions itself and commits nothing: the
/// user's connection properties plus `group.id` (librdkafka assigns only
/// under one; no group is joined), no auto-commit, no offset store.
pub fn reader_config(
    properties: &BTreeMap<String, String>,
    group: &str,
) -> rdkafka::config::ClientConfig {
    let mut config = client_config(properties);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    config
}

/// Parses one `--kafka-prop key=value`.
pub fn parse_kafka_prop(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected KEY=VALUE, got {raw:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_props_parse_and_override() {
        assert_eq!(
            parse_kafka_prop("sasl.password=a=b"),
            Ok(("sasl.password".to_owned(), "a=b".to_owned()))
        );
        assert!(parse_kafka_prop("novalue").is_err());
        assert!(parse_kafka_prop("=x").is_err());
        let args = KafkaArgs {
            brokers: "b:1".to_owned(),
            kafka_props: vec![("linger.ms".to_owned(), "20".to_owned())],
            kafka_props_file: None,
        };
        let props = args.client_properties();
        assert_eq!(
            props.get("bootstrap.servers").map(String::as_str),
            Some("b:1")
        );
        assert_eq!(props.get("linger.ms").map(String::as_str), Some("20"));
    }

    #[test]
    fn props_files_parse_and_flags_override_them() {
        let text = "# SASL\nsecurity.protocol=SASL_SSL\n\n sasl.password = p=w \nlinger.ms=5\n";
        let props = parse_props(text).expect("parse");
        assert_eq!(props[1], ("sasl.password".to_owned(), "p=w".to_owned()));
        assert_eq!(
            parse_props("ok=1\nbroken").expect_err("line 2"),
            "line 2: expected key=value"
        );
        let args = KafkaArgs {
            brokers: "b:1".to_owned(),
            kafka_props: vec![("linger.ms".to_owned(), "20".to_owned())],
            kafka_props_file: Some(PropsFile {
                path: PathBuf::from("client.properties"),
                properties: props,
            }),
        };
        let all = args.client_properties();
        assert_eq!(all.get("linger.ms").map(String::as_str), Some("20"));
        assert_eq!(
            all.get("security.protocol").map(String::as_str),
            Some("SASL_SSL")
        );
        let shown = format!("{:?}", args.kafka_props_file);
        assert!(!shown.contains("p=w"), "{shown}");
        assert!(PropsFile::read("/nonexistent/client.properties")
            .expect_err("missing file")
            .contains("cannot read"));
    }
}

/// A secret (password, token) that never shows in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a secret from a file, trimming a trailing newline.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Secret(text.trim_end_matches(['\n', '\r']).to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[cfg(test)]
mod secret_tests {
    use super::Secret;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "\"<redacted>\"");
        assert_eq!(Secret::new("hunter2").expose(), "hunter2");
    }
}
