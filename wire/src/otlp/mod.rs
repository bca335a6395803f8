//! OTLP profiles in: the export request of OpenTelemetry's profiles signal
//! (what a Collector's `otlp` exporter or the OpenTelemetry eBPF profiler
//! sends) translated into Augur's own batches, which then go through ingest
//! exactly as an agent's do.
//!
//! The OTLP profiles protocol is still a development revision, so Augur
//! pins one: [`OTLP_REVISION`] (`v1development`). It appears in three
//! places that move together: the `otlp_revision!` macro below (from which
//! the gRPC path and the HTTP path are made), the proto files under
//! `wire/proto/opentelemetry/` (our transcription, same package and field
//! numbers as the published one), and the `pub use` aliases below. The next
//! revision is a copy of those protos under its name, the macro's text and
//! the two aliases; the translation reads the types through the aliases.
//!
//! By job: the generated types here; `scan` bounds what decoding a request
//! may allocate before prost sees it; `translate` turns a decoded request
//! into [`Translation`]: batches grouped by profile type, host and window,
//! one process per resource, frames as Augur knows them; `deliver` hands
//! them to a [`crate::sink::BatchSink`] and makes OTLP's answer.

mod deliver;
mod scan;
#[cfg(test)]
mod tests;
mod translate;

pub use deliver::{Delivered, deliver, encode_response, encode_status};
pub use translate::{OtlpBatch, OtlpError, OtlpLimits, Translation, translate};

/// The revision's name, as a literal (so `concat!` can use it).
macro_rules! otlp_revision {
    () => {
        "v1development"
    };
}

/// The OTLP profiles revision Augur speaks.
pub const OTLP_REVISION: &str = otlp_revision!();

/// The gRPC method an exporter calls.
pub const GRPC_EXPORT_PATH: &str = concat!(
    "/opentelemetry.proto.collector.profiles.",
    otlp_revision!(),
    ".ProfilesService/Export"
);

/// The gRPC service's full name.
pub const GRPC_SERVICE: &str = concat!(
    "opentelemetry.proto.collector.profiles.",
    otlp_revision!(),
    ".ProfilesService"
);

/// The path of the OTLP/HTTP export.
pub const HTTP_EXPORT_PATH: &str = concat!("/", otlp_revision!(), "/profiles");

/// Generated types of our transcription of the OTLP protos; the module
/// nesting mirrors the proto packages, as the generated code expects.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod generated {
    pub mod opentelemetry {
        pub mod proto {
            pub mod common {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.common.v1");
                }
            }
            pub mod resource {
                pub mod v1 {
                    tonic::include_proto!("opentelemetry.proto.resource.v1");
                }
            }
            pub mod profiles {
                pub mod v1development {
                    tonic::include_proto!("opentelemetry.proto.profiles.v1development");
                }
            }
            pub mod collector {
                pub mod profiles {
                    pub mod v1development {
                        tonic::include_proto!(
                            "opentelemetry.proto.collector.profiles.v1development"
                        );
                    }
                }
            }
        }
    }
}

/// The export service's messages, at the pinned revision.
pub use generated::opentelemetry::proto::collector::profiles::v1development as collector;
/// Attribute values and key-value pairs.
pub use generated::opentelemetry::proto::common::v1 as common;
/// The profiles data model, at the pinned revision.
pub use generated::opentelemetry::proto::profiles::v1development as profiles;
