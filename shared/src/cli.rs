//! Flag parsing every binary shares: `--print-config` prints the effective
//! configuration (each flag's value and where it came from, secrets hidden)
//! and exits; the same table is served at `GET /config`.

use std::sync::OnceLock;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, Parser};
use serde::{Deserialize, Serialize};

/// Printed instead of a secret's value.
pub const HIDDEN: &str = "(hidden)";

const PRINT_CONFIG: &str = "print-config";

static EFFECTIVE: OnceLock<EffectiveConfig> = OnceLock::new();

/// One flag of the effective configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// Long flag name, without dashes.
    pub flag: String,
    /// Environment variable it falls back to, if any.
    pub env: Option<String>,
    /// Value(s), comma separated; `(hidden)` for secrets; `None` when unset.
    pub value: Option<String>,
    /// `flag`, `env` or `default` (`unset` when it has no value).
    pub source: String,
}

/// The effective configuration of a binary: every flag, in declaration order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveConfig {
    /// The binary's name.
    pub binary: String,
    /// Its flags.
    pub settings: Vec<Setting>,
}

impl EffectiveConfig {
    /// Reads what `matches` resolved for each of `command`'s flags.
    pub fn from_matches(command: &Command, matches: &ArgMatches) -> Self {
        let settings = command
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version" | PRINT_CONFIG))
            .filter_map(|arg| setting(arg, matches))
            .collect();
        EffectiveConfig {
            binary: command.get_name().to_owned(),
            settings,
        }
    }

    /// A plain-text table: flag, value, source, env.
    pub fn render(&self) -> String {
        let width = |f: fn(&Setting) -> usize| self.settings.iter().map(f).max().unwrap_or(0);
        let flag_w = width(|s| s.flag.len() + 2).max(4);
        let value_w = width(|s| s.value.as_deref().map_or(1, str::len)).max(5);
        let mut out = format!(
            "# {} effective configuration\n{:flag_w$}  {:value_w$}  {:7}  env\n",
            self.binary, "flag", "value", "source"
        );
        for s in &self.settings {
            out.push_str(&format!(
                "--{:w$}  {:value_w$}  {:7}  {}\n",
                s.flag,
                s.value.as_deref().unwrap_or("-"),
                s.source,
                s.env.as_deref().unwrap_or("-"),
                w = flag_w - 2,
            ));
        }
        out
    }
}

fn setting(arg: &Arg, matches: &ArgMatches) -> Option<Setting> {
    let id = arg.get_id().as_str();
    let flag = arg.get_long().unwrap_or(id).to_owned();
    let values: Vec<String> = matches
        .try_get_raw(id)
        .ok()
        .flatten()
        .map(|raw| raw.map(|v| v.to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let source = match matches.value_source(id) {
        Some(ValueSource::CommandLine) => "flag",
        Some(ValueSource::EnvVariable) => "env",
        Some(ValueSource::DefaultValue) => "default",
        _ => "unset",
    }
    .to_owned();
    let secret = is_secret(arg, &flag);
    let value = if values.is_empty() || values.iter().all(String::is_empty) {
        // An empty secret says "none set" and may be shown as such.
        (!values.is_empty()).then(String::new)
    } else if secret {
        Some(HIDDEN.to_owned())
    } else {
        Some(
            values
                .iter()
                .map(|v| hide_secret_property(v))
                .collect::<Vec<_>>()
                .join(","),
        )
    };
    Some(Setting {
        flag,
        env: arg.get_env().map(|e| e.to_string_lossy().into_owned()),
        value,
        source,
    })
}

/// Secrets: flags whose env value clap hides, and any whose name says so.
fn is_secret(arg: &Arg, flag: &str) -> bool {
    let name = flag.to_ascii_lowercase();
    arg.is_hide_env_values_set()
        || ["password", "secret", "token", "sasl"]
            .iter()
            .any(|word| name.contains(word) && !name.ends_with("-file"))
}

/// Hides the value of a `key=value` property whose key names a secret
/// (`sasl.password`, `ssl.key.password`, `ssl.key.pem`…).
fn hide_secret_property(value: &str) -> String {
    match value.split_once('=') {
        Some((key, _))
            if ["password", "secret", "ssl.key.pem", "token"]
                .iter()
                .any(|word| key.to_ascii_lowercase().contains(word)) =>
        {
            format!("{key}={HIDDEN}")
        }
        _ => value.to_owned(),
    }
}

/// The effective configuration recorded by [`parse`], if it ran.
pub fn effective() -> Option<&'static EffectiveConfig> {
    EFFECTIVE.get()
}

/// Parses the process's arguments like `A::parse()`, records the effective
/// configuration for `GET /config`, and on `--print-config` prints it and
/// exits 0. `--help` and `--version` exit the way clap does; a bad flag or
/// value is one line on stderr, `<binary>: <what is wrong> (see --help)`,
/// and exit status 2.
pub fn parse<A: Parser>() -> A {
    let command = A::command().arg(
        Arg::new(PRINT_CONFIG)
            .long(PRINT_CONFIG)
            .action(ArgAction::SetTrue)
            .help("Print the effective configuration (value and source of every flag, secrets hidden) and exit"),
    );
    let matches = command
        .clone()
        .try_get_matches()
        .unwrap_or_else(|e| exit_on_error(command.get_name(), e));
    let config = EffectiveConfig::from_matches(&command, &matches);
    if matches.get_flag(PRINT_CONFIG) {
        print!("{}", config.render());
        std::process::exit(0);
    }
    let _ = EFFECTIVE.set(config);
    A::from_arg_matches(&matches).unwrap_or_else(|e| exit_on_error(command.get_name(), e))
}

/// Help and version go out as clap prints them; errors as one line.
fn exit_on_error(binary: &str, error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit()
    }
    eprintln!("{}", error_line(binary, &error));
    std::process::exit(2)
}

/// `<binary>: <clap's first line, without "error: "> (see --help)`.
fn error_line(binary: &str, error: &clap::Error) -> String {
    // clap's first paragraph, joined: "the following required arguments
    // were not provided:" lists the arguments on the lines below it.
    let text = error.render().to_string();
    let message = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.trim_start_matches("error:").trim();
    let message = if message.is_empty() {
        "bad arguments"
    } else {
        message
    };
    format!("{binary}: {message} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Parser, Debug)]
    #[command(name = "demo")]
    struct Demo {
        /// Brokers.
        #[arg(long, env = "DEMO_BROKERS", default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Password.
        #[arg(
            long,
            env = "DEMO_PASSWORD",
            hide_env_values = true,
            default_value = ""
        )]
        password: String,
        /// JWT secret.
        #[arg(long)]
        jwt_secret: Option<String>,
        /// Properties.
        #[arg(long = "prop")]
        props: Vec<String>,
    }

    fn config(args: &[&str]) -> EffectiveConfig {
        let command = Demo::command();
        let matches = command.clone().try_get_matches_from(args).expect("parse");
        EffectiveConfig::from_matches(&command, &matches)
    }

    fn get<'a>(c: &'a EffectiveConfig, flag: &str) -> &'a Setting {
        c.settings
            .iter()
            .find(|s| s.flag == flag)
            .expect("flag listed")
    }

    #[test]
    fn values_sources_and_hidden_secrets() {
        let c = config(&[
            "demo",
            "--password",
            "hunter2",
            "--jwt-secret",
            "s3",
            "--prop",
            "a=1",
            "--prop",
            "b=2",
            "--prop",
            "sasl.password=pw",
        ]);
        let brokers = get(&c, "brokers");
        assert_eq!(brokers.value.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(brokers.source, "default");
        assert_eq!(brokers.env.as_deref(), Some("DEMO_BROKERS"));
        assert_eq!(get(&c, "password").value.as_deref(), Some(HIDDEN));
        assert_eq!(get(&c, "jwt-secret").value.as_deref(), Some(HIDDEN));
        assert_eq!(
            get(&c, "prop").value.as_deref(),
            Some("a=1,b=2,sasl.password=(hidden)")
        );
        assert_eq!(get(&c, "prop").source, "flag");
        let text = c.render();
        assert!(
            !text.contains("hunter2") && !text.contains("s3,") && !text.contains("pw"),
            "{text}"
        );
        assert!(text.contains("--brokers"), "{text}");
    }

    #[test]
    fn a_bad_flag_or_value_is_one_line() {
        for args in [
            &["demo", "--no-such-flag"][..],
            &["demo", "--brokers"],
            &["demo", "stray"],
        ] {
            let error = Demo::command().try_get_matches_from(args).expect_err("bad");
            let line = error_line("demo", &error);
            assert!(
                line.starts_with("demo: ") && line.ends_with("(see --help)"),
                "{line}"
            );
            assert!(!line.contains('\n') && !line.contains("error:"), "{line}");
        }
    }

    #[test]
    fn a_missing_required_argument_is_named_on_the_line() {
        let command = clap::Command::new("demo").arg(
            clap::Arg::new("to")
                .long("to")
                .required(true)
                .action(clap::ArgAction::Set),
        );
        let error = command.try_get_matches_from(["demo"]).expect_err("missing");
        let line = error_line("demo", &error);
        assert!(line.contains("--to"), "{line}");
        assert!(!line.contains('\n') && !line.contains("Usage"), "{line}");
    }

    #[test]
    fn unset_and_empty_values_are_shown_as_such() {
        let c = config(&["demo"]);
        assert_eq!(get(&c, "jwt-secret").value, None);
        assert_eq!(get(&c, "jwt-secret").source, "unset");
        assert_eq!(get(&c, "password").value.as_deref(), Some(""));
    }
}
