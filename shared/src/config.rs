//! Connection flags every Parley binary shares, with env fallbacks.

use std::collections::BTreeMap;

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
}

impl KafkaArgs {
    /// The librdkafka properties to apply, `bootstrap.servers` included.
    pub fn client_properties(&self) -> BTreeMap<String, String> {
        let mut props = BTreeMap::new();
        props.insert("bootstrap.servers".to_owned(), self.brokers.clone());
        for (key, value) in &self.kafka_props {
            props.insert(key.clone(), value.clone());
        }
        props
    }
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
        };
        let props = args.client_properties();
        assert_eq!(
            props.get("bootstrap.servers").map(String::as_str),
            Some("b:1")
        );
        assert_eq!(props.get("linger.ms").map(String::as_str), Some("20"));
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
