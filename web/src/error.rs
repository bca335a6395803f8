//! Why an API request failed, and how that becomes an HTTP answer: a status
//! code and a JSON body `{"error": "..."}` that says what to fix.
//!
//! Server-side variants keep their cause as the error `source`, and the body
//! carries the whole chain, so a 500 says what actually went wrong.

use std::error::Error as _;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::params::ParamError;

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request's parameters are wrong (400).
    #[error(transparent)]
    BadRequest(#[from] ParamError),
    /// No route for this path (404).
    #[error("no such endpoint: {path}; see /api/v1/services and /api/v1/profile")]
    NotFound {
        /// The requested path (shortened).
        path: String,
    },
    /// Storage could not answer (500).
    #[error("storage query failed")]
    Storage(#[from] augur_storage::StorageError),
    /// The profile could not be rendered in the requested format (500).
    #[error("cannot render the profile as {format}")]
    Render {
        /// Format being rendered.
        format: &'static str,
        /// Renderer error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking worker running the query died (500).
    #[error("query worker failed")]
    Worker(#[from] tokio::task::JoinError),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            // A user's SQL that does not parse or is not read-only.
            Self::Storage(augur_storage::StorageError::Query { .. }) => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Storage(_) | Self::Render { .. } | Self::Worker(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut message = match &self {
            Self::Storage(query @ augur_storage::StorageError::Query { .. }) => query.to_string(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            let mut cause = self.source();
            while let Some(error) = cause {
                let text = error.to_string();
                if !message.contains(&text) {
                    message.push_str(": ");
                    message.push_str(&text);
                }
                cause = error.source();
            }
            tracing::warn!(error = %message, "web request failed");
        }
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
