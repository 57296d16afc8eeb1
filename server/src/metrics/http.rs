//! `GET /metrics` over HTTP/1.1 on the `--metrics-listen` socket (hyper does the HTTP).
//!
//! Only `/metrics` exists (404 elsewhere, 405 for methods other than GET and HEAD).
//! The listener is the operator's, apart from the chat listeners and their limits:
//! it takes at most [`MAX_SCRAPERS`] connections at once and closes the rest at
//! once, and a client must send its request head within [`HEADER_TIMEOUT`].

use super::global;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Most metrics connections served at once (Prometheus uses one per target).
pub const MAX_SCRAPERS: usize = 16;

/// Longest wait for a request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What `prometheus-client` writes: the OpenMetrics text format.
const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_SCRAPERS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "metrics: too many connections; closing");
            continue;
        };
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service_fn(respond));
            tokio::select! {
                _ = shutdown.cancelled() => {}
                served = connection => if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "metrics: connection failed");
                },
            }
            drop(permit);
        });
    }
}

/// The answer to one HTTP request.
async fn respond(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(answer(request.method(), request.uri().path()))
}

/// The response for `method` on `path`: the metrics, or why not.
pub fn answer(method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (status, body) = match (path, method) {
        ("/metrics", &Method::GET | &Method::HEAD) => (StatusCode::OK, global().encode()),
        ("/metrics", _) => (
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let content = match status {
        StatusCode::OK => CONTENT,
        _ => "text/plain; charset=utf-8",
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content));
    response
}
