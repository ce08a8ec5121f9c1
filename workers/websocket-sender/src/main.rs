//! `websocket-sender` binary: flags, logging, shutdown signal, run; or the
//! `token` helper that mints a JWT for trying the console.

use std::process::ExitCode;

use parley_shared::{shutdown, telemetry};
use websocket_sender::auth::{now_secs, Claims, TokenKeys};
use websocket_sender::config::{Command, SenderConfig, WORKER};

#[tokio::main]
async fn main() -> ExitCode {
    let config: SenderConfig = parley_shared::cli::parse();
    if let Some(Command::Token(args)) = &config.command {
        let keys = match config
            .hs256_secret()
            .and_then(|secret| TokenKeys::from_config(secret.as_ref(), None))
        {
            Ok(keys) => keys,
            Err(e) => return telemetry::fail(WORKER, &e),
        };
        let claims = Claims {
            sub: args.sub.clone(),
            role: args.role,
            rooms: args.rooms.clone(),
            exp: now_secs() + args.ttl.as_secs(),
            game: args.game.clone(),
        };
        return match keys.mint(&claims) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => telemetry::fail(WORKER, &e),
        };
    }
    telemetry::init_tracing(config.consumer.log_format);
    let settings = match config.settings() {
        Ok(s) => s,
        Err(e) => return telemetry::fail(WORKER, &format!("invalid configuration: {e}")),
    };
    match websocket_sender::run(settings, shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => telemetry::fail(WORKER, &e.to_string()),
    }
}
