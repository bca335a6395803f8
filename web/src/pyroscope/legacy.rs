//! `POST /ingest`, the upload of Pyroscope's older SDKs (and the Node SDK):
//! the query names the application, its tags, the window and the format;
//! the body is the profile, raw or as the `profile` field of a multipart
//! form. Answers 200 with an empty body, or a JSON `{"error"}` with a 4xx
//! or 5xx status.

use std::collections::HashMap;
use std::sync::Arc;

use augur_wire::pyroscope::names::legacy_time;
use augur_wire::pyroscope::{
    LegacyName, PushOrigin, TextFormat, TranslateLimits, TranslatedBatch, Translator,
};
use augur_wire::sink::BatchSink;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{PushError, authorize, decoded_body, deliver, user_agent};

/// Formats this endpoint reads, as the 415 answer lists them.
const SUPPORTED: &str = "pprof, folded (collapsed) or lines";

pub(super) async fn ingest(
    State(sink): State<Arc<dyn BatchSink>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = authorize(sink.as_ref(), &headers) {
        return refusal(error);
    }
    let translated = {
        let headers = headers.clone();
        tokio::task::spawn_blocking(move || translate(&query, &headers, &body)).await
    };
    let result = match translated {
        Ok(Ok(batches)) => deliver(sink.as_ref(), &headers, batches).await,
        Ok(Err(error)) => Err(error),
        Err(_) => Err(PushError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "translating the upload failed",
        )),
    };
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => refusal(error),
    }
}

/// A refusal as JSON `{"error"}` with its status.
fn refusal(error: PushError) -> Response {
    if error.status.is_server_error() {
        tracing::warn!(message = error.message, "pyroscope ingest failed");
    }
    let body = serde_json::json!({ "error": error.message }).to_string();
    (
        error.status,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn translate(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<TranslatedBatch>, PushError> {
    let bad = |message: String| PushError::new(StatusCode::BAD_REQUEST, message);
    let name = query
        .get("name")
        .ok_or_else(|| bad("`name` is required: app.cpu{tag=value,...}".into()))?;
    let name = LegacyName::parse(name)?;
    let window = match (query.get("from"), query.get("until")) {
        (Some(from), Some(until)) => {
            let (from, until) = (legacy_time(from)?, legacy_time(until)?);
            Some((from, until.max(from)))
        }
        (Some(from), None) => {
            let from = legacy_time(from)?;
            Some((from, from))
        }
        _ => None,
    };
    let spy = query.get("spyName").map(String::as_str);
    let mut origin = PushOrigin::from_legacy(&name, spy, window);
    if origin.runtime.is_none() {
        origin.runtime = user_agent(headers).and_then(|a| {
            a.split(['/', ' '])
                .find_map(augur_wire::pyroscope::names::runtime_of_spy)
        });
    }
    let format = query
        .get("format")
        .map_or("folded", String::as_str)
        .to_ascii_lowercase();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = decoded_body(headers, body)?;
    let multipart;
    let payload: &[u8] = match multipart_boundary(content_type) {
        Some(boundary) => {
            multipart = form_field(&body, &boundary, "profile")
                .ok_or_else(|| bad("the multipart form has no `profile` field".to_owned()))?;
            multipart
        }
        None => &body,
    };
    let mut translator = Translator::new(TranslateLimits::default());
    match format.as_str() {
        "pprof" => translator.add_pprof(&origin, payload)?,
        "folded" | "collapsed" | "" | "lines" => {
            let text_format = if format == "lines" {
                TextFormat::Lines
            } else {
                TextFormat::Folded
            };
            let (profile_type, unit, period) = text_type(&name, query)?;
            translator.add_text(
                &origin,
                text_format,
                payload,
                (&profile_type, &unit),
                period,
            )?;
        }
        other => {
            return Err(PushError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("format {other:?} is not supported here; send {SUPPORTED}"),
            ));
        }
    }
    Ok(translator.finish()?)
}

/// The type, unit and period of text uploads: CPU or wall time sampled at
/// `sampleRate` (100 Hz by default), else the name's suffix counted in
/// `units`.
fn text_type(
    name: &LegacyName,
    query: &HashMap<String, String>,
) -> Result<(String, String, u64), PushError> {
    let rate: u64 = match query.get("sampleRate") {
        Some(rate) => rate.parse().ok().filter(|&r| r > 0).ok_or_else(|| {
            PushError::new(
                StatusCode::BAD_REQUEST,
                format!("sampleRate {rate:?} is not a positive integer"),
            )
        })?,
        None => 100,
    };
    let period = (1_000_000_000 / rate).max(1);
    let typed = |name: &str, unit: &str, period: u64| (name.to_owned(), unit.to_owned(), period);
    Ok(match name.suffix.as_str() {
        "" | "cpu" | "itimer" => typed("cpu", "nanoseconds", period),
        "wall" => typed("wall", "nanoseconds", period),
        suffix => {
            let augur = match suffix {
                "mutex_count" => "mutex_contentions",
                "mutex_duration" => "mutex_delay",
                "block_count" => "block_contentions",
                "block_duration" => "block_delay",
                "goroutines" => "goroutine",
                other => other,
            };
            let unit = match query.get("units").map(String::as_str) {
                Some("bytes") => "bytes",
                Some("lock_nanoseconds") | Some("nanoseconds") => "nanoseconds",
                Some(_) | None => augur_profile::canonical_unit(augur).unwrap_or("count"),
            };
            typed(augur, unit, 1)
        }
    })
}

/// The boundary of a `multipart/form-data` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The content of the form field `name` in a multipart body.
fn form_field<'a>(body: &'a [u8], boundary: &str, name: &str) -> Option<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = body;
    loop {
        let start = find(rest, delimiter)? + delimiter.len();
        rest = &rest[start..];
        if rest.starts_with(b"--") {
            return None;
        }
        let headers_end = find(rest, b"\r\n\r\n")?;
        let part_headers = std::str::from_utf8(&rest[..headers_end]).ok()?;
        let content = &rest[headers_end + 4..];
        let end = find(content, delimiter)?;
        let value = content[..end]
            .strip_suffix(b"\r\n")
            .unwrap_or(&content[..end]);
        let named = part_headers.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("content-disposition:")
                && (line.contains(&format!("name=\"{name}\""))
                    || line.contains(&format!("name={name};"))
                    || line.ends_with(&format!("name={name}")))
        });
        if named {
            return Some(value);
        }
        rest = &content[end..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_multipart_profile_field() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"sample_type_config\"\r\n\r\n{}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n\x1f\x8bDATA\r\n--XyZ--\r\n";
        let boundary = multipart_boundary("multipart/form-data; boundary=XyZ").unwrap();
        assert_eq!(
            form_field(body, &boundary, "profile"),
            Some(&b"\x1f\x8bDATA"[..])
        );
        assert_eq!(form_field(body, &boundary, "missing"), None);
        assert_eq!(multipart_boundary("application/octet-stream"), None);
    }
}
