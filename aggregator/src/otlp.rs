//! OTLP profiles export over gRPC on the ingest port:
//! `opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export`,
//! what a Collector's `otlp` exporter and the OpenTelemetry eBPF profiler
//! call.
//!
//! The request reaches us as bytes, not as prost's decoded message: the
//! translation first estimates what decoding would allocate (a million
//! empty table entries are a few megabytes on the wire and far more once
//! decoded), and the batch ids hash the bytes as sent. Hence a small
//! hand-written service with a pass-through codec instead of the generated
//! one. The server's token interceptor is in front of it as of every
//! service; each translated batch then goes to the ingest service exactly
//! as an agent's push does (limits, durable log, deduplication by id).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use augur_wire::otlp::collector::ExportProfilesServiceResponse;
use augur_wire::otlp::{self, OtlpError, OtlpLimits};
use augur_wire::sink::{BatchSink, SinkAck, SinkError, SinkFuture, SinkRefusal};
use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, StdError, http};
use tonic::{Status, body::Body};

use crate::ingest::IngestService;

/// The export service: translation, then the ingest service.
#[derive(Clone)]
pub struct OtlpExportServer {
    ingest: Arc<IngestService>,
    limits: Arc<OtlpLimits>,
}

impl OtlpExportServer {
    /// Exports go to `ingest`, requests bounded by `limits`.
    pub fn new(ingest: Arc<IngestService>, limits: OtlpLimits) -> Self {
        Self {
            ingest,
            limits: Arc::new(limits),
        }
    }

    /// The largest request the transport lets through.
    pub fn max_message(&self) -> usize {
        self.limits.max_request_bytes
    }
}

impl tonic::server::NamedService for OtlpExportServer {
    const NAME: &'static str = otlp::GRPC_SERVICE;
}

impl<B> Service<http::Request<B>> for OtlpExportServer
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let this = self.clone();
        if request.uri().path() != otlp::GRPC_EXPORT_PATH {
            return Box::pin(
                async move { Ok(Status::unimplemented("no such method").into_http()) },
            );
        }
        Box::pin(async move {
            let max = this.max_message();
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec)
                .apply_max_message_size_config(Some(max), None);
            Ok(grpc.unary(ExportMethod(this), request).await)
        })
    }
}

/// The unary method, over the raw request bytes.
struct ExportMethod(OtlpExportServer);

impl tonic::server::UnaryService<Bytes> for ExportMethod {
    type Response = ExportProfilesServiceResponse;
    type Future = BoxFuture<tonic::Response<Self::Response>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let server = self.0.clone();
        Box::pin(async move {
            let bytes = request.into_inner();
            let limits = server.limits.clone();
            let now = now_unix_nanos();
            let translation =
                tokio::task::spawn_blocking(move || otlp::translate(&bytes, now, &limits))
                    .await
                    .map_err(|error| Status::internal(format!("translation failed: {error}")))?
                    .map_err(|error| match error {
                        OtlpError::Malformed(_) | OtlpError::TooLarge(_) => {
                            Status::invalid_argument(error.to_string())
                        }
                    })?;
            // The interceptor checked the token already.
            let sink = DirectIngest(server.ingest.clone());
            let delivered = otlp::deliver(&sink, None, translation)
                .await
                .map_err(status_of)?;
            tracing::debug!(
                samples = delivered.samples,
                duplicates = delivered.duplicates,
                "OTLP export taken"
            );
            Ok(tonic::Response::new(delivered.response))
        })
    }
}

/// The gRPC status of a refusal.
fn status_of(error: SinkError) -> Status {
    let code = match error.kind {
        SinkRefusal::Unauthenticated => tonic::Code::Unauthenticated,
        SinkRefusal::Invalid => tonic::Code::InvalidArgument,
        SinkRefusal::Busy => tonic::Code::ResourceExhausted,
        SinkRefusal::Unavailable => tonic::Code::Unavailable,
        SinkRefusal::Internal => tonic::Code::Internal,
    };
    Status::new(code, error.message)
}

fn now_unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The ingest service as a sink, for callers past the token check.
struct DirectIngest(Arc<IngestService>);

impl BatchSink for DirectIngest {
    fn push<'a>(
        &'a self,
        _authorization: Option<&'a [u8]>,
        batch_id: String,
        payload: Vec<u8>,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            self.0
                .push_counted(&batch_id, payload, Instant::now())
                .await
                .map(|(duplicate, samples)| SinkAck { duplicate, samples })
                .map_err(|status| SinkError {
                    kind: crate::handle::refusal(status.code()),
                    message: status.message().to_owned(),
                })
        })
    }
}

/// Requests pass through as bytes; responses are encoded by prost.
#[derive(Clone, Copy, Default)]
struct RawRequestCodec;

impl Codec for RawRequestCodec {
    type Encode = ExportProfilesServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = ExportProfilesServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&otlp::encode_response(&item));
        Ok(())
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
