//! Where a batch translated from another protocol goes.
//!
//! Pyroscope pushes and OTLP exports arrive over HTTP on the web port (and
//! over gRPC beside the agents' own ingest). Each is translated at the edge
//! into Augur's own batch (an encoded, zstd-compressed [`crate::ingest::Batch`]
//! with a batch id) and handed to a [`BatchSink`]: the aggregator's ingest,
//! which checks the ingest token, logs the batch durably, holds it and
//! stores it exactly as it does an agent's. The web crate knows only this
//! trait, not the aggregator.

use std::future::Future;
use std::pin::Pin;

/// What a sink did with a batch it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkAck {
    /// The batch id was held or stored already: nothing was added.
    pub duplicate: bool,
    /// Samples stored from this batch (0 for a duplicate).
    pub samples: u64,
}

/// Why a sink refused a batch, in the terms an HTTP answer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkRefusal {
    /// No token, or one not accepted (401).
    Unauthenticated,
    /// Malformed or over a limit: sending it again will not help (400).
    Invalid,
    /// Busy or full: keep it and retry later (429).
    Busy,
    /// Storage, the log, or no ingest running here: retry later (503).
    Unavailable,
    /// Our own failure (500).
    Internal,
}

/// A refusal and its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// What kind of refusal.
    pub kind: SinkRefusal,
    /// Why, for the client.
    pub message: String,
}

/// The future a [`BatchSink`] answers with.
pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<SinkAck, SinkError>> + Send + 'a>>;

/// Takes batches in Augur's own format, as an agent's push brings them.
pub trait BatchSink: Send + Sync {
    /// Takes one batch: `authorization` is the request's `Authorization`
    /// header (checked as an agent's ingest token is), `batch_id` the
    /// idempotency key, `payload` a zstd frame holding an encoded
    /// [`crate::ingest::Batch`].
    fn push<'a>(
        &'a self,
        authorization: Option<&'a [u8]>,
        batch_id: String,
        payload: Vec<u8>,
    ) -> SinkFuture<'a>;

    /// Checks `authorization` as [`BatchSink::push`] would, without a
    /// batch: lets a translating edge refuse a wrong token before it spends
    /// work on the request, and refuse it even when the request holds no
    /// samples. The default accepts everything.
    fn authorize(&self, authorization: Option<&[u8]>) -> Result<(), SinkError> {
        let _ = authorization;
        Ok(())
    }
}
