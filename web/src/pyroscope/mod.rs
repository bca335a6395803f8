//! Pyroscope's push endpoints, as a Pyroscope server serves them, so its
//! SDKs and Grafana Alloy push to Augur unchanged but for the address:
//! - `POST /push.v1.PusherService/Push`, Connect unary with the protobuf
//!   (`application/proto`) and JSON (`application/json`) codecs;
//! - `POST /ingest?name=app.cpu{k=v}&from=&until=&format=&spyName=...`,
//!   the legacy upload: pprof (raw, or the `profile` field of a multipart
//!   form), folded or lines text.
//!
//! Each request is bounded (body size, inflation of a gzipped body),
//! translated by [`augur_wire::pyroscope`] into one batch per profile type,
//! and handed to the ingest beside this server ([`BatchSink`]), which
//! checks the request's ingest token and stores the batch as an agent's.
//! The translation lives in the wire crate; this module only speaks HTTP.

mod connect;
mod legacy;

use std::sync::Arc;

use augur_wire::pyroscope::{TranslateError, TranslatedBatch};
use augur_wire::sink::{BatchSink, SinkError, SinkRefusal};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;

/// Largest request body taken, as sent (gzipped or not).
pub const MAX_BODY: usize = 16 << 20;
/// Largest body once a `Content-Encoding: gzip` is undone.
pub const MAX_INFLATED_BODY: usize = 64 << 20;

/// The path of the Connect push.
pub const PUSH_PATH: &str = "/push.v1.PusherService/Push";
/// The path of the legacy upload.
pub const INGEST_PATH: &str = "/ingest";

/// The push routes, handing batches to `sink`.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(sink: Arc<dyn BatchSink>) -> Router<S> {
    Router::new()
        .route(PUSH_PATH, post(connect::push))
        .route(INGEST_PATH, post(legacy::ingest))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(sink)
}

/// Why a push was refused, as both endpoints answer it.
#[derive(Debug)]
pub(crate) struct PushError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl PushError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The Connect code of the status.
    pub(crate) fn connect_code(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "invalid_argument",
            StatusCode::UNAUTHORIZED => "unauthenticated",
            StatusCode::TOO_MANY_REQUESTS => "resource_exhausted",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            StatusCode::PAYLOAD_TOO_LARGE => "resource_exhausted",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unimplemented",
            StatusCode::NOT_IMPLEMENTED => "unimplemented",
            _ => "internal",
        }
    }
}

impl From<TranslateError> for PushError {
    fn from(error: TranslateError) -> Self {
        let status = match error {
            TranslateError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TranslateError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        let message = match &error {
            TranslateError::Pprof { source, .. } => match error_chain(source) {
                causes if causes.is_empty() => error.to_string(),
                causes => format!("{error}: {causes}"),
            },
            _ => error.to_string(),
        };
        PushError::new(status, message)
    }
}

impl From<SinkError> for PushError {
    fn from(error: SinkError) -> Self {
        let status = match error.kind {
            SinkRefusal::Unauthenticated => StatusCode::UNAUTHORIZED,
            SinkRefusal::Invalid => StatusCode::BAD_REQUEST,
            SinkRefusal::Busy => StatusCode::TOO_MANY_REQUESTS,
            SinkRefusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            SinkRefusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        PushError::new(status, error.message)
    }
}

/// The causes of an error after its own message, `: `-joined.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// The body with a `Content-Encoding: gzip` undone, within
/// [`MAX_INFLATED_BODY`].
pub(crate) fn decoded_body<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, PushError> {
    use std::io::Read;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(body)),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(body)
                .take(MAX_INFLATED_BODY as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|error| {
                    PushError::new(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not valid gzip: {error}"),
                    )
                })?;
            if out.len() > MAX_INFLATED_BODY {
                return Err(PushError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body inflates beyond {MAX_INFLATED_BODY} bytes"),
                ));
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        other => Err(PushError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content encoding {other:?} is not supported; send gzip or none"),
        )),
    }
}

/// Hands every batch to the sink, in order. A retry after a partial
/// failure resends them all; the ones already stored are duplicates.
pub(crate) async fn deliver(
    sink: &dyn BatchSink,
    headers: &HeaderMap,
    batches: Vec<TranslatedBatch>,
) -> Result<(), PushError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(axum::http::HeaderValue::as_bytes);
    for batch in batches {
        let ack = sink
            .push(authorization, batch.batch_id.clone(), batch.payload)
            .await?;
        tracing::debug!(
            batch_id = batch.batch_id,
            profile_type = batch.profile_type,
            duplicate = ack.duplicate,
            samples = ack.samples,
            "pyroscope push stored"
        );
    }
    Ok(())
}

/// The request's token, checked before any work is spent on its body.
pub(crate) fn authorize(sink: &dyn BatchSink, headers: &HeaderMap) -> Result<(), PushError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(axum::http::HeaderValue::as_bytes);
    Ok(sink.authorize(authorization)?)
}

/// The request's user agent, a runtime hint.
pub(crate) fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}
