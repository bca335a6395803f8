//! One pprof profile of a push, turned into samples of every profile type
//! it carries (a Go heap profile holds four).
//!
//! Frames: a location's lines become runtime frames of the pushing SDK's
//! runtime (Go when none is known), innermost first, all but the outermost
//! `inlined`; a location without lines in a mapping with a GNU build-id
//! becomes a user frame at its file offset, for the symbolizer to name;
//! anything else an unknown frame. Values are stored as counts of the
//! profile's period when every value is a whole number of periods (CPU
//! profiles), else as counts of 1 in the type's unit.

use std::collections::HashMap;

use augur_profile::{FileId, Runtime, placeholder};
use prost::Message;

use super::{PushOrigin, TranslateError, Translator, content_digest, runtime_frame};
use crate::ingest::{Frame, UserFrame, frame};
use crate::pprof::{PprofError, inflate};
use crate::pprof_proto as pb;
use crate::protobuf::{self, RECURSION_LIMIT};

/// Why a profile was refused: its own bytes, or the request's bounds.
pub(super) enum Failure {
    Pprof(PprofError),
    Other(TranslateError),
}

impl From<PprofError> for Failure {
    fn from(error: PprofError) -> Self {
        Failure::Pprof(error)
    }
}

impl From<TranslateError> for Failure {
    fn from(error: TranslateError) -> Self {
        Failure::Other(error)
    }
}

/// A frame of a location before it joins a batch: user frames need the
/// batch's own binary index.
#[derive(Clone)]
enum LocationFrame {
    Ready(Frame, usize),
    User { mapping: usize, file_offset: u64 },
}

pub(super) fn translate(
    translator: &mut Translator,
    origin: &PushOrigin,
    raw: &[u8],
) -> Result<(), Failure> {
    let limits = translator.limits.clone();
    let bytes = inflate(raw, limits.max_inflated)?;
    translator.charge_decoded(
        decoded_size(&bytes)
            .map_err(|message| PprofError::Invalid(format!("not a pprof message: {message}")))?,
    )?;
    let message = pb::Profile::decode(&*bytes).map_err(|source| PprofError::Protobuf { source })?;
    drop(bytes);
    let strings = &message.string_table;
    let string = |index: i64| -> Result<&str, PprofError> {
        match usize::try_from(index).ok().and_then(|i| strings.get(i)) {
            Some(s) => Ok(s.as_str()),
            None if index == 0 => Ok(""),
            None => Err(PprofError::StringIndex {
                index,
                len: strings.len(),
            }),
        }
    };

    let mut functions: HashMap<u64, (&str, &str)> = HashMap::with_capacity(message.function.len());
    for function in &message.function {
        let mut name = string(function.name)?;
        if name.is_empty() {
            name = string(function.system_name)?;
        }
        functions.insert(function.id, (name, string(function.filename)?));
    }
    // Mappings with a GNU build-id: (build-id, path, start, offset).
    let mut mappings: Vec<(FileId, &str, u64, u64)> = Vec::new();
    let mut mapping_index: HashMap<u64, Option<usize>> =
        HashMap::with_capacity(message.mapping.len());
    for mapping in &message.mapping {
        let index = FileId::parse_hex(string(mapping.build_id)?)
            .ok()
            .map(|id| {
                mappings.push((
                    id,
                    string(mapping.filename)?,
                    mapping.memory_start,
                    mapping.file_offset,
                ));
                Ok::<_, PprofError>(mappings.len() - 1)
            })
            .transpose()?;
        mapping_index.insert(mapping.id, index);
    }

    let runtime = origin.runtime.unwrap_or(Runtime::Go);
    let mut locations: HashMap<u64, Vec<LocationFrame>> =
        HashMap::with_capacity(message.location.len());
    for location in &message.location {
        let mut frames = Vec::with_capacity(location.line.len().max(1));
        if location.line.is_empty() {
            let user = mapping_index
                .get(&location.mapping_id)
                .copied()
                .flatten()
                .map(|mapping| {
                    let (_, _, start, offset) = mappings[mapping];
                    LocationFrame::User {
                        mapping,
                        file_offset: location
                            .address
                            .checked_sub(start)
                            .and_then(|delta| delta.checked_add(offset))
                            .unwrap_or(location.address),
                    }
                });
            frames.push(user.unwrap_or_else(|| {
                let reason = placeholder::PUSHED_WITHOUT_NAME;
                let frame = Frame {
                    kind: Some(frame::Kind::Unknown(reason.to_owned())),
                };
                LocationFrame::Ready(frame, reason.len() + 4)
            }));
        }
        for (i, line) in location.line.iter().enumerate() {
            let &(function, file) =
                functions
                    .get(&line.function_id)
                    .ok_or(PprofError::UnknownId {
                        kind: "function",
                        id: line.function_id,
                    })?;
            let inlined = i + 1 < location.line.len();
            let line = u32::try_from(line.line).unwrap_or(0);
            let (frame, size) = runtime_frame(runtime, function, file, line, inlined);
            frames.push(LocationFrame::Ready(frame, size));
        }
        locations.insert(location.id, frames);
    }

    // The types this profile carries, each with its batch's period.
    let period_unit = match &message.period_type {
        Some(t) => string(t.unit)?,
        None => "",
    };
    let mut types: Vec<(usize, String, &str, u64)> = Vec::new();
    for (index, sample_type) in message.sample_type.iter().enumerate() {
        let (name, unit) = (string(sample_type.r#type)?, string(sample_type.unit)?);
        let Some(augur) = augur_profile::types::from_pprof_sample_type(
            &origin.profile_name,
            &name.to_ascii_lowercase(),
            &unit.to_ascii_lowercase(),
        ) else {
            continue;
        };
        let period = u64::try_from(message.period)
            .ok()
            .filter(|&p| p > 1 && period_unit.eq_ignore_ascii_case(unit))
            .filter(|&p| {
                message.sample.iter().all(|s| {
                    s.value
                        .get(index)
                        .is_none_or(|&v| v <= 0 || (v as u64) % p == 0)
                })
            })
            .unwrap_or(1);
        types.push((index, augur, unit, period));
    }

    let (window, timed) = match origin.window {
        Some(window) => (window, true),
        None => {
            let timed = message.time_nanos > 0;
            let start = if timed {
                message.time_nanos
            } else {
                now_nanos()
            };
            let end = start.saturating_add(message.duration_nanos.max(0));
            ((start, end), timed)
        }
    };
    // A profile timed by its arrival is identified by its content alone,
    // so that its retry, arriving later, is still the same batch.
    let id_window = if timed { window } else { (0, 0) };
    let digest = content_digest(raw);
    let mut builders = Vec::with_capacity(types.len());
    for (_, name, unit, period) in &types {
        let unit = unit.to_ascii_lowercase();
        translator.batch(name, &unit, *period, origin, window)?;
        builders.push((name.clone(), *period));
    }
    for key in &builders {
        if let Some(builder) = translator.batches.get_mut(key) {
            builder.identify(origin, id_window, &digest);
        }
    }

    // Label sets of samples, by their pprof string indexes.
    let mut label_sets: HashMap<Vec<(i64, i64)>, usize> = HashMap::new();
    let mut label_maps: Vec<std::collections::BTreeMap<String, String>> = Vec::new();
    let mut processes: Vec<Vec<Option<u32>>> = vec![Vec::new(); types.len()];
    let mut key: Vec<(i64, i64)> = Vec::new();
    let max_depth = limits.max_stack_depth.saturating_add(1);
    for (n, sample) in message.sample.iter().enumerate() {
        if sample.value.len() != message.sample_type.len() {
            return Err(PprofError::Invalid(format!(
                "sample {n} has {} values for {} sample types",
                sample.value.len(),
                message.sample_type.len()
            ))
            .into());
        }
        key.clear();
        key.extend(
            sample
                .label
                .iter()
                .filter(|l| l.str != 0)
                .map(|l| (l.key, l.str)),
        );
        let set = match label_sets.get(&key) {
            Some(&set) => set,
            None => {
                if label_maps.len() >= 100_000 {
                    return Err(TranslateError::TooLarge(
                        "a profile carries more than 100000 distinct label sets".into(),
                    )
                    .into());
                }
                let mut labels = origin.labels.clone();
                for &(k, v) in &key {
                    let (k, v) = (string(k)?, string(v)?);
                    if !k.is_empty() && !k.starts_with("__") && k != "service" {
                        labels.insert(k.to_owned(), v.to_owned());
                    }
                }
                labels.insert("service".to_owned(), origin.service.clone());
                label_maps.push(labels);
                label_sets.insert(key.clone(), label_maps.len() - 1);
                label_maps.len() - 1
            }
        };
        for (t, (index, name, _, period)) in types.iter().enumerate() {
            let value = sample.value[*index];
            if value <= 0 {
                continue;
            }
            let count = value as u64 / period;
            let Some(builder) = translator.batches.get_mut(&(name.clone(), *period)) else {
                continue;
            };
            let slots = &mut processes[t];
            if slots.len() <= set {
                slots.resize(set + 1, None);
            }
            let mut size = 12;
            let process = match slots[set] {
                Some(process) => process,
                None => {
                    let (process, added) = builder.process(label_maps[set].clone());
                    size += added;
                    slots[set] = Some(process);
                    process
                }
            };
            let mut frames = Vec::with_capacity(sample.location_id.len().min(max_depth));
            'stack: for id in &sample.location_id {
                let location = locations.get(id).ok_or(PprofError::UnknownId {
                    kind: "location",
                    id: *id,
                })?;
                for frame in location {
                    if frames.len() == max_depth {
                        break 'stack;
                    }
                    match frame {
                        LocationFrame::Ready(frame, bytes) => {
                            size += bytes;
                            frames.push(frame.clone());
                        }
                        LocationFrame::User {
                            mapping,
                            file_offset,
                        } => {
                            let (id, path, _, _) = &mappings[*mapping];
                            let (binary, added) = builder.binary(id.as_bytes(), path);
                            size += added + 16;
                            frames.push(Frame {
                                kind: Some(frame::Kind::User(UserFrame {
                                    binary,
                                    file_offset: *file_offset,
                                })),
                            });
                        }
                    }
                }
            }
            builder.push_sample(process, frames, count);
            translator.charge_output(size)?;
        }
    }
    Ok(())
}

pub(super) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Bytes a pprof message takes once prost decodes it, estimated from its
/// protobuf before decoding: each message at its struct's size, each
/// repeated number at 8 bytes, each string at its length and header. A
/// tiny message of many empty entries decodes to many times its size; this
/// is what bounds that.
fn decoded_size(bytes: &[u8]) -> protobuf::Result<usize> {
    let mut total = 0usize;
    protobuf::each_field(bytes, RECURSION_LIMIT, |field, value| {
        total = total.saturating_add(match field {
            // sample_type, mapping, function, string_table
            1 | 3 | 5 | 6 => match value {
                protobuf::Value::Bytes(b) => 96 + b.len(),
                _ => 8,
            },
            // sample: location ids, values and labels
            2 | 4 => nested_size(value.bytes()?)?,
            // comment, packed or not
            13 => match value {
                protobuf::Value::Bytes(b) => b.len().saturating_mul(8),
                _ => 8,
            },
            _ => 8,
        });
        Ok(())
    })?;
    Ok(total)
}

/// A sample's or location's size: the struct, 8 bytes per number of its
/// packed lists, and 48 per label or line.
fn nested_size(bytes: &[u8]) -> protobuf::Result<usize> {
    let mut total = 160usize;
    protobuf::each_field(bytes, RECURSION_LIMIT - 1, |_, value| {
        total = total.saturating_add(match value {
            protobuf::Value::Bytes(b) => 48usize.max(b.len().saturating_mul(8)),
            _ => 8,
        });
        Ok(())
    })?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::{TranslateError, TranslateLimits, Translator};
    use super::*;
    use crate::ingest::Batch;

    fn heap() -> pb::Profile {
        let strings: Vec<String> = [
            "",
            "alloc_objects",
            "count",
            "alloc_space",
            "bytes",
            "inuse_objects",
            "inuse_space",
            "space",
            "main.leaf",
            "main.go",
            "main.caller",
            "/bin/app",
            "0123456789abcdef0123456789abcdef01234567",
        ]
        .map(String::from)
        .to_vec();
        let vt = |t, u| pb::ValueType { r#type: t, unit: u };
        pb::Profile {
            sample_type: vec![vt(1, 2), vt(3, 4), vt(5, 2), vt(6, 4)],
            sample: vec![pb::Sample {
                location_id: vec![1, 2],
                value: vec![3, 3000, 1, 1000],
                label: vec![],
            }],
            mapping: vec![pb::Mapping {
                id: 1,
                memory_start: 0x400000,
                memory_limit: 0x500000,
                file_offset: 0x1000,
                filename: 11,
                build_id: 12,
                ..Default::default()
            }],
            location: vec![
                pb::Location {
                    id: 1,
                    line: vec![
                        pb::Line {
                            function_id: 1,
                            line: 7,
                            column: 0,
                        },
                        pb::Line {
                            function_id: 2,
                            line: 12,
                            column: 0,
                        },
                    ],
                    ..Default::default()
                },
                pb::Location {
                    id: 2,
                    mapping_id: 1,
                    address: 0x400123,
                    ..Default::default()
                },
            ],
            function: vec![
                pb::Function {
                    id: 1,
                    name: 8,
                    filename: 9,
                    ..Default::default()
                },
                pb::Function {
                    id: 2,
                    name: 10,
                    filename: 9,
                    ..Default::default()
                },
            ],
            string_table: strings,
            time_nanos: 5_000_000_000,
            period_type: Some(vt(7, 4)),
            period: 524_288,
            ..Default::default()
        }
    }

    fn origin() -> PushOrigin {
        PushOrigin::from_legacy(
            &super::super::LegacyName::parse("app{env=prod}").unwrap(),
            Some("gospy"),
            None,
        )
    }

    #[test]
    fn a_go_heap_becomes_four_types_with_inlined_runtime_and_user_frames() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&heap().encode_to_vec()).unwrap();
        let raw = gz.finish().unwrap();
        let mut translator = Translator::new(TranslateLimits::default());
        translator.add_pprof(&origin(), &raw).unwrap();
        let batches = translator.finish().unwrap();
        let types: Vec<&str> = batches.iter().map(|b| b.profile_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "alloc_objects",
                "alloc_space",
                "inuse_objects",
                "inuse_space"
            ]
        );
        let raw = zstd::bulk::decompress(&batches[3].payload, 1 << 20).unwrap();
        let batch = Batch::decode(&*raw).unwrap();
        assert_eq!((batch.unit.as_str(), batch.period), ("bytes", 1));
        assert_eq!(batch.start_unix_nanos, 5_000_000_000);
        let sample = &batch.samples[0];
        assert_eq!(sample.count, 1000);
        let kinds: Vec<_> = sample
            .frames
            .iter()
            .map(|f| f.kind.clone().unwrap())
            .collect();
        let frame::Kind::Runtime(leaf) = &kinds[0] else {
            panic!("{kinds:?}")
        };
        assert_eq!((leaf.function.as_str(), leaf.inlined), ("main.leaf", true));
        let frame::Kind::Runtime(caller) = &kinds[1] else {
            panic!("{kinds:?}")
        };
        assert_eq!(
            (caller.function.as_str(), caller.inlined),
            ("main.caller", false)
        );
        assert_eq!(caller.runtime, "go");
        let frame::Kind::User(user) = &kinds[2] else {
            panic!("{kinds:?}")
        };
        assert_eq!(user.file_offset, 0x1123);
        assert_eq!(batch.binaries[user.binary as usize].path, "/bin/app");
        assert_eq!(batch.processes[0].labels["env"], "prod");
        assert_eq!(batch.processes[0].labels["service"], "app");
    }

    #[test]
    fn many_empty_samples_are_refused_before_decoding() {
        // 200,000 empty samples: 400 KB of protobuf, tens of MB decoded.
        let bytes: Vec<u8> = std::iter::repeat_n([0x12u8, 0x00], 200_000)
            .flatten()
            .collect();
        let mut translator = Translator::new(TranslateLimits {
            max_decoded: 8 << 20,
            ..TranslateLimits::default()
        });
        let error = translator.add_pprof(&origin(), &bytes).unwrap_err();
        assert!(matches!(error, TranslateError::TooLarge(_)), "{error}");
    }
}
