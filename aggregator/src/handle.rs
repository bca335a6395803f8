//! The ingest of a running aggregator, for batches that do not come over
//! its own gRPC port: Pyroscope pushes and OTLP exports, translated into
//! Augur batches at the edge (the web server's routes).
//!
//! [`IngestHandle`] is made before [`crate::serve`] starts and handed to
//! whoever translates; `serve` attaches its ingest service when it runs and
//! detaches it when it stops. Until then, and after, a push is answered
//! "unavailable, retry later". A batch that comes through the handle gets
//! exactly what an agent's push gets: the ingest token check, the limits,
//! the durable log, the buffer and the batch-id deduplication.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Instant;

use augur_wire::sink::{BatchSink, SinkAck, SinkError, SinkFuture, SinkRefusal};

use crate::auth::TokenCheck;
use crate::ingest::IngestService;

/// The running ingest service and the token check in front of it.
type Attached = (Weak<IngestService>, TokenCheck);

/// A late-bound handle on a running aggregator's ingest. Cheap to clone;
/// every clone sees the same service.
#[derive(Clone, Default)]
pub struct IngestHandle {
    service: Arc<RwLock<Option<Attached>>>,
}

impl fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestHandle")
            .field("attached", &self.current().is_some())
            .finish()
    }
}

impl IngestHandle {
    /// From now on, batches go to `service`, behind `tokens`.
    pub(crate) fn attach(&self, service: &Arc<IngestService>, tokens: TokenCheck) {
        *self.service.write().unwrap_or_else(PoisonError::into_inner) =
            Some((Arc::downgrade(service), tokens));
    }

    /// The aggregator stops: batches are refused from now on.
    pub(crate) fn detach(&self) {
        *self.service.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn current(&self) -> Option<(Arc<IngestService>, TokenCheck)> {
        let guard = self.service.read().unwrap_or_else(PoisonError::into_inner);
        let (weak, tokens) = guard.as_ref()?;
        Some((weak.upgrade()?, tokens.clone()))
    }
}

impl BatchSink for IngestHandle {
    fn push<'a>(
        &'a self,
        authorization: Option<&'a [u8]>,
        batch_id: String,
        payload: Vec<u8>,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            let Some((service, tokens)) = self.current() else {
                return Err(Self::refuse_unattached());
            };
            if let Err(status) = tokens.check(authorization) {
                return Err(SinkError {
                    kind: SinkRefusal::Unauthenticated,
                    message: status.message().to_owned(),
                });
            }
            let started = Instant::now();
            service
                .push_counted(&batch_id, payload, started)
                .await
                .map(|(duplicate, samples)| SinkAck { duplicate, samples })
                .map_err(|status| SinkError {
                    kind: refusal(status.code()),
                    message: status.message().to_owned(),
                })
        })
    }

    fn authorize(&self, authorization: Option<&[u8]>) -> Result<(), SinkError> {
        let (_, tokens) = self.current().ok_or_else(Self::refuse_unattached)?;
        tokens.check(authorization).map_err(|status| SinkError {
            kind: SinkRefusal::Unauthenticated,
            message: status.message().to_owned(),
        })
    }
}

impl IngestHandle {
    fn refuse_unattached() -> SinkError {
        SinkError {
            kind: SinkRefusal::Unavailable,
            message: "ingest is not running on this server; retry later".into(),
        }
    }
}

/// The HTTP-side kind of a push refusal, from the status an agent sees.
pub(crate) fn refusal(code: tonic::Code) -> SinkRefusal {
    match code {
        tonic::Code::InvalidArgument => SinkRefusal::Invalid,
        tonic::Code::ResourceExhausted => SinkRefusal::Busy,
        tonic::Code::Unavailable => SinkRefusal::Unavailable,
        _ => SinkRefusal::Internal,
    }
}
