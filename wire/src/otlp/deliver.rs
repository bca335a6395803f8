//! A translated export handed to ingest, batch by batch, and the answer
//! OTLP expects: success, partial success (`rejected_profiles` with a
//! message) when some profiles were refused, or one refusal for the whole
//! request when nothing more can be said (a wrong token, ingest busy or
//! down). Shared by the gRPC service on the ingest port and the HTTP route
//! on the web port.
//!
//! Batches already taken when a later one is refused as busy stay taken:
//! the client retries the whole export, and the batch ids, derived from
//! the request's bytes, make ingest store each batch once.

use super::Translation;
use super::collector::{ExportProfilesPartialSuccess, ExportProfilesServiceResponse};
use crate::batch::compress;
use crate::sink::{BatchSink, SinkError, SinkRefusal};

/// zstd level of the batches handed to ingest: they are decompressed a few
/// microseconds later in the same process.
const LEVEL: i32 = 1;

/// What an export came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The answer for the client.
    pub response: ExportProfilesServiceResponse,
    /// Samples stored (duplicates count 0).
    pub samples: u64,
    /// Batches that had been stored already.
    pub duplicates: u64,
}

/// Hands every batch of `translation` to `sink`, with the request's
/// `authorization`.
pub async fn deliver(
    sink: &dyn BatchSink,
    authorization: Option<&[u8]>,
    translation: Translation,
) -> Result<Delivered, SinkError> {
    let Translation {
        batches,
        mut rejected_profiles,
        mut messages,
    } = translation;
    let mut delivered = Delivered::default();
    for batch in batches {
        let payload = compress(&batch.batch, LEVEL).map_err(|error| SinkError {
            kind: SinkRefusal::Internal,
            message: format!("compressing a translated batch: {error}"),
        })?;
        match sink.push(authorization, batch.batch_id, payload).await {
            Ok(ack) => {
                delivered.samples += ack.samples;
                delivered.duplicates += u64::from(ack.duplicate);
            }
            Err(SinkError {
                kind: SinkRefusal::Invalid,
                message,
            }) => {
                rejected_profiles += batch.profiles;
                messages.push(message);
            }
            Err(other) => return Err(other),
        }
    }
    if rejected_profiles > 0 || !messages.is_empty() {
        delivered.response.partial_success = Some(ExportProfilesPartialSuccess {
            rejected_profiles: i64::try_from(rejected_profiles).unwrap_or(i64::MAX),
            error_message: messages.join("; "),
        });
    }
    Ok(delivered)
}

/// The response, encoded for an OTLP/HTTP answer.
pub fn encode_response(response: &ExportProfilesServiceResponse) -> Vec<u8> {
    prost::Message::encode_to_vec(response)
}

/// A `google.rpc.Status` (code, message) encoded: the body of an OTLP/HTTP
/// error answer. `code` is a gRPC status code.
pub fn encode_status(code: i32, message: &str) -> Vec<u8> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    prost::Message::encode_to_vec(&RpcStatus {
        code,
        message: message.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::otlp::OtlpBatch;
    use crate::sink::{SinkAck, SinkFuture};

    /// Refuses batches whose id is in `refuse` with that kind; takes the rest.
    struct Recording {
        refuse: Vec<(String, SinkRefusal)>,
        taken: Mutex<Vec<String>>,
    }

    impl BatchSink for Recording {
        fn push<'a>(
            &'a self,
            _authorization: Option<&'a [u8]>,
            batch_id: String,
            _payload: Vec<u8>,
        ) -> SinkFuture<'a> {
            Box::pin(async move {
                if let Some((_, kind)) = self.refuse.iter().find(|(id, _)| *id == batch_id) {
                    return Err(SinkError {
                        kind: *kind,
                        message: format!("{batch_id} refused"),
                    });
                }
                self.taken.lock().unwrap().push(batch_id);
                Ok(SinkAck {
                    duplicate: false,
                    samples: 5,
                })
            })
        }
    }

    fn translation(ids: &[&str]) -> Translation {
        Translation {
            batches: ids
                .iter()
                .map(|id| OtlpBatch {
                    batch_id: (*id).to_owned(),
                    batch: crate::ingest::Batch::default(),
                    profiles: 2,
                })
                .collect(),
            rejected_profiles: 1,
            messages: vec!["profile 3: no".into()],
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // The sink above never waits, so one poll finishes it.
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the test sink never waits"),
        }
    }

    #[test]
    fn invalid_batches_are_partial_success_and_busy_fails_the_export() {
        let sink = Recording {
            refuse: vec![("b".into(), SinkRefusal::Invalid)],
            taken: Mutex::default(),
        };
        let delivered = block_on(deliver(&sink, None, translation(&["a", "b", "c"]))).unwrap();
        let partial = delivered.response.partial_success.unwrap();
        assert_eq!(partial.rejected_profiles, 3);
        assert!(partial.error_message.contains("profile 3: no"));
        assert!(partial.error_message.contains("b refused"));
        assert_eq!(delivered.samples, 10);
        assert_eq!(*sink.taken.lock().unwrap(), ["a", "c"]);

        let sink = Recording {
            refuse: vec![("b".into(), SinkRefusal::Busy)],
            taken: Mutex::default(),
        };
        let error = block_on(deliver(&sink, None, translation(&["a", "b", "c"]))).unwrap_err();
        assert_eq!(error.kind, SinkRefusal::Busy);
        assert_eq!(*sink.taken.lock().unwrap(), ["a"]);

        let clean = Translation {
            rejected_profiles: 0,
            messages: vec![],
            ..translation(&["a"])
        };
        let sink = Recording {
            refuse: vec![],
            taken: Mutex::default(),
        };
        let delivered = block_on(deliver(&sink, None, clean)).unwrap();
        assert_eq!(delivered.response.partial_success, None);
    }
}
