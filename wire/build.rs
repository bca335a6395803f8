//! Compiles the wire protocol, pprof's profile.proto and our transcription
//! of the OTLP profiles protos with the pure-Rust protox front end, so no
//! `protoc` is needed on the build machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/ingest.proto",
        "proto/profile.proto",
        // The OTLP revision is pinned by this path and `otlp::OTLP_REVISION`.
        "proto/opentelemetry/proto/collector/profiles/v1development/profiles_service.proto",
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
    Ok(())
}
