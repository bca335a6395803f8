//! Compiles the wire protocol, pprof's profile.proto and our transcription
//! of the OTLP profiles protos with the pure-Rust protox front end, so no
//! `protoc` is needed on the build machine; then Pyroscope's query API
//! (`proto/pyroscope/`), with protojson codecs from pbjson, since Grafana's
//! data source may speak JSON as well as protobuf.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/ingest.proto",
        "proto/profile.proto",
        // The OTLP revision is pinned by this path and `otlp::OTLP_REVISION`.
        "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.proto",
        "proto/pyroscope.proto",
    ];
    let imported = [
        "proto/opentelemetry/proto/common/v1/common.proto",
        "proto/opentelemetry/proto/resource/v1/resource.proto",
        "proto/opentelemetry/proto/profiles/v1development/profiles.proto",
    ];
    for proto in protos.iter().chain(&imported) {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    pyroscope_querier()?;
    Ok(())
}

/// `querier.v1`, `types.v1` and `google.v1`: plain messages (the service is
/// served over Connect by the web crate, not by tonic), each with serde
/// implementations that follow protojson.
fn pyroscope_querier() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "querier/v1/querier.proto",
        "types/v1/types.proto",
        "google/v1/profile.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed=proto/pyroscope/{proto}");
    }
    let descriptors = protox::compile(protos, ["proto/pyroscope"])?;
    let encoded = prost::Message::encode_to_vec(&descriptors);
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(descriptors)?;
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        // As protojson readers do by default: a newer client's fields are
        // skipped, the way protobuf skips unknown field numbers.
        .ignore_unknown_fields()
        .build(&[".querier.v1", ".types.v1", ".google.v1"])?;
    Ok(())
}
