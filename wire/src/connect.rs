//! The two codecs of the Connect protocol for unary calls: `proto`
//! (protobuf) and `json` (protojson). The web crate does the HTTP side
//! (`web/src/connect.rs`); this holds only the bytes, so protobuf stays in
//! this crate.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A message either codec can carry: prost for protobuf, pbjson's serde
/// implementations for protojson.
pub trait ConnectMessage:
    prost::Message + Default + Serialize + DeserializeOwned + Send + 'static
{
}

impl<T> ConnectMessage for T where
    T: prost::Message + Default + Serialize + DeserializeOwned + Send + 'static
{
}

/// How a message is written on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// `application/proto`.
    Proto,
    /// `application/json`.
    Json,
}

impl Codec {
    /// The codec of a unary request's `Content-Type`, if it is one of ours.
    pub fn from_content_type(content_type: &str) -> Option<Codec> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/proto" => Some(Codec::Proto),
            "application/json" => Some(Codec::Json),
            _ => None,
        }
    }

    /// The `Content-Type` of an answer in this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Proto => "application/proto",
            Codec::Json => "application/json",
        }
    }
}

/// A request body that is not a message of the expected type.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not valid protobuf for the message.
    #[error("the body is not a valid protobuf message: {0}")]
    Proto(#[from] prost::DecodeError),
    /// Not valid protojson for the message.
    #[error("the body is not valid JSON for this message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Decodes a request body. An empty JSON body reads as the empty message,
/// as an empty protobuf body does.
pub fn decode<M: ConnectMessage>(codec: Codec, body: &[u8]) -> Result<M, DecodeError> {
    match codec {
        Codec::Proto => Ok(M::decode(body)?),
        Codec::Json if body.iter().all(u8::is_ascii_whitespace) => Ok(M::default()),
        Codec::Json => Ok(serde_json::from_slice(body)?),
    }
}

/// Encodes an answer.
pub fn encode<M: ConnectMessage>(codec: Codec, message: &M) -> Vec<u8> {
    match codec {
        Codec::Proto => message.encode_to_vec(),
        // pbjson's serializers fail only on values protojson cannot carry
        // (an enum number without a name), which our answers never hold.
        Codec::Json => serde_json::to_vec(message).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyroscope::types::v1 as t;

    #[test]
    fn content_types_pick_codecs() {
        assert_eq!(
            Codec::from_content_type("application/proto"),
            Some(Codec::Proto)
        );
        assert_eq!(
            Codec::from_content_type("application/json; charset=utf-8"),
            Some(Codec::Json)
        );
        assert_eq!(Codec::from_content_type("application/grpc"), None);
        assert_eq!(Codec::from_content_type("text/plain"), None);
    }

    #[test]
    fn both_codecs_round_trip_and_reject_garbage() {
        let message = t::LabelValuesRequest {
            name: "service_name".into(),
            matchers: vec!["{}".into()],
            start: 1,
            end: 2,
        };
        for codec in [Codec::Proto, Codec::Json] {
            let bytes = encode(codec, &message);
            assert_eq!(
                decode::<t::LabelValuesRequest>(codec, &bytes).unwrap(),
                message
            );
        }
        assert!(decode::<t::LabelValuesRequest>(Codec::Proto, &[0xff, 0xff, 0xff]).is_err());
        assert!(decode::<t::LabelValuesRequest>(Codec::Json, b"{\"name\": 5").is_err());
        assert_eq!(
            decode::<t::LabelValuesRequest>(Codec::Json, b"").unwrap(),
            t::LabelValuesRequest::default()
        );
    }
}
