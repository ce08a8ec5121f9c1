//! The metrics address: `GET /metrics` (Prometheus text), `GET /healthz`
//! and `GET /config` (the effective configuration, secrets hidden).

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::health::Health;
use crate::metrics::RuntimeMetrics;

#[derive(Clone)]
struct Telemetry {
    metrics: RuntimeMetrics,
    health: Health,
}

/// Binds `addr` (failing fast if taken) and serves until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    metrics: RuntimeMetrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = router(metrics, health);
    tracing::info!(%addr, "serving /metrics and /healthz");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics server failed");
        }
    }))
}

/// The router, for workers that add their own routes.
pub fn router(metrics: RuntimeMetrics, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(render_health))
        .route("/config", get(render_config))
        .with_state(Telemetry { metrics, health })
}

async fn render_metrics(State(t): State<Telemetry>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        t.metrics.render(),
    )
}

async fn render_health(State(t): State<Telemetry>) -> impl IntoResponse {
    let report = t.health.report();
    let code = if report.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report))
}

async fn render_config() -> impl IntoResponse {
    match crate::cli::effective() {
        Some(config) => (StatusCode::OK, Json(config.clone())),
        None => (StatusCode::NOT_FOUND, Json(Default::default())),
    }
}
