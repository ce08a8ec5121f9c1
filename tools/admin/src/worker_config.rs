//! `config`: a running worker's effective configuration, from `GET /config`
//! on its metrics address (secrets are hidden by the worker).

use parley_shared::cli::EffectiveConfig;

use crate::error::AdminError;
use crate::output::Format;

/// Fetches and prints the configuration of the worker at `address`
/// (`host:port` or `http://host:port`).
pub fn run(address: &str, format: Format) -> Result<(), AdminError> {
    let base = if address.starts_with("http://") || address.starts_with("https://") {
        address.trim_end_matches('/').to_owned()
    } else {
        format!("http://{address}")
    };
    let url = format!("{base}/config");
    let http = |message: String| AdminError::Http {
        url: url.clone(),
        message,
    };
    let body = ureq::get(&url)
        .call()
        .map_err(|e| http(e.to_string()))?
        .body_mut()
        .read_to_string()
        .map_err(|e| http(e.to_string()))?;
    let config: EffectiveConfig = serde_json::from_str(&body)
        .map_err(|e| http(format!("not a Parley worker's /config: {e}")))?;
    match format {
        Format::Table => print!("{}", config.render()),
        Format::Json => println!("{body}"),
    }
    Ok(())
}
