//! `POST /push.v1.PusherService/Push` over the Connect protocol (unary):
//! the body is a `PushRequest` in protobuf (`application/proto`) or in
//! proto3 JSON (`application/json`); success is an empty message in the
//! same codec, failure a Connect error `{"code", "message"}` with its HTTP
//! status.

use std::sync::Arc;

use augur_wire::pyroscope::{PushOrigin, Series, TranslateLimits, Translator, decode_push};
use augur_wire::sink::BatchSink;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{PushError, authorize, decoded_body, deliver, user_agent};

/// The codec of a request, from its content type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Codec {
    Proto,
    Json,
}

pub(super) async fn push(
    State(sink): State<Arc<dyn BatchSink>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let codec = match content_type.as_str() {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => Codec::Proto,
        "application/json" => Codec::Json,
        other => {
            return connect_error(PushError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type {other:?} is not supported; send application/proto or application/json"
                ),
            ));
        }
    };
    if let Err(error) = authorize(sink.as_ref(), &headers) {
        return connect_error(error);
    }
    let translated = {
        let headers = headers.clone();
        tokio::task::spawn_blocking(move || translate(codec, &headers, &body)).await
    };
    let result = match translated {
        Ok(Ok(batches)) => deliver(sink.as_ref(), &headers, batches).await,
        Ok(Err(error)) => Err(error),
        Err(_) => Err(PushError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "translating the push failed",
        )),
    };
    match result {
        Ok(()) => match codec {
            Codec::Proto => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/proto")],
                Vec::new(),
            )
                .into_response(),
            Codec::Json => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{}",
            )
                .into_response(),
        },
        Err(error) => connect_error(error),
    }
}

fn translate(
    codec: Codec,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<augur_wire::pyroscope::TranslatedBatch>, PushError> {
    let body = decoded_body(headers, body)?;
    let agent = user_agent(headers);
    let mut translator = Translator::new(TranslateLimits::default());
    match codec {
        Codec::Proto => {
            for series in decode_push(&body)? {
                add_series(&mut translator, &series, agent)?;
            }
        }
        Codec::Json => {
            let request: JsonPush = serde_json::from_slice(&body).map_err(|error| {
                PushError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the push is not a valid PushRequest in JSON: {error}"),
                )
            })?;
            if request.series.len() > augur_wire::pyroscope::push::MAX_SERIES {
                return Err(PushError::new(
                    StatusCode::BAD_REQUEST,
                    "more than 10000 series in one push",
                ));
            }
            for series in &request.series {
                let profiles = series
                    .samples
                    .iter()
                    .map(|s| decode_base64(&s.raw_profile))
                    .collect::<Result<Vec<_>, _>>()?;
                let series = Series {
                    labels: series
                        .labels
                        .iter()
                        .map(|l| (l.name.as_str(), l.value.as_str()))
                        .collect(),
                    profiles: profiles.iter().map(Vec::as_slice).collect(),
                };
                add_series(&mut translator, &series, agent)?;
            }
        }
    }
    Ok(translator.finish()?)
}

fn add_series(
    translator: &mut Translator,
    series: &Series<'_>,
    agent: Option<&str>,
) -> Result<(), PushError> {
    let origin = PushOrigin::from_labels(series.labels.iter().copied(), agent)?;
    for profile in &series.profiles {
        translator.add_pprof(&origin, profile)?;
    }
    Ok(())
}

/// proto3 JSON takes standard or URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Result<Vec<u8>, PushError> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text))
        .map_err(|_| PushError::new(StatusCode::BAD_REQUEST, "rawProfile is not valid base64"))
}

/// A Connect error: JSON `{"code", "message"}` with the code's status.
fn connect_error(error: PushError) -> Response {
    if error.status.is_server_error() {
        tracing::warn!(message = error.message, "pyroscope push failed");
    } else {
        tracing::debug!(status = %error.status, message = error.message, "pyroscope push refused");
    }
    let body = serde_json::json!({ "code": error.connect_code(), "message": error.message });
    (
        error.status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `PushRequest` in proto3 JSON: field names in lowerCamelCase or as
/// declared.
#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    series: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    labels: Vec<JsonLabel>,
    #[serde(default)]
    samples: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonLabel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct JsonSample {
    #[serde(default, rename = "rawProfile", alias = "raw_profile")]
    raw_profile: String,
}
