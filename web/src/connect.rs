//! The HTTP side of the Connect protocol, unary calls only: what Grafana's
//! Pyroscope data source (a connect-go client) and the Pyroscope SDKs speak.
//!
//! A call is `POST /package.Service/Method` with the message as the body,
//! `Content-Type: application/proto` or `application/json`; the answer is
//! `200` with the reply in the same codec, or an error status with the JSON
//! body `{"code": "...", "message": "..."}`. A body may come gzipped
//! (`Content-Encoding: gzip`); answers are sent plain. The codecs
//! themselves live in `augur_wire::connect`, so protobuf stays in `wire`.
//! Services built on this: the querier (`querier/`).

use std::io::Read;

use augur_wire::connect::{Codec, ConnectMessage};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Largest request body accepted, after decompression.
pub(crate) const MAX_REQUEST_BYTES: usize = 4 << 20;

/// Connect's error codes that Augur answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
    InvalidArgument,
    NotFound,
    Unauthenticated,
    PermissionDenied,
    ResourceExhausted,
    Unimplemented,
    Internal,
}

impl Code {
    /// The code's name in an error body.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::NotFound => "not_found",
            Code::Unauthenticated => "unauthenticated",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status the protocol pairs with the code.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A failed call, answered as a Connect error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConnectError {
    pub(crate) code: Code,
    pub(crate) message: String,
}

impl ConnectError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// Storage or a worker failed: the whole chain, for the operator.
    pub(crate) fn internal(error: &dyn std::error::Error) -> Self {
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(e) = cause {
            message.push_str(": ");
            message.push_str(&e.to_string());
            cause = e.source();
        }
        tracing::warn!(error = %message, "connect call failed");
        Self::new(Code::Internal, message)
    }
}

impl From<augur_storage::StorageError> for ConnectError {
    fn from(error: augur_storage::StorageError) -> Self {
        Self::internal(&error)
    }
}

impl From<tokio::task::JoinError> for ConnectError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::internal(&error)
    }
}

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        error_response(self.code, &self.message)
    }
}

/// A Connect error answer.
pub(crate) fn error_response(code: Code, message: &str) -> Response {
    let body = serde_json::json!({ "code": code.as_str(), "message": message }).to_string();
    (
        code.status(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Whether `path` names a Connect procedure of a service this server runs,
/// so refusals there are Connect errors rather than Augur's JSON.
pub(crate) fn is_connect_path(path: &str) -> bool {
    path.starts_with("/querier.v1.QuerierService/")
}

/// The codec and plain body of a unary request, or the answer refusing it:
/// `415` for a content type that is no Connect unary codec (the protocol
/// says so, with the accepted types), Connect errors otherwise.
pub(crate) fn read_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Codec, Vec<u8>), Box<Response>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(codec) = Codec::from_content_type(content_type) else {
        let mut response = (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported content type {:?}: send application/proto or application/json\n",
                content_type.chars().take(100).collect::<String>()
            ),
        )
            .into_response();
        response.headers_mut().insert(
            axum::http::HeaderName::from_static("accept-post"),
            HeaderValue::from_static("application/proto, application/json"),
        );
        return Err(Box::new(response));
    };
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Box::new(too_large().into_response()));
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let plain = match encoding.as_str() {
        "identity" | "" => body.to_vec(),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_REQUEST_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Box::new(
                        ConnectError::invalid(format!("the gzipped body does not inflate: {e}"))
                            .into_response(),
                    )
                })?;
            if out.len() > MAX_REQUEST_BYTES {
                return Err(Box::new(too_large().into_response()));
            }
            out
        }
        other => {
            return Err(Box::new(
                ConnectError::new(
                    Code::Unimplemented,
                    format!(
                        "content encoding {:?} is not supported; use gzip or identity",
                        other.chars().take(50).collect::<String>()
                    ),
                )
                .into_response(),
            ));
        }
    };
    Ok((codec, plain))
}

fn too_large() -> ConnectError {
    ConnectError::new(
        Code::ResourceExhausted,
        format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
    )
}

/// Decodes a request message; a bad body is the caller's `invalid_argument`.
pub(crate) fn decode<M: ConnectMessage>(codec: Codec, body: &[u8]) -> Result<M, ConnectError> {
    augur_wire::connect::decode(codec, body).map_err(|e| ConnectError::invalid(e.to_string()))
}

/// A successful answer in the request's codec.
pub(crate) fn respond<M: ConnectMessage>(codec: Codec, message: &M) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, codec.content_type())],
        augur_wire::connect::encode(codec, message),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_pair_with_statuses() {
        assert_eq!(Code::InvalidArgument.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Code::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Code::Unimplemented.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(Code::InvalidArgument.as_str(), "invalid_argument");
    }

    #[test]
    fn requests_need_a_codec_and_a_known_encoding() {
        let mut headers = HeaderMap::new();
        let refused = read_request(&headers, b"").unwrap_err();
        assert_eq!(refused.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(
            read_request(&headers, b"{}").unwrap(),
            (Codec::Json, b"{}".to_vec())
        );
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(
            read_request(&headers, b"{}").unwrap_err().status(),
            StatusCode::NOT_IMPLEMENTED
        );
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(
            read_request(&headers, b"not gzip").unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        let gzip = |bytes: &[u8]| {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        };
        assert_eq!(
            read_request(&headers, &gzip(b"{\"name\":\"x\"}")).unwrap(),
            (Codec::Json, b"{\"name\":\"x\"}".to_vec())
        );
        // A small body that inflates past the bound is refused, not read.
        let bomb = gzip(&vec![b' '; MAX_REQUEST_BYTES + 1]);
        assert!(bomb.len() < 64 << 10);
        assert_eq!(
            read_request(&headers, &bomb).unwrap_err().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
