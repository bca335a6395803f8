//! Translation of hand-built export requests: frames of each kind, labels
//! from resource attributes, partial refusal, stable batch ids, and that
//! ingest's own decoder takes what comes out.

use augur_profile::{FileId, RawFrame, Runtime};
use prost::Message;

use super::collector::ExportProfilesServiceRequest;
use super::common::{AnyValue, KeyValue, any_value};
use super::profiles::{
    Function, KeyValueAndUnit, Line, Location, Mapping, Profile, ProfilesDictionary,
    ResourceProfiles, Sample, ScopeProfiles, Stack, ValueType,
};
use super::{OtlpError, OtlpLimits, translate};
use crate::batch::{Limits, compress, decode, owned_frames};

const NOW: i64 = 1_800_000_000_000_000_000;
const BUILD_ID: &str = "0123456789abcdef0123456789abcdef01234567";

/// Builds a dictionary, interning strings.
#[derive(Default)]
struct Dict {
    d: ProfilesDictionary,
}

impl Dict {
    fn new() -> Self {
        let mut dict = Self::default();
        dict.d.string_table.push(String::new());
        dict.d.mapping_table.push(Mapping::default());
        dict.d.location_table.push(Location::default());
        dict.d.function_table.push(Function::default());
        dict.d.attribute_table.push(KeyValueAndUnit::default());
        dict.d.stack_table.push(Stack::default());
        dict
    }

    fn s(&mut self, text: &str) -> i32 {
        if let Some(i) = self.d.string_table.iter().position(|s| s == text) {
            return i as i32;
        }
        self.d.string_table.push(text.to_owned());
        self.d.string_table.len() as i32 - 1
    }

    fn attr(&mut self, key: &str, value: &str) -> i32 {
        let key_strindex = self.s(key);
        self.d.attribute_table.push(KeyValueAndUnit {
            key_strindex,
            value: Some(text(value)),
            unit_strindex: 0,
        });
        self.d.attribute_table.len() as i32 - 1
    }

    /// A named location of frame type `kind`.
    fn named(&mut self, kind: &str, names: &[&str]) -> i32 {
        let attribute = self.attr("profile.frame.type", kind);
        let mut lines = Vec::new();
        for name in names {
            let name_strindex = self.s(name);
            let filename_strindex = self.s("main.go");
            self.d.function_table.push(Function {
                name_strindex,
                system_name_strindex: 0,
                filename_strindex,
                start_line: 1,
            });
            lines.push(Line {
                function_index: self.d.function_table.len() as i32 - 1,
                line: 42,
                column: 0,
            });
        }
        self.d.location_table.push(Location {
            mapping_index: 0,
            address: 0,
            lines,
            attribute_indices: vec![attribute],
        });
        self.d.location_table.len() as i32 - 1
    }

    /// A native location at `address` in a mapping of `/app` with a build-id.
    fn native(&mut self, address: u64) -> i32 {
        if self.d.mapping_table.len() == 1 {
            let build_id = self.attr("process.executable.build_id.gnu", BUILD_ID);
            let filename_strindex = self.s("/app");
            self.d.mapping_table.push(Mapping {
                memory_start: 0x55_0000_0000,
                memory_limit: 0x55_0010_0000,
                file_offset: 0x1000,
                filename_strindex,
                attribute_indices: vec![build_id],
            });
        }
        let native = self.attr("profile.frame.type", "native");
        self.d.location_table.push(Location {
            mapping_index: 1,
            address,
            lines: vec![],
            attribute_indices: vec![native],
        });
        self.d.location_table.len() as i32 - 1
    }

    fn stack(&mut self, locations: &[i32]) -> i32 {
        self.d.stack_table.push(Stack {
            location_indices: locations.to_vec(),
        });
        self.d.stack_table.len() as i32 - 1
    }

    /// A cpu profile as the eBPF profiler sends it: samples/count every
    /// 10 ms of CPU.
    fn cpu_profile(&mut self, samples: &[(i32, i64)]) -> Profile {
        Profile {
            sample_type: Some(ValueType {
                type_strindex: self.s("samples"),
                unit_strindex: self.s("count"),
            }),
            period_type: Some(ValueType {
                type_strindex: self.s("cpu"),
                unit_strindex: self.s("nanoseconds"),
            }),
            period: 10_000_000,
            time_unix_nano: 1_700_000_000_000_000_000,
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
}

fn text(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    }
}

fn resource(attributes: &[(&str, &str)], profiles: Vec<Profile>) -> ResourceProfiles {
    ResourceProfiles {
        resource: Some(
            super::generated::opentelemetry::proto::resource::v1::Resource {
                attributes: attributes
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: (*k).to_owned(),
                        value: Some(text(v)),
                        key_strindex: 0,
                    })
                    .collect(),
                ..Default::default()
            },
        ),
        scope_profiles: vec![ScopeProfiles {
            profiles,
            ..Default::default()
        }],
        schema_url: String::new(),
    }
}

/// A request with one resource: a Go stack over a native one, a kernel
/// leaf on another, and a sample repeated.
fn request() -> ExportProfilesServiceRequest {
    let mut dict = Dict::new();
    let go = dict.named("go", &["main.work", "main.main"]);
    let native = dict.native(0x55_0000_0400);
    let kernel = dict.named("kernel", &["do_syscall_64"]);
    let a = dict.stack(&[go, native]);
    let b = dict.stack(&[kernel, native]);
    let profile = dict.cpu_profile(&[(a, 3), (b, 2), (a, 4)]);
    ExportProfilesServiceRequest {
        resource_profiles: vec![resource(
            &[
                ("service.name", "checkout"),
                ("host.name", "node-7"),
                ("k8s.pod.name", "checkout-5d8f"),
                ("telemetry.sdk.name", "ignored"),
            ],
            vec![profile],
        )],
        dictionary: Some(dict.d),
    }
}

#[test]
fn frames_labels_and_counts_follow_the_request() {
    let translation = translate(&request().encode_to_vec(), NOW, &OtlpLimits::default()).unwrap();
    assert_eq!(
        translation.rejected_profiles, 0,
        "{:?}",
        translation.messages
    );
    assert_eq!(translation.batches.len(), 1);
    let batch = &translation.batches[0];
    assert_eq!(batch.profiles, 1);
    let wire = &batch.batch;
    assert_eq!(
        (wire.profile_type.as_str(), wire.unit.as_str(), wire.period),
        ("cpu", "nanoseconds", 10_000_000)
    );
    assert_eq!(wire.host, "node-7");
    assert_eq!(wire.start_unix_nanos, 1_700_000_000_000_000_000);
    assert_eq!(wire.end_unix_nanos, 1_700_000_005_000_000_000);
    assert_eq!(wire.processes.len(), 1);
    let labels = &wire.processes[0].labels;
    assert_eq!(labels["service"], "checkout");
    assert_eq!(labels["host"], "node-7");
    assert_eq!(labels["k8s_pod_name"], "checkout-5d8f");
    assert_eq!(labels.len(), 3, "{labels:?}");

    // Through ingest's own decoder, as the aggregator will see it.
    let payload = compress(wire, 1).unwrap();
    let (valid, _, _) = decode(&payload, &Limits::default(), owned_frames).unwrap();
    let mut stacks: Vec<(Vec<RawFrame>, u64)> = valid
        .samples
        .iter()
        .map(|s| (s.frames.clone(), s.count))
        .collect();
    stacks.sort_by_key(|(_, count)| *count);
    let user = RawFrame::User {
        build_id: FileId::parse_hex(BUILD_ID).unwrap(),
        // 0x400 into a mapping of file offset 0x1000.
        file_offset: 0x1400,
    };
    let go = |function: &str| RawFrame::Runtime {
        runtime: Runtime::Go,
        function: function.to_owned(),
        file: "main.go".into(),
        line: 42,
        inlined: false,
    };
    assert_eq!(
        stacks,
        vec![
            (
                vec![
                    RawFrame::Kernel {
                        function: "do_syscall_64".into(),
                        module: None
                    },
                    user.clone()
                ],
                2
            ),
            (vec![go("main.work"), go("main.main"), user.clone()], 7),
        ]
    );
    assert_eq!(
        valid.binaries,
        vec![(FileId::parse_hex(BUILD_ID).unwrap(), "/app".into())]
    );
}

#[test]
fn the_same_bytes_give_the_same_ids_and_other_bytes_others() {
    let bytes = request().encode_to_vec();
    let limits = OtlpLimits::default();
    let first = translate(&bytes, NOW, &limits).unwrap();
    let again = translate(&bytes, NOW + 1, &limits).unwrap();
    assert_eq!(first, again);
    let mut other = request();
    other.resource_profiles[0].scope_profiles[0].profiles[0].samples[0].values[0] += 1;
    let other = translate(&other.encode_to_vec(), NOW, &limits).unwrap();
    assert_ne!(first.batches[0].batch_id, other.batches[0].batch_id);
    assert!(first.batches[0].batch_id.starts_with("otlp-"));
}

#[test]
fn a_bad_profile_is_refused_alone() {
    let mut request = request();
    let good = request.resource_profiles[0].scope_profiles[0].profiles[0].clone();
    let mut dangling = good.clone();
    dangling.samples[0].stack_index = 999;
    let mut unknown_unit = good.clone();
    unknown_unit.sample_type = Some(ValueType {
        type_strindex: 0,
        unit_strindex: 0,
    });
    request.resource_profiles[0].scope_profiles[0].profiles = vec![dangling, good, unknown_unit];
    // A second resource without service.name, named as OTel SDKs do.
    request.resource_profiles.push(resource(
        &[("process.executable.name", "worker")],
        vec![request.resource_profiles[0].scope_profiles[0].profiles[1].clone()],
    ));
    let translation = translate(&request.encode_to_vec(), NOW, &OtlpLimits::default()).unwrap();
    assert_eq!(
        translation.rejected_profiles, 2,
        "{:?}",
        translation.messages
    );
    assert!(
        translation.messages[0].contains("stack index 999"),
        "{:?}",
        translation.messages
    );
    // Resource 1 has no host: a batch of its own.
    assert_eq!(translation.batches.len(), 2);
    let services: Vec<&str> = translation
        .batches
        .iter()
        .map(|b| b.batch.processes[0].labels["service"].as_str())
        .collect();
    assert_eq!(services, ["unknown_service:worker", "checkout"]);
    assert_eq!(
        translation
            .batches
            .iter()
            .map(|b| b.batch.samples.iter().map(|s| s.count).sum::<u64>())
            .collect::<Vec<_>>(),
        [9, 9]
    );
}

#[test]
fn garbage_and_bombs_are_refused_whole() {
    let limits = OtlpLimits::default();
    assert!(matches!(
        translate(b"\xff\xff\xff\xff not protobuf", NOW, &limits),
        Err(OtlpError::Malformed(_))
    ));
    // A million attributes in the dictionary: a few MB on the wire, far
    // more once decoded.
    let mut dict = Dict::new();
    let key_strindex = dict.s("k");
    dict.d.attribute_table = vec![
        KeyValueAndUnit {
            key_strindex,
            value: None,
            unit_strindex: 0,
        };
        1_000_000
    ];
    let bomb = ExportProfilesServiceRequest {
        resource_profiles: vec![],
        dictionary: Some(dict.d),
    }
    .encode_to_vec();
    let error = translate(&bomb, NOW, &limits).unwrap_err();
    assert!(matches!(error, OtlpError::TooLarge(_)), "{error}");
    let small = OtlpLimits {
        max_request_bytes: 100,
        ..limits
    };
    assert!(matches!(
        translate(&request().encode_to_vec(), NOW, &small),
        Err(OtlpError::TooLarge(_))
    ));
}

#[test]
fn runtime_and_other_frame_types() {
    let mut dict = Dict::new();
    let java = dict.named("jvm", &["Foo.inlined", "Foo.caller"]);
    let python = dict.named("cpython", &["handle"]);
    let php = dict.named("php", &["index"]);
    let nameless = dict.named("ruby", &[]);
    let stack = dict.stack(&[java, python, php, nameless]);
    let profile = dict.cpu_profile(&[(stack, 1)]);
    let request = ExportProfilesServiceRequest {
        resource_profiles: vec![resource(&[("service.name", "s")], vec![profile])],
        dictionary: Some(dict.d),
    };
    let translation = translate(&request.encode_to_vec(), NOW, &OtlpLimits::default()).unwrap();
    let payload = compress(&translation.batches[0].batch, 1).unwrap();
    let (valid, _, _) = decode(&payload, &Limits::default(), owned_frames).unwrap();
    let frames = &valid.samples[0].frames;
    assert!(
        matches!(&frames[0], RawFrame::Runtime { runtime: Runtime::Java, function, inlined: true, .. } if function == "Foo.inlined")
    );
    assert!(matches!(
        &frames[1],
        RawFrame::Runtime {
            runtime: Runtime::Java,
            inlined: false,
            ..
        }
    ));
    assert!(matches!(
        &frames[2],
        RawFrame::Runtime {
            runtime: Runtime::Python,
            ..
        }
    ));
    assert!(
        matches!(&frames[3], RawFrame::Named { function, origin } if function == "index" && origin == "php")
    );
    assert!(matches!(&frames[4], RawFrame::Unknown { reason } if reason.contains("ruby")));
    assert_eq!(frames.len(), 5);
}

#[test]
fn mutated_requests_give_batches_ingest_takes() {
    // The fuzz target's property over every one-byte change and every
    // truncation of a real request: what translates, ingest takes.
    let bytes = request().encode_to_vec();
    let limits = OtlpLimits {
        max_stack_depth: 3,
        ..OtlpLimits::default()
    };
    let ingest = Limits {
        max_stack_depth: 2,
        ..Limits::default()
    };
    let mut translated = 0;
    let mut variants: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
    for i in 0..bytes.len() {
        for value in [0x00, 0x01, 0x7f, 0x80, 0xff, bytes[i] ^ 0x01] {
            let mut changed = bytes.clone();
            changed[i] = value;
            variants.push(changed);
        }
    }
    for variant in &variants {
        let Ok(translation) = translate(variant, NOW, &limits) else {
            continue;
        };
        translated += 1;
        for batch in &translation.batches {
            assert!(batch.batch.samples.iter().all(|s| s.frames.len() <= 3));
            let payload = compress(&batch.batch, 1).unwrap();
            if let Err(error) = decode(&payload, &ingest, owned_frames) {
                panic!("ingest refuses {:?}: {error}", batch.batch);
            }
        }
    }
    assert!(
        translated > variants.len() / 4,
        "{translated} of {}",
        variants.len()
    );
}

#[test]
fn off_cpu_and_other_sample_types() {
    let mut dict = Dict::new();
    let go = dict.named("go", &["main.wait"]);
    let stack = dict.stack(&[go]);
    let mut off_cpu = dict.cpu_profile(&[(stack, 1_500)]);
    off_cpu.sample_type = Some(ValueType {
        type_strindex: dict.s("events"),
        unit_strindex: dict.s("nanoseconds"),
    });
    off_cpu.period_type = None;
    let mut alloc = dict.cpu_profile(&[(stack, 4096)]);
    alloc.sample_type = Some(ValueType {
        type_strindex: dict.s("alloc_space"),
        unit_strindex: dict.s("bytes"),
    });
    let request = ExportProfilesServiceRequest {
        resource_profiles: vec![resource(&[("service.name", "s")], vec![off_cpu, alloc])],
        dictionary: Some(dict.d),
    };
    let translation = translate(&request.encode_to_vec(), NOW, &OtlpLimits::default()).unwrap();
    let kinds: Vec<(&str, &str, u64, u64)> = translation
        .batches
        .iter()
        .map(|b| {
            (
                b.batch.profile_type.as_str(),
                b.batch.unit.as_str(),
                b.batch.period,
                b.batch.samples[0].count,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("alloc_space", "bytes", 1, 4096),
            ("off-cpu", "nanoseconds", 1, 1_500)
        ]
    );
}
