//! OTLP/HTTP profiles export: `POST /v1development/profiles` (the path
//! follows the pinned revision, `augur_wire::otlp::HTTP_EXPORT_PATH`) with a
//! protobuf `ExportProfilesServiceRequest`, plain or gzip-compressed, as a
//! Collector's `otlphttp` exporter sends it.
//!
//! The request is translated by the wire crate and handed to the ingest
//! beside this server ([`WebOptions::ingest`](crate::WebOptions)), which
//! checks the request's `Authorization` as an agent's ingest token: this
//! route is not behind the web's read tokens. Answers follow OTLP/HTTP:
//! 200 with an `ExportProfilesServiceResponse` (partial success when some
//! profiles were refused), or an error status with a `google.rpc.Status`
//! body: 400 malformed or too large, 401 wrong token, 415 not protobuf,
//! 429 busy, 503 ingest not running.

use std::io::Read;
use std::sync::Arc;

use augur_wire::otlp::{self, OtlpLimits};
use augur_wire::sink::{BatchSink, SinkRefusal};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

const PROTOBUF: &str = "application/x-protobuf";

/// What the route shares.
#[derive(Clone)]
struct Export {
    sink: Arc<dyn BatchSink>,
    limits: Arc<OtlpLimits>,
}

/// The export route, handing batches to `sink`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(sink: Arc<dyn BatchSink>) -> Router<S> {
    let limits = OtlpLimits::default();
    // A compressed body may be much smaller than the request; what it
    // inflates to is bounded while inflating.
    let body_limit = limits.max_request_bytes;
    Router::new()
        .route(otlp::HTTP_EXPORT_PATH, post(export))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(Export {
            sink,
            limits: Arc::new(limits),
        })
}

/// An OTLP/HTTP error answer.
fn refuse(status: StatusCode, grpc_code: i32, message: &str) -> Response {
    tracing::debug!(%status, message, "OTLP export refused");
    (
        status,
        [(header::CONTENT_TYPE, PROTOBUF)],
        otlp::encode_status(grpc_code, message),
    )
        .into_response()
}

/// gRPC codes used in error bodies.
mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

async fn export(State(export): State<Export>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(PROTOBUF);
    if !content_type.starts_with(PROTOBUF) && !content_type.starts_with("application/protobuf") {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNIMPLEMENTED,
            &format!("only {PROTOBUF} bodies are taken, not {content_type:.64}"),
        );
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::UNIMPLEMENTED,
                &format!("content encoding {other:.32} is not supported; use gzip or none"),
            );
        }
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let limits = export.limits.clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let translated = tokio::task::spawn_blocking(move || {
        let inflated;
        let request: &[u8] = if gzip {
            inflated = inflate(&body, limits.max_request_bytes)?;
            &inflated
        } else {
            &body
        };
        otlp::translate(request, now, &limits).map_err(|error| error.to_string())
    })
    .await;
    let translation = match translated {
        Ok(Ok(translation)) => translation,
        Ok(Err(message)) => {
            return refuse(StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT, &message);
        }
        Err(error) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                &format!("translation failed: {error}"),
            );
        }
    };
    match otlp::deliver(export.sink.as_ref(), authorization.as_deref(), translation).await {
        Ok(delivered) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, PROTOBUF)],
            otlp::encode_response(&delivered.response),
        )
            .into_response(),
        Err(error) => {
            let (status, grpc) = match error.kind {
                SinkRefusal::Unauthenticated => (StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED),
                SinkRefusal::Invalid => (StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT),
                SinkRefusal::Busy => (StatusCode::TOO_MANY_REQUESTS, code::RESOURCE_EXHAUSTED),
                SinkRefusal::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE),
                SinkRefusal::Internal => (StatusCode::INTERNAL_SERVER_ERROR, code::INTERNAL),
            };
            refuse(status, grpc, &error.message)
        }
    }
}

/// A gzip body inflated, refused past `max` bytes.
fn inflate(body: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| format!("the gzip body does not inflate: {error}"))?;
    if out.len() > max {
        return Err(format!(
            "the request inflates to more than {max} bytes; send smaller exports"
        ));
    }
    Ok(out)
}
