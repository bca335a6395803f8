//! The Augur wire crate: the only crate that knows protobuf.
//!
//! - [`ingest`]: the agent -> aggregator gRPC service and its batch format,
//!   with [`batch`] helpers that compress, bound, decode and validate
//!   payloads; `protobuf` is the wire-format reader the hand-written
//!   decoding shares.
//! - [`pprof`]: Google's `profile.proto`, and the encoder from our
//!   [`augur_profile::Profile`] to gzipped pprof.
//! - [`auth`]: the bearer tokens every connection may carry, and their
//!   constant-time check; [`tls`]: the servers' TLS, read again on SIGHUP.
//! - [`pyroscope`]: Pyroscope's push (`push.v1` and the legacy `/ingest`
//!   formats) translated into batches, and its query API (`querier.v1` and
//!   the packages it uses), which Grafana reads through; [`connect`] holds
//!   the protobuf and protojson codecs of the Connect protocol.
//! - [`sink`]: where batches translated from other protocols (Pyroscope,
//!   OTLP) are handed to ingest.
//! - [`otlp`]: OTLP profiles export requests (our transcription of the
//!   protos, at one pinned revision) and their translation into batches.

pub mod auth;
pub mod batch;
pub mod connect;
pub mod otlp;
pub mod pprof;
mod protobuf;
pub mod pyroscope;
pub mod sink;
pub mod tls;

/// Generated types of `augur.ingest.v1`.
pub mod ingest {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("augur.ingest.v1");
}

/// Generated types of pprof's `perftools.profiles`.
pub mod pprof_proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("perftools.profiles");
}

/// Generated types of Pyroscope's push messages (`wire/proto/pyroscope.proto`),
/// for clients and tests that build pushes.
pub mod pyroscope_proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("augur.pyroscope.v1");
}
