//! OTLP profiles in, end to end: an exporter built on the official
//! `opentelemetry-proto` crate sends a v1development export to a real
//! `augur up`, over gRPC on the ingest port and over HTTP on the web port.
//! Go frames keep their names, native frames of a real fixture (with a GNU
//! build-id) are symbolized by the server, resource attributes become
//! labels, a retried export is stored once, and bad exports (corrupt bytes,
//! a million attributes, a wrong token) get clear errors while what was
//! stored stays.

use std::path::Path;
use std::time::{Duration, Instant};

use augur_tests::*;
use opentelemetry_proto::tonic::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient;
use opentelemetry_proto::tonic::collector::profiles::v1development::{
    ExportProfilesServiceRequest, ExportProfilesServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::profiles::v1development::{
    Function, KeyValueAndUnit, Line, Location, Mapping, Profile, ProfilesDictionary,
    ResourceProfiles, Sample, ScopeProfiles, Stack, ValueType,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const TOKEN: &str = "otlp-ingest-token-5e6f7a8b9c0d";
/// Where the fixture's mapping starts in the pretend process.
const MAP_START: u64 = 0x5555_0000_0000;
const PERIOD: i64 = 10_000_000;

fn string(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    }
}

/// The fixture's build-id and the file offsets of the named functions.
fn fixture_symbols(path: &Path, names: &[&str]) -> (String, Vec<u64>) {
    use object::{Object, ObjectSection, ObjectSymbol};

    let data = std::fs::read(path).unwrap();
    let elf = object::File::parse(&*data).unwrap();
    let build_id = elf
        .build_id()
        .unwrap()
        .expect("the fixture has a GNU build-id");
    let hex: String = build_id.iter().map(|b| format!("{b:02x}")).collect();
    let text = elf.section_by_name(".text").unwrap();
    let (text_file, _) = text.file_range().unwrap();
    let offsets = names
        .iter()
        .map(|name| {
            let symbol = elf
                .symbols()
                .find(|s| s.name() == Ok(name))
                .unwrap_or_else(|| panic!("{name} not in the fixture"));
            // A few bytes into the function, as a sampled instruction is.
            symbol.address() - text.address() + text_file + 4
        })
        .collect();
    (hex, offsets)
}

/// Builds an export request, interning strings and attributes as an
/// exporter does.
struct Builder {
    dict: ProfilesDictionary,
}

impl Builder {
    fn new() -> Self {
        Self {
            dict: ProfilesDictionary {
                mapping_table: vec![Mapping::default()],
                location_table: vec![Location::default()],
                function_table: vec![Function::default()],
                link_table: vec![Default::default()],
                string_table: vec![String::new()],
                attribute_table: vec![KeyValueAndUnit::default()],
                stack_table: vec![Stack::default()],
            },
        }
    }

    fn s(&mut self, text: &str) -> i32 {
        if let Some(i) = self.dict.string_table.iter().position(|s| s == text) {
            return i as i32;
        }
        self.dict.string_table.push(text.to_owned());
        self.dict.string_table.len() as i32 - 1
    }

    fn attribute(&mut self, key: &str, value: &str) -> i32 {
        let key_strindex = self.s(key);
        self.dict.attribute_table.push(KeyValueAndUnit {
            key_strindex,
            value: Some(string(value)),
            unit_strindex: 0,
        });
        self.dict.attribute_table.len() as i32 - 1
    }

    fn go_frame(&mut self, function: &str) -> i32 {
        let frame_type = self.attribute("profile.frame.type", "go");
        let name_strindex = self.s(function);
        let filename_strindex = self.s("/src/app/main.go");
        self.dict.function_table.push(Function {
            name_strindex,
            system_name_strindex: name_strindex,
            filename_strindex,
            start_line: 10,
        });
        self.dict.location_table.push(Location {
            mapping_index: 0,
            address: 0,
            lines: vec![Line {
                function_index: self.dict.function_table.len() as i32 - 1,
                line: 12,
                column: 0,
            }],
            attribute_indices: vec![frame_type],
        });
        self.dict.location_table.len() as i32 - 1
    }

    /// A mapping of the fixture at `MAP_START`, with its build-id.
    fn mapping(&mut self, path: &Path, build_id: &str) -> i32 {
        let build_id = self.attribute("process.executable.build_id.gnu", build_id);
        let filename_strindex = self.s(path.to_str().unwrap());
        let size = std::fs::metadata(path).unwrap().len();
        self.dict.mapping_table.push(Mapping {
            memory_start: MAP_START,
            memory_limit: MAP_START + size,
            file_offset: 0,
            filename_strindex,
            attribute_indices: vec![build_id],
        });
        self.dict.mapping_table.len() as i32 - 1
    }

    fn native_frame(&mut self, mapping: i32, file_offset: u64) -> i32 {
        let frame_type = self.attribute("profile.frame.type", "native");
        self.dict.location_table.push(Location {
            mapping_index: mapping,
            address: MAP_START + file_offset,
            lines: vec![],
            attribute_indices: vec![frame_type],
        });
        self.dict.location_table.len() as i32 - 1
    }

    fn stack(&mut self, leaf_first: &[i32]) -> i32 {
        self.dict.stack_table.push(Stack {
            location_indices: leaf_first.to_vec(),
        });
        self.dict.stack_table.len() as i32 - 1
    }

    /// A CPU profile as the eBPF profiler sends it: a count of samples,
    /// one every 10 ms of CPU.
    fn cpu_profile(&mut self, samples: &[(i32, i64)]) -> Profile {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Profile {
            sample_type: Some(ValueType {
                type_strindex: self.s("samples"),
                unit_strindex: self.s("count"),
            }),
            period_type: Some(ValueType {
                type_strindex: self.s("cpu"),
                unit_strindex: self.s("nanoseconds"),
            }),
            period: PERIOD,
            time_unix_nano: now - 5_000_000_000,
            duration_nano: 5_000_000_000,
            samples: samples
                .iter()
                .map(|&(stack_index, value)| Sample {
                    stack_index,
                    values: vec![value],
                    ..Sample::default()
                })
                .collect(),
            ..Profile::default()
        }
    }

    fn request(
        self,
        attributes: &[(&str, &str)],
        profile: Profile,
    ) -> ExportProfilesServiceRequest {
        ExportProfilesServiceRequest {
            resource_profiles: vec![ResourceProfiles {
                resource: Some(Resource {
                    attributes: attributes
                        .iter()
                        .map(|(k, v)| KeyValue {
                            key: (*k).to_owned(),
                            value: Some(string(v)),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }),
                scope_profiles: vec![ScopeProfiles {
                    profiles: vec![profile],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            dictionary: Some(self.dict),
        }
    }
}

/// The export the gRPC part sends: Go stacks and native stacks of the
/// fixture, for service `otlp-grpc` on pod `checkout-7d9f`.
fn mixed_export(fixture: &Path) -> ExportProfilesServiceRequest {
    let (build_id, offsets) =
        fixture_symbols(fixture, &["hot_a", "caller_a", "hot_b", "caller_b", "main"]);
    let mut b = Builder::new();
    let compute = b.go_frame("main.compute");
    let go_main = b.go_frame("main.main");
    let mapping = b.mapping(fixture, &build_id);
    let native: Vec<i32> = offsets
        .iter()
        .map(|&o| b.native_frame(mapping, o))
        .collect();
    let (hot_a, caller_a, hot_b, caller_b, main) =
        (native[0], native[1], native[2], native[3], native[4]);
    let go = b.stack(&[compute, go_main]);
    let a = b.stack(&[hot_a, caller_a, main]);
    let bb = b.stack(&[hot_b, caller_b, main]);
    // The Go stack twice: an exporter that did not merge them.
    let profile = b.cpu_profile(&[(go, 20), (a, 25), (bb, 5), (go, 10)]);
    b.request(
        &[
            ("service.name", "otlp-grpc"),
            ("host.name", "otlp-host-1"),
            ("k8s.pod.name", "checkout-7d9f"),
        ],
        profile,
    )
}

fn grpc_client(
    runtime: &tokio::runtime::Runtime,
    ingest: &str,
) -> ProfilesServiceClient<tonic::transport::Channel> {
    runtime.block_on(async {
        ProfilesServiceClient::new(
            tonic::transport::Endpoint::from_shared(ingest.to_owned())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        )
    })
}

fn export_grpc(
    runtime: &tokio::runtime::Runtime,
    client: &mut ProfilesServiceClient<tonic::transport::Channel>,
    request: ExportProfilesServiceRequest,
    token: &str,
) -> Result<ExportProfilesServiceResponse, tonic::Status> {
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    runtime
        .block_on(client.export(request))
        .map(tonic::Response::into_inner)
}

/// POSTs `body` to the OTLP/HTTP path; returns status and body.
fn export_http(base: &str, body: &[u8], token: &str) -> (u16, Vec<u8>) {
    let mut response = ureq::post(&format!("{base}v1development/profiles"))
        .config()
        .http_status_as_error(false)
        .build()
        .header("Content-Type", "application/x-protobuf")
        .header("Authorization", &format!("Bearer {token}"))
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

fn profile(base: &str, service: &str, labels: &str) -> serde_json::Value {
    http_json(&format!(
        "{base}api/v1/profile?service={service}&from=-1h&to=now{labels}"
    ))
    .unwrap()
}

/// The profile of `service` once `total` samples are in and `frame` is
/// named (the server symbolizes native frames in the background).
fn wait_for_profile(base: &str, service: &str, total: u64, frame: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let profile = profile(base, service, "");
        let named = json_stacks(&profile)
            .iter()
            .any(|(frames, _)| frames.iter().any(|f| f == frame));
        if profile["total_samples"].as_u64() == Some(total) && named {
            return profile;
        }
        assert!(
            Instant::now() < deadline,
            "{service}: {total} samples with {frame} named did not arrive: {profile}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn otlp_exports_over_grpc_and_http_are_stored_symbolized_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = build_fixture(dir.path(), "split.c", "otlp-native").unwrap();
    let tokens = dir.path().join("ingest.tokens");
    std::fs::write(&tokens, format!("{TOKEN}\n")).unwrap();
    let mut server = start_up(
        &dir.path().join("data"),
        &["--ingest-token-file", tokens.to_str().unwrap()],
    )
    .unwrap();
    let base = server.http.clone().unwrap();
    let ingest = server.ingest.clone().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut client = grpc_client(&runtime, &ingest);

    // gRPC, then the same export again (a retry).
    let export = mixed_export(&fixture);
    for attempt in ["first", "retry"] {
        let response = export_grpc(&runtime, &mut client, export.clone(), TOKEN)
            .unwrap_or_else(|status| panic!("{attempt} export refused: {status:?}"));
        assert_eq!(response.partial_success, None, "{attempt}");
    }
    let stored = wait_for_profile(&base, "otlp-grpc", 60, "hot_a");
    let stacks = json_stacks(&stored);
    assert_eq!(
        chain_count(&stacks, &["main.main", "main.compute"]),
        30,
        "{stacks:?}"
    );
    assert_eq!(
        chain_count(&stacks, &["main", "caller_a", "hot_a"]),
        25,
        "{stacks:?}"
    );
    assert_eq!(
        chain_count(&stacks, &["main", "caller_b", "hot_b"]),
        5,
        "{stacks:?}"
    );
    assert_eq!(stored["period"].as_u64(), Some(PERIOD as u64), "{stored}");
    // Resource attributes are labels.
    for labels in [
        "&labels=k8s_pod_name=checkout-7d9f",
        "&labels=host=otlp-host-1",
    ] {
        let filtered = profile(&base, "otlp-grpc", labels);
        assert_eq!(
            filtered["total_samples"].as_u64(),
            Some(60),
            "{labels}: {filtered}"
        );
    }
    let other_pod = profile(&base, "otlp-grpc", "&labels=k8s_pod_name=elsewhere");
    assert_eq!(other_pod["total_samples"].as_u64(), Some(0), "{other_pod}");

    // HTTP: a Go-only export for another service, sent twice too.
    let mut b = Builder::new();
    let handler = b.go_frame("api.Handler");
    let stack = b.stack(&[handler]);
    let profile_http = b.cpu_profile(&[(stack, 7)]);
    let http_body = b
        .request(&[("service.name", "otlp-http")], profile_http)
        .encode_to_vec();
    for _ in 0..2 {
        let (status, body) = export_http(&base, &http_body, TOKEN);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let response = ExportProfilesServiceResponse::decode(&*body).unwrap();
        assert_eq!(response.partial_success, None);
    }
    let stored_http = wait_for_profile(&base, "otlp-http", 7, "api.Handler");
    assert_eq!(chain_count(&json_stacks(&stored_http), &["api.Handler"]), 7);

    // Bad input: each refused clearly, nothing stored from it.
    let corrupt = b"\x0a\xff\xff\xff\xff\x0f not an export".to_vec();
    // Over gRPC, bytes whose first field claims more than there is.
    let status = runtime
        .block_on(raw_grpc_export(&ingest, &corrupt, TOKEN))
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("OTLP"), "{status:?}");
    let (code, body) = export_http(&base, &corrupt, TOKEN);
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("not an OTLP profiles export"));

    // A million attributes: refused before decoding, with a clear reason.
    let mut bomb = Builder::new();
    let key_strindex = bomb.s("k");
    bomb.dict.attribute_table = vec![
        KeyValueAndUnit {
            key_strindex,
            value: None,
            unit_strindex: 0,
        };
        1_000_000
    ];
    let bomb = ExportProfilesServiceRequest {
        resource_profiles: vec![],
        dictionary: Some(bomb.dict),
    };
    let status = export_grpc(&runtime, &mut client, bomb.clone(), TOKEN).unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    let (code, body) = export_http(&base, &bomb.encode_to_vec(), TOKEN);
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("too large"));

    // A wrong token.
    let status = export_grpc(
        &runtime,
        &mut client,
        mixed_export(&fixture),
        "wrong-token-0000000000",
    )
    .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let (code, _) = export_http(&base, &http_body, "wrong-token-0000000000");
    assert_eq!(code, 401);

    // A profile Augur cannot take (no sample type) beside a good one:
    // partial success.
    let mut b = Builder::new();
    let handler = b.go_frame("api.Other");
    let stack = b.stack(&[handler]);
    let good = b.cpu_profile(&[(stack, 3)]);
    let mut typeless = good.clone();
    typeless.sample_type = None;
    let mut partial = b.request(&[("service.name", "otlp-partial")], good);
    partial.resource_profiles[0].scope_profiles[0]
        .profiles
        .push(typeless);
    let response = export_grpc(&runtime, &mut client, partial, TOKEN).unwrap();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_profiles, 1, "{partial:?}");
    assert!(partial.error_message.contains("profile 1"), "{partial:?}");
    wait_for_profile(&base, "otlp-partial", 3, "api.Other");

    // What was stored before is intact, and still stored once.
    assert_eq!(
        profile(&base, "otlp-grpc", "")["total_samples"].as_u64(),
        Some(60)
    );
    assert_eq!(
        profile(&base, "otlp-http", "")["total_samples"].as_u64(),
        Some(7)
    );
    assert!(server.is_running(), "the server died");
    server.terminate().unwrap();
}

/// Calls Export with `body` as the request message's bytes, as is: what a
/// broken exporter sends.
async fn raw_grpc_export(
    ingest: &str,
    body: &[u8],
    token: &str,
) -> Result<ExportProfilesServiceResponse, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(ingest.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(bytes_message::Raw(body.to_vec()));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
    );
    grpc.unary(request, path, bytes_message::RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// A codec that sends bytes as they are and decodes the response.
mod bytes_message {
    use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceResponse;
    use prost::Message;
    use prost::bytes::{Buf, BufMut};
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    pub struct Raw(pub Vec<u8>);

    pub struct RawCodec;

    impl Codec for RawCodec {
        type Encode = Raw;
        type Decode = ExportProfilesServiceResponse;
        type Encoder = RawEncoder;
        type Decoder = ResponseDecoder;

        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }

        fn decoder(&mut self) -> ResponseDecoder {
            ResponseDecoder
        }
    }

    pub struct RawEncoder;

    impl Encoder for RawEncoder {
        type Item = Raw;
        type Error = tonic::Status;

        fn encode(&mut self, item: Raw, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            dst.put_slice(&item.0);
            Ok(())
        }
    }

    pub struct ResponseDecoder;

    impl Decoder for ResponseDecoder {
        type Item = ExportProfilesServiceResponse;
        type Error = tonic::Status;

        fn decode(
            &mut self,
            src: &mut DecodeBuf<'_>,
        ) -> Result<Option<ExportProfilesServiceResponse>, tonic::Status> {
            let bytes = src.copy_to_bytes(src.remaining());
            ExportProfilesServiceResponse::decode(bytes)
                .map(Some)
                .map_err(|e| tonic::Status::internal(e.to_string()))
        }
    }
}
