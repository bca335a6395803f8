//! Our [`Profile`] as gzipped pprof (`perftools.profiles`), the format
//! `go tool pprof` and most profiling UIs read, and back.
//!
//! How the model maps onto pprof:
//! - Two sample types, `samples/count` and the profile's own type (such as
//!   `cpu/nanoseconds`, the default), valued `count` and `count * period`.
//!   The service is named by a `service=<name>` comment and a `service`
//!   label on every sample.
//! - One mapping per build-id. Its addresses are file offsets (`[0, limit)`
//!   maps to file offset 0 onwards), so a user frame's `address` is its
//!   file offset, which is all that ever leaves a host.
//! - One location per distinct [`Location`]; its lines are the symbols,
//!   innermost first as pprof wants. A location without symbols gets one
//!   placeholder line carrying the name our UI shows for it, such as
//!   `[app+0x1234]`, so pprof reports match ours. Kernel and unknown frames
//!   have no mapping; kernel functions get perf's object names as their file
//!   (`[kernel.kallsyms]` or `[module]`), which tells them from unknown
//!   frames when decoding.
//! - Runtime frames (Python, Java) are lines of locations in a synthetic
//!   mapping per runtime, named `[python]` or `[java]` and without a
//!   build-id: `Function{name = function, filename = file}`, `Line{line}`.
//!   A frame the JIT inlined shares one location with the frames it was
//!   inlined into, innermost first, as a native inline chain does; decoding
//!   splits the location back into frames, all but its last `inlined`. (A
//!   frame marked inlined with no frame of its runtime toward the root,
//!   which agents do not send, stands alone and reads back not inlined.)
//!
//! Decoding inverts this exactly for files we wrote and does its best with
//! other producers' files. Its memory is bounded twice: at most
//! `max_inflated` bytes of protobuf, and a decoded model of at most
//! [`MAX_EXPANSION`] times that, since a pprof location shared by many
//! samples is copied into each of them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::mem::size_of;

use augur_profile::{FileId, Location, Profile, ProfileType, RawFrame, Runtime, Sample, Symbol};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use prost::Message;

use crate::pprof_proto as pb;

/// How many bytes of decoded [`Profile`] one inflated byte may become.
pub const MAX_EXPANSION: usize = 64;

/// The sample type every Augur profile carries first.
const SAMPLES_TYPE: (&str, &str) = ("samples", "count");
/// Function file of core kernel frames; modules get `[name]`, as in perf.
const KERNEL_FILE: &str = "[kernel.kallsyms]";
/// File name of the synthetic mapping holding a runtime's locations.
fn runtime_mapping_file(runtime: Runtime) -> String {
    format!("[{runtime}]")
}
const SERVICE_LABEL: &str = "service";
const SERVICE_COMMENT: &str = "service=";
/// Mappings end on a page boundary, as real ones do. A zero limit would tell
/// pprof's own symbolizer that addresses are already relocated.
const PAGE_SIZE: u64 = 4096;

/// Why a pprof file could not be decoded. [`PprofError::reason`] names the
/// metric label.
#[derive(Debug, thiserror::Error)]
pub enum PprofError {
    /// The protobuf (after gzip, if any) is larger than the limit.
    #[error("profile inflates beyond the {limit}-byte limit")]
    TooLarge {
        /// Configured limit on the inflated bytes.
        limit: usize,
    },
    /// The decoded model would be larger than its budget.
    #[error("decoded profile would exceed its {limit}-byte memory budget")]
    ExpandsTooLarge {
        /// Budget of the decoded model, in bytes.
        limit: usize,
    },
    /// The input starts like gzip but does not inflate.
    #[error("profile is not valid gzip")]
    Gzip {
        /// Inflater error.
        #[source]
        source: io::Error,
    },
    /// The inflated bytes are not a `perftools.profiles.Profile`.
    #[error("profile is not a valid pprof message")]
    Protobuf {
        /// Protobuf error.
        #[source]
        source: prost::DecodeError,
    },
    /// A string index outside the string table.
    #[error("string index {index} is outside the string table of {len} entries")]
    StringIndex {
        /// Index found.
        index: i64,
        /// Size of the string table.
        len: usize,
    },
    /// A reference to a mapping, location or function that does not exist.
    #[error("reference to unknown {kind} id {id}")]
    UnknownId {
        /// `mapping`, `location` or `function`.
        kind: &'static str,
        /// Id referenced.
        id: u64,
    },
    /// The message decoded but breaks a rule of the format.
    #[error("invalid profile: {0}")]
    Invalid(String),
}

impl PprofError {
    /// A short, stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            PprofError::TooLarge { .. } => "too_large",
            PprofError::ExpandsTooLarge { .. } => "expands_too_large",
            PprofError::Gzip { .. } => "bad_compression",
            PprofError::Protobuf { .. } => "bad_protobuf",
            PprofError::StringIndex { .. } | PprofError::UnknownId { .. } => "dangling_reference",
            PprofError::Invalid(_) => "invalid",
        }
    }
}

/// Encodes a profile as gzipped pprof. Fails only if gzip does, which
/// writing into memory does not; the `Result` matches the other renderers.
pub fn encode(profile: &Profile) -> io::Result<Vec<u8>> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&to_proto(profile).encode_to_vec())?;
    gzip.finish()
}

/// Encodes several profiles of one service, each of its own sample type,
/// as one gzipped pprof with every type (as Go's heap profile carries
/// `alloc_objects`, `alloc_space`, `inuse_objects` and `inuse_space`):
/// each sample holds its own type's value and 0 for the others, so
/// `go tool pprof -sample_index=TYPE` reads any of them. The last type is
/// the default. Samples, locations and functions are shared.
pub fn encode_types(profiles: &[Profile]) -> io::Result<Vec<u8>> {
    let Some(first) = profiles.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no profile to encode",
        ));
    };
    let union = Profile {
        samples: profiles.iter().flat_map(|p| p.samples.clone()).collect(),
        ..first.clone()
    };
    let mut proto = to_proto(&union);
    let mut intern = |text: &str| -> i64 {
        if let Some(i) = proto.string_table.iter().position(|s| s == text) {
            return i as i64;
        }
        proto.string_table.push(text.to_owned());
        proto.string_table.len() as i64 - 1
    };
    let types: Vec<pb::ValueType> = profiles
        .iter()
        .map(|p| pb::ValueType {
            r#type: intern(&p.profile_type.name),
            unit: intern(&p.profile_type.unit),
        })
        .collect();
    let default_type = types.last().map_or(0, |t| t.r#type);
    let mut samples = proto.sample.iter_mut();
    for (k, profile) in profiles.iter().enumerate() {
        let period = i64::try_from(profile.period).unwrap_or(i64::MAX);
        // Ours first: zip pulls from its first iterator first, and must not
        // take a sample of the next profile when this one ends.
        for (ours, sample) in profile.samples.iter().zip(samples.by_ref()) {
            let mut value = vec![0i64; profiles.len()];
            value[k] = i64::try_from(ours.count)
                .unwrap_or(i64::MAX)
                .saturating_mul(period);
            sample.value = value;
        }
    }
    proto.period_type = types.first().cloned();
    proto.period = 1;
    proto.sample_type = types;
    proto.default_sample_type = default_type;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(&proto.encode_to_vec())?;
    gzip.finish()
}

/// The profile's pprof message, not compressed: what an API answers with
/// when the protocol compresses (or not) by itself.
pub fn encode_message(profile: &Profile) -> Vec<u8> {
    to_proto(profile).encode_to_vec()
}

/// Decodes gzipped (or plain) pprof into our model. At most `max_inflated`
/// bytes of protobuf are inflated, and the decoded profile may take at most
/// [`MAX_EXPANSION`] times that.
pub fn decode(bytes: &[u8], max_inflated: usize) -> Result<Profile, PprofError> {
    decode_type(bytes, max_inflated, None)
}

/// [`decode`], reading the values of `sample_type` (e.g. `alloc_space` of
/// a heap profile) rather than the default type; an error when the profile
/// has no such type.
pub fn decode_type(
    bytes: &[u8],
    max_inflated: usize,
    sample_type: Option<&str>,
) -> Result<Profile, PprofError> {
    let message = {
        let raw = inflate(bytes, max_inflated)?;
        pb::Profile::decode(&*raw).map_err(|source| PprofError::Protobuf { source })?
    };
    from_proto(
        &message,
        Budget::new(max_inflated.saturating_mul(MAX_EXPANSION)),
        sample_type,
    )
}

/// The line an unsymbolized location gets, so pprof shows it the way our UI
/// does. Decoding recognises it and leaves such locations unsymbolized.
fn placeholder_symbol(location: &Location) -> Symbol {
    let (function, file) = match &location.frame {
        RawFrame::Kernel { function, module } => (
            function.clone(),
            Some(
                module
                    .as_ref()
                    .map_or_else(|| KERNEL_FILE.to_owned(), |m| format!("[{m}]")),
            ),
        ),
        // Host-named frames keep their origin in braces, apart from modules.
        RawFrame::Named { function, origin } => (function.clone(), Some(format!("{{{origin}}}"))),
        // One name for frames without symbols: `[object+0xoffset]` or `[reason]`.
        RawFrame::User { .. } | RawFrame::Unknown { .. } => (location.names().swap_remove(0), None),
        // Named by the runtime: always its own symbol.
        RawFrame::Runtime { .. } => {
            return location
                .frame
                .own_symbol()
                .expect("a runtime frame names itself");
        }
    };
    Symbol {
        function,
        file,
        line: None,
    }
}

/// The string table: every string once, `""` at index 0.
struct StringTable {
    strings: Vec<String>,
    index: HashMap<String, i64>,
}

impl StringTable {
    fn new() -> Self {
        Self {
            strings: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }

    fn intern(&mut self, text: &str) -> i64 {
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(text.to_owned());
        self.index.insert(text.to_owned(), i);
        i
    }

    fn value_type(&mut self, name: &str, unit: &str) -> pb::ValueType {
        pb::ValueType {
            r#type: self.intern(name),
            unit: self.intern(unit),
        }
    }
}

/// What the locations of one build-id say about its mapping.
struct MappingSummary<'p> {
    build_id: &'p FileId,
    path: Option<&'p str>,
    max_offset: u64,
    has_functions: bool,
    has_filenames: bool,
    has_line_numbers: bool,
}

/// How many of `locations` (leaf first, not empty) one pprof location
/// holds: a runtime frame the JIT inlined joins the next one toward the
/// root, of the same runtime; every other location stands alone.
fn inline_run(locations: &[Location]) -> usize {
    let mut len = 1;
    while let (
        RawFrame::Runtime {
            runtime,
            inlined: true,
            ..
        },
        Some(RawFrame::Runtime { runtime: next, .. }),
    ) = (
        &locations[len - 1].frame,
        locations.get(len).map(|l| &l.frame),
    ) {
        if runtime != next {
            break;
        }
        len += 1;
    }
    len
}

fn to_proto(profile: &Profile) -> pb::Profile {
    let mut strings = StringTable::new();

    // Distinct pprof locations in first-seen order, each a run of our
    // locations (one, or an inlined runtime chain); a location's id is its
    // position + 1. Stacks become id lists on the way.
    let mut location_ids: HashMap<&[Location], u64> = HashMap::new();
    let mut locations: Vec<&[Location]> = Vec::new();
    let mut stacks: Vec<Vec<u64>> = Vec::with_capacity(profile.samples.len());
    for sample in &profile.samples {
        let mut stack = Vec::with_capacity(sample.locations.len());
        let mut rest = sample.locations.as_slice();
        while !rest.is_empty() {
            let (run, tail) = rest.split_at(inline_run(rest));
            rest = tail;
            let id = *location_ids.entry(run).or_insert_with(|| {
                locations.push(run);
                locations.len() as u64
            });
            stack.push(id);
        }
        stacks.push(stack);
    }

    // One mapping per build-id, numbered the same way, then one per runtime.
    let mut mapping_ids: HashMap<&FileId, u64> = HashMap::new();
    let mut summaries: Vec<MappingSummary<'_>> = Vec::new();
    let mut runtimes: Vec<Runtime> = Vec::new();
    for run in &locations {
        let location = &run[0];
        if let RawFrame::Runtime { runtime, .. } = location.frame {
            if !runtimes.contains(&runtime) {
                runtimes.push(runtime);
            }
            continue;
        }
        let RawFrame::User {
            build_id,
            file_offset,
        } = &location.frame
        else {
            continue;
        };
        let id = *mapping_ids.entry(build_id).or_insert_with(|| {
            summaries.push(MappingSummary {
                build_id,
                path: None,
                max_offset: 0,
                has_functions: false,
                has_filenames: false,
                has_line_numbers: false,
            });
            summaries.len() as u64
        });
        let summary = &mut summaries[id as usize - 1];
        summary.path = summary.path.or(location.path.as_deref());
        summary.max_offset = summary.max_offset.max(*file_offset);
        summary.has_functions |= !location.symbols.is_empty();
        summary.has_filenames |= location.symbols.iter().any(|s| s.file.is_some());
        summary.has_line_numbers |= location.symbols.iter().any(|s| s.line.is_some());
    }
    let runtime_mapping_ids: HashMap<Runtime, u64> = runtimes
        .iter()
        .zip(summaries.len() as u64 + 1..)
        .map(|(&runtime, id)| (runtime, id))
        .collect();
    let runtime_mappings: Vec<pb::Mapping> = runtimes
        .iter()
        .map(|&runtime| pb::Mapping {
            id: runtime_mapping_ids[&runtime],
            memory_start: 0,
            memory_limit: PAGE_SIZE,
            file_offset: 0,
            filename: strings.intern(&runtime_mapping_file(runtime)),
            build_id: 0,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        })
        .collect();
    let mut mapping: Vec<pb::Mapping> = summaries
        .iter()
        .zip(1..)
        .map(|(m, id)| {
            let build_id = m.build_id.to_hex();
            pb::Mapping {
                id,
                memory_start: 0,
                memory_limit: (m.max_offset / PAGE_SIZE)
                    .saturating_add(1)
                    .saturating_mul(PAGE_SIZE),
                file_offset: 0,
                filename: strings.intern(m.path.unwrap_or(&build_id)),
                build_id: strings.intern(&build_id),
                has_functions: m.has_functions,
                has_filenames: m.has_filenames,
                has_line_numbers: m.has_line_numbers,
                // Symbols always carry the whole inline chain.
                has_inline_frames: m.has_functions,
            }
        })
        .collect();
    mapping.extend(runtime_mappings);

    let mut function_ids: HashMap<(i64, i64), u64> = HashMap::new();
    let mut functions: Vec<pb::Function> = Vec::new();
    let location = locations
        .iter()
        .zip(1..)
        .map(|(run, id)| {
            let location = &run[0];
            let (mapping_id, address) = match &location.frame {
                RawFrame::User {
                    build_id,
                    file_offset,
                } => (mapping_ids[build_id], *file_offset),
                RawFrame::Runtime { runtime, .. } => (runtime_mapping_ids[runtime], 0),
                RawFrame::Kernel { .. } | RawFrame::Named { .. } | RawFrame::Unknown { .. } => {
                    (0, 0)
                }
            };
            let symbols = if let RawFrame::Runtime { .. } = location.frame {
                // Each frame of the run names itself, innermost first.
                Cow::Owned(run.iter().map(placeholder_symbol).collect())
            } else if location.symbols.is_empty() {
                Cow::Owned(vec![placeholder_symbol(location)])
            } else {
                Cow::Borrowed(location.symbols.as_slice())
            };
            let line = symbols
                .iter()
                .map(|symbol| {
                    let name = strings.intern(&symbol.function);
                    let filename = strings.intern(symbol.file.as_deref().unwrap_or(""));
                    let function_id = *function_ids.entry((name, filename)).or_insert_with(|| {
                        let id = functions.len() as u64 + 1;
                        functions.push(pb::Function {
                            id,
                            name,
                            system_name: name,
                            filename,
                            start_line: 0,
                        });
                        id
                    });
                    pb::Line {
                        function_id,
                        line: symbol.line.map_or(0, i64::from),
                        column: 0,
                    }
                })
                .collect();
            pb::Location {
                id,
                mapping_id,
                address,
                line,
                is_folded: false,
            }
        })
        .collect();

    let period = i64::try_from(profile.period).unwrap_or(i64::MAX);
    let service_label = pb::Label {
        key: strings.intern(SERVICE_LABEL),
        str: strings.intern(&profile.service),
        ..Default::default()
    };
    let sample = profile
        .samples
        .iter()
        .zip(stacks)
        .map(|(sample, location_id)| {
            let count = i64::try_from(sample.count).unwrap_or(i64::MAX);
            pb::Sample {
                location_id,
                value: vec![count, count.saturating_mul(period)],
                label: vec![service_label],
            }
        })
        .collect();

    let ProfileType { name, unit } = &profile.profile_type;
    pb::Profile {
        sample_type: vec![
            strings.value_type(SAMPLES_TYPE.0, SAMPLES_TYPE.1),
            strings.value_type(name, unit),
        ],
        sample,
        mapping,
        location,
        function: functions,
        time_nanos: profile.start_unix_nanos,
        duration_nanos: profile
            .end_unix_nanos
            .saturating_sub(profile.start_unix_nanos)
            .max(0),
        period_type: Some(strings.value_type(name, unit)),
        period,
        comment: vec![strings.intern(&format!("{SERVICE_COMMENT}{}", profile.service))],
        default_sample_type: strings.intern(name),
        string_table: strings.strings,
        ..Default::default()
    }
}

/// Inflates gzip input, or passes plain protobuf through, within `limit`.
pub(crate) fn inflate(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, PprofError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        if bytes.len() > limit {
            return Err(PprofError::TooLarge { limit });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    let mut raw = Vec::new();
    // Read one byte past the limit to tell "exactly at" from "beyond".
    MultiGzDecoder::new(bytes)
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|source| PprofError::Gzip { source })?;
    if raw.len() > limit {
        return Err(PprofError::TooLarge { limit });
    }
    Ok(Cow::Owned(raw))
}

/// Bytes the decoded model may still take.
struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self { left: limit, limit }
    }

    /// Charges `bytes` before they are allocated.
    fn spend(&mut self, bytes: usize) -> Result<(), PprofError> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or(PprofError::ExpandsTooLarge { limit: self.limit })?;
        Ok(())
    }
}

/// Size of a decoded location, inline and on the heap, as charged to the
/// budget: its frame and path, plus its symbols.
fn location_size(location: &Location) -> usize {
    frame_size(location)
        + location
            .symbols
            .iter()
            .map(|s| symbol_size(&s.function, s.file.as_deref()))
            .sum::<usize>()
}

fn frame_size(location: &Location) -> usize {
    size_of::<Location>()
        + location.frame.heap_bytes()
        + location.path.as_ref().map_or(0, String::len)
}

fn symbol_size(function: &str, file: Option<&str>) -> usize {
    size_of::<Symbol>() + function.len() + file.map_or(0, str::len)
}

/// A mapping as user frames need it.
struct DecodedMapping<'m> {
    build_id: Option<FileId>,
    /// The runtime whose synthetic mapping this is.
    runtime: Option<Runtime>,
    path: Option<&'m str>,
    memory_start: u64,
    file_offset: u64,
}

/// Lookups into a decoded message, borrowing its strings.
struct Tables<'m> {
    strings: &'m [String],
    functions: HashMap<u64, (&'m str, &'m str)>,
    mappings: HashMap<u64, DecodedMapping<'m>>,
}

impl<'m> Tables<'m> {
    fn string(&self, index: i64) -> Result<&'m str, PprofError> {
        match usize::try_from(index)
            .ok()
            .and_then(|i| self.strings.get(i))
        {
            Some(s) => Ok(s),
            // A profile without strings still means "" by index 0.
            None if index == 0 => Ok(""),
            None => Err(PprofError::StringIndex {
                index,
                len: self.strings.len(),
            }),
        }
    }

    /// The locations of our model one pprof location holds: one, or for a
    /// runtime's mapping one per line (an inlined chain).
    fn locations(
        &self,
        location: &pb::Location,
        budget: &mut Budget,
    ) -> Result<Vec<Location>, PprofError> {
        let runtime = match location.mapping_id {
            0 => None,
            id => self.mappings.get(&id).and_then(|m| m.runtime),
        };
        // Without lines (no writer of ours makes one) it is a location
        // like any other.
        let Some(runtime) = runtime.filter(|_| !location.line.is_empty()) else {
            return Ok(vec![self.location(location, budget)?]);
        };
        let mut frames = Vec::with_capacity(location.line.len());
        for (i, line) in location.line.iter().enumerate() {
            let &(function, file) =
                self.functions
                    .get(&line.function_id)
                    .ok_or(PprofError::UnknownId {
                        kind: "function",
                        id: line.function_id,
                    })?;
            let frame = RawFrame::Runtime {
                runtime,
                function: function.to_owned(),
                file: file.to_owned(),
                line: u32::try_from(line.line).unwrap_or(0),
                // Every line but the outermost is inlined into the next.
                inlined: i + 1 < location.line.len(),
            };
            let decoded = Location::new(frame, None, Vec::new());
            budget.spend(location_size(&decoded))?;
            frames.push(decoded);
        }
        Ok(frames)
    }

    fn location(
        &self,
        location: &pb::Location,
        budget: &mut Budget,
    ) -> Result<Location, PprofError> {
        let mut symbols = Vec::with_capacity(location.line.len());
        for line in &location.line {
            let &(function, file) =
                self.functions
                    .get(&line.function_id)
                    .ok_or(PprofError::UnknownId {
                        kind: "function",
                        id: line.function_id,
                    })?;
            let file = (!file.is_empty()).then_some(file);
            budget.spend(symbol_size(function, file))?;
            symbols.push(Symbol {
                function: function.to_owned(),
                file: file.map(str::to_owned),
                line: u32::try_from(line.line).ok().filter(|&l| l > 0),
            });
        }
        let (frame, path) = match location.mapping_id {
            0 => (frame_without_mapping(&symbols, location.address), None),
            id => {
                let mapping = self.mappings.get(&id).ok_or(PprofError::UnknownId {
                    kind: "mapping",
                    id,
                })?;
                let frame = match &mapping.build_id {
                    Some(build_id) => RawFrame::User {
                        build_id: build_id.clone(),
                        file_offset: location
                            .address
                            .checked_sub(mapping.memory_start)
                            .and_then(|delta| delta.checked_add(mapping.file_offset))
                            .unwrap_or(location.address),
                    },
                    None => RawFrame::Unknown {
                        reason: "no build-id".into(),
                    },
                };
                (frame, mapping.path.map(str::to_owned))
            }
        };
        let bare = Location {
            frame,
            path,
            symbols: Vec::new(),
        };
        let decoded = if symbols == [placeholder_symbol(&bare)] {
            bare
        } else {
            Location { symbols, ..bare }
        };
        // The symbols were charged as they were built.
        budget.spend(frame_size(&decoded))?;
        Ok(decoded)
    }
}

/// The frame of a location without a mapping: a kernel frame when its
/// function's file is a perf object name, an unknown frame when the function
/// is a bracketed reason, otherwise a kernel-like frame named after the
/// innermost function.
fn frame_without_mapping(symbols: &[Symbol], address: u64) -> RawFrame {
    let Some(innermost) = symbols.first() else {
        return RawFrame::Unknown {
            reason: format!("unmapped address {address:#x}"),
        };
    };
    let function = innermost.function.clone();
    let bracketed = |text: &str| {
        text.strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let braced = innermost
        .file
        .as_deref()
        .and_then(|f| f.strip_prefix('{'))
        .and_then(|f| f.strip_suffix('}'))
        .filter(|f| !f.is_empty());
    if let Some(origin) = braced {
        return RawFrame::Named {
            function,
            origin: origin.to_owned(),
        };
    }
    match innermost.file.as_deref() {
        Some(KERNEL_FILE) => RawFrame::Kernel {
            function,
            module: None,
        },
        Some(file) if bracketed(file).is_some() => RawFrame::Kernel {
            function,
            module: bracketed(file),
        },
        _ => match bracketed(&function) {
            Some(reason) => RawFrame::Unknown { reason },
            None => RawFrame::Kernel {
                function,
                module: None,
            },
        },
    }
}

fn from_proto(
    message: &pb::Profile,
    mut budget: Budget,
    wanted: Option<&str>,
) -> Result<Profile, PprofError> {
    let mut tables = Tables {
        strings: &message.string_table,
        functions: HashMap::with_capacity(message.function.len()),
        mappings: HashMap::with_capacity(message.mapping.len()),
    };
    for function in &message.function {
        let mut name = tables.string(function.name)?;
        if name.is_empty() {
            name = tables.string(function.system_name)?;
        }
        let file = tables.string(function.filename)?;
        check_id(
            "function",
            function.id,
            tables.functions.insert(function.id, (name, file)).is_some(),
        )?;
    }
    for mapping in &message.mapping {
        let build_id = tables.string(mapping.build_id)?;
        let filename = tables.string(mapping.filename)?;
        let build_id = FileId::parse_hex(build_id).ok();
        let runtime = match &build_id {
            Some(_) => None,
            None => Runtime::ALL
                .into_iter()
                .find(|&r| filename == runtime_mapping_file(r)),
        };
        let path = match &build_id {
            // We write the build-id as the file name when the path is unknown.
            Some(id) if filename.eq_ignore_ascii_case(&id.to_hex()) => None,
            _ => (!filename.is_empty()).then_some(filename),
        };
        let decoded = DecodedMapping {
            build_id,
            runtime,
            path,
            memory_start: mapping.memory_start,
            file_offset: mapping.file_offset,
        };
        check_id(
            "mapping",
            mapping.id,
            tables.mappings.insert(mapping.id, decoded).is_some(),
        )?;
    }
    let mut locations: HashMap<u64, (Vec<Location>, usize)> =
        HashMap::with_capacity(message.location.len());
    for location in &message.location {
        let decoded = tables.locations(location, &mut budget)?;
        let size = decoded.iter().map(location_size).sum();
        check_id(
            "location",
            location.id,
            locations.insert(location.id, (decoded, size)).is_some(),
        )?;
    }
    // Distinct ids can decode to equal locations (they differ only in what
    // the model drops, such as the address of an unmapped frame); stacks
    // are compared by the first id of each location so that the samples
    // stay distinct stacks.
    let mut first_ids: HashMap<&[Location], u64> = HashMap::with_capacity(locations.len());
    let same_as: HashMap<u64, u64> = message
        .location
        .iter()
        .map(|location| {
            let (decoded, _) = &locations[&location.id];
            (
                location.id,
                *first_ids.entry(decoded.as_slice()).or_insert(location.id),
            )
        })
        .collect();

    let sample_types = message
        .sample_type
        .iter()
        .map(|t| Ok((tables.string(t.r#type)?, tables.string(t.unit)?)))
        .collect::<Result<Vec<_>, PprofError>>()?;
    let count_index = sample_types.iter().position(|&t| t == SAMPLES_TYPE);
    let default_type = tables.string(message.default_sample_type)?;
    let others = || (0..sample_types.len()).filter(|&i| Some(i) != count_index);
    let value_index = match wanted {
        Some(wanted) => Some(
            (0..sample_types.len())
                .find(|&i| sample_types[i].0 == wanted)
                .ok_or_else(|| {
                    let names: Vec<&str> = sample_types.iter().map(|t| t.0).collect();
                    PprofError::Invalid(format!(
                        "no sample type {wanted:?}; this profile has {}",
                        names.join(", ")
                    ))
                })?,
        ),
        None => others()
            .find(|&i| !default_type.is_empty() && sample_types[i].0 == default_type)
            .or_else(|| others().next_back()),
    };
    let period_type = match &message.period_type {
        Some(t) => Some((tables.string(t.r#type)?, tables.string(t.unit)?)),
        None => None,
    };
    let (name, unit) = value_index
        .map(|i| sample_types[i])
        .or(period_type.filter(|(name, _)| !name.is_empty()))
        .unwrap_or(SAMPLES_TYPE);
    let period = u64::try_from(message.period)
        .ok()
        .filter(|&p| p > 0)
        .unwrap_or(1);

    let mut service_from_label = None;
    // Samples with equal stacks are merged, e.g. ones split only by labels.
    let mut sample_index: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut stack_key: Vec<u64> = Vec::new();
    for (n, sample) in message.sample.iter().enumerate() {
        let value = |i: usize| {
            sample.value.get(i).copied().ok_or_else(|| {
                PprofError::Invalid(format!(
                    "sample {n} has {} values for {} sample types",
                    sample.value.len(),
                    sample_types.len()
                ))
            })
        };
        let count = match (count_index, value_index) {
            (Some(i), _) => u64::try_from(value(i)?).unwrap_or(0),
            (None, Some(i)) => {
                let value = u64::try_from(value(i)?).unwrap_or(0);
                // Rounded to the nearest whole sample.
                value / period + u64::from(value % period >= period - period / 2)
            }
            (None, None) => {
                return Err(PprofError::Invalid("samples but no sample types".into()));
            }
        };
        if service_from_label.is_none() {
            for label in &sample.label {
                if tables.string(label.key)? == SERVICE_LABEL {
                    service_from_label = Some(tables.string(label.str)?);
                    break;
                }
            }
        }
        if count == 0 {
            continue;
        }
        stack_key.clear();
        stack_key.extend(
            sample
                .location_id
                .iter()
                .map(|id| same_as.get(id).copied().unwrap_or(*id)),
        );
        if let Some(&merged) = sample_index.get(stack_key.as_slice()) {
            let merged = &mut samples[merged];
            merged.count = merged.count.saturating_add(count);
            continue;
        }
        budget.spend(size_of::<Sample>())?;
        let mut stack = Vec::with_capacity(sample.location_id.len());
        for &id in &sample.location_id {
            let (location, size) = locations.get(&id).ok_or(PprofError::UnknownId {
                kind: "location",
                id,
            })?;
            budget.spend(*size)?;
            stack.extend(location.iter().cloned());
        }
        sample_index.insert(stack_key.clone(), samples.len());
        samples.push(Sample {
            locations: stack,
            count,
        });
    }

    let mut service_from_comment = None;
    for &comment in &message.comment {
        if let Some(service) = tables.string(comment)?.strip_prefix(SERVICE_COMMENT) {
            service_from_comment = Some(service);
            break;
        }
    }
    Ok(Profile {
        service: service_from_comment
            .or(service_from_label)
            .unwrap_or_default()
            .to_owned(),
        profile_type: ProfileType {
            name: name.to_owned(),
            unit: unit.to_owned(),
        },
        period,
        start_unix_nanos: message.time_nanos,
        end_unix_nanos: message
            .time_nanos
            .saturating_add(message.duration_nanos.max(0)),
        samples,
    })
}

/// Ids must be nonzero and unique within their kind, as pprof requires.
fn check_id(kind: &str, id: u64, duplicate: bool) -> Result<(), PprofError> {
    if id == 0 || duplicate {
        return Err(PprofError::Invalid(format!(
            "{kind} id {id} is zero or used twice"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_id(byte: u8) -> FileId {
        FileId::from_bytes(&[byte; 20]).unwrap()
    }

    fn symbol(function: &str, file: Option<&str>, line: Option<u32>) -> Symbol {
        Symbol {
            function: function.into(),
            file: file.map(str::to_owned),
            line,
        }
    }

    fn user(id: u8, file_offset: u64, path: Option<&str>, symbols: Vec<Symbol>) -> Location {
        Location {
            frame: RawFrame::User {
                build_id: build_id(id),
                file_offset,
            },
            path: path.map(str::to_owned),
            symbols,
        }
    }

    fn kernel(function: &str, module: Option<&str>) -> Location {
        Location {
            frame: RawFrame::Kernel {
                function: function.into(),
                module: module.map(str::to_owned),
            },
            path: None,
            symbols: vec![],
        }
    }

    fn unknown(reason: &str) -> Location {
        Location {
            frame: RawFrame::Unknown {
                reason: reason.into(),
            },
            path: None,
            symbols: vec![],
        }
    }

    fn profile(samples: Vec<(Vec<Location>, u64)>) -> Profile {
        Profile {
            service: "checkout".into(),
            profile_type: ProfileType::cpu(),
            period: 10_000_000,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_010_000_000_000,
            samples: samples
                .into_iter()
                .map(|(locations, count)| Sample { locations, count })
                .collect(),
        }
    }

    /// Every kind of frame our model has.
    fn varied_profile() -> Profile {
        let inlined = user(
            1,
            0x1234,
            Some("/srv/app"),
            vec![
                symbol("parse_digit", Some("src/parse.rs"), Some(42)),
                symbol("parse_number", Some("src/parse.rs"), Some(17)),
            ],
        );
        let main = user(
            1,
            0x1000,
            Some("/srv/app"),
            vec![symbol("main", Some("src/main.rs"), Some(3))],
        );
        let libc_unsymbolized = user(2, 0x9abc, Some("/usr/lib/libc.so.6"), vec![]);
        let no_path = user(3, 0x10, None, vec![]);
        let no_file = user(3, 0x20, None, vec![symbol("memcpy", None, None)]);
        profile(vec![
            (vec![inlined.clone(), main.clone()], 60),
            (vec![libc_unsymbolized, main.clone()], 25),
            (
                vec![
                    kernel("copy_user_generic", None),
                    kernel("xfs_file_read_iter", Some("xfs")),
                    kernel("[unknown]", None),
                    no_file,
                    main.clone(),
                ],
                10,
            ),
            (vec![no_path, unknown("anonymous memory"), main], 5),
        ])
    }

    fn names(proto: &pb::Profile, location: &pb::Location) -> Vec<String> {
        location
            .line
            .iter()
            .map(|line| {
                let function = &proto.function[line.function_id as usize - 1];
                proto.string_table[function.name as usize].clone()
            })
            .collect()
    }

    #[test]
    fn several_types_in_one_file_read_back_one_by_one() {
        let base = varied_profile();
        let typed = |name: &str, unit: &str, scale: u64| Profile {
            profile_type: ProfileType {
                name: name.into(),
                unit: unit.into(),
            },
            period: 1,
            samples: base
                .samples
                .iter()
                .map(|s| Sample {
                    locations: s.locations.clone(),
                    count: s.count * scale,
                })
                .collect(),
            ..base.clone()
        };
        let profiles = [
            typed("alloc_objects", "count", 1),
            typed("alloc_space", "bytes", 4096),
            typed("inuse_objects", "count", 2),
            typed("inuse_space", "bytes", 8192),
        ];
        let bytes = encode_types(&profiles).unwrap();
        // The default is the last type, as Go's heap profile's inuse_space.
        let default = decode(&bytes, 1 << 20).unwrap();
        assert_eq!(default.profile_type.name, "inuse_space");
        for profile in &profiles {
            let decoded = decode_type(&bytes, 1 << 20, Some(&profile.profile_type.name)).unwrap();
            assert_eq!(decoded.profile_type, profile.profile_type);
            assert_eq!(decoded.folded_stacks(), profile.folded_stacks());
            assert_eq!(decoded.total(), profile.total());
        }
        let missing = decode_type(&bytes, 1 << 20, Some("cpu")).unwrap_err();
        assert!(missing.to_string().contains("alloc_space"), "{missing}");
        assert!(encode_types(&[]).is_err());
    }

    #[test]
    fn round_trip_is_exact() {
        let original = varied_profile();
        let bytes = encode(&original).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "output is gzip");
        let decoded = decode(&bytes, 1 << 20).unwrap();
        assert_eq!(decoded, original);
        assert_eq!(decoded.folded_stacks(), original.folded_stacks());
        assert_eq!(decoded.top_functions()[0].name, "parse_digit");
    }

    fn runtime(runtime: Runtime, function: &str, file: &str, line: u32, inlined: bool) -> Location {
        Location::new(
            RawFrame::Runtime {
                runtime,
                function: function.into(),
                file: file.into(),
                line,
                inlined,
            },
            None,
            vec![],
        )
    }

    /// Python frames, an inlined Java chain, and native code below them.
    fn runtime_profile() -> Profile {
        let main = user(
            1,
            0x1000,
            Some("/srv/app"),
            vec![symbol("main", Some("src/main.rs"), Some(3))],
        );
        let java =
            |function, line, inlined| runtime(Runtime::Java, function, "Cache.java", line, inlined);
        profile(vec![
            (
                vec![
                    runtime(Runtime::Python, "Server.handle", "server.py", 42, false),
                    runtime(Runtime::Python, "<module>", "", 0, false),
                    main.clone(),
                ],
                5,
            ),
            (
                vec![
                    java("java.util.HashMap.hash", 339, true),
                    java("java.util.HashMap.get", 556, true),
                    java("com.shop.Cache.get", 88, false),
                    java("com.shop.Server.run", 12, false),
                    main.clone(),
                ],
                7,
            ),
            // The same function not inlined: a location of its own.
            (vec![java("java.util.HashMap.get", 556, false), main], 1),
        ])
    }

    #[test]
    fn runtime_frames_round_trip_with_inlined_chains_as_one_location() {
        let original = runtime_profile();
        let decoded = decode(&encode(&original).unwrap(), 1 << 20).unwrap();
        assert_eq!(decoded, original);

        let proto = to_proto(&original);
        let s = |i: i64| proto.string_table[i as usize].as_str();
        let location = |sample: usize, depth: usize| {
            &proto.location[proto.sample[sample].location_id[depth] as usize - 1]
        };
        // Three inlined Java frames and their caller's caller: two locations.
        assert_eq!(proto.sample[1].location_id.len(), 3);
        let chain = location(1, 0);
        assert_eq!(
            names(&proto, chain),
            [
                "java.util.HashMap.hash",
                "java.util.HashMap.get",
                "com.shop.Cache.get"
            ]
        );
        let lines: Vec<i64> = chain.line.iter().map(|l| l.line).collect();
        assert_eq!(lines, [339, 556, 88]);
        assert_eq!(chain.address, 0);
        let mapping = &proto.mapping[chain.mapping_id as usize - 1];
        assert_eq!(s(mapping.filename), "[java]");
        assert_eq!(s(mapping.build_id), "");
        let function = &proto.function[chain.line[0].function_id as usize - 1];
        assert_eq!(s(function.filename), "Cache.java");
        // Python frames stand alone, in their own mapping.
        let handle = location(0, 0);
        assert_eq!(names(&proto, handle), ["Server.handle"]);
        assert_eq!(handle.line[0].line, 42);
        assert_eq!(
            s(proto.mapping[handle.mapping_id as usize - 1].filename),
            "[python]"
        );
        assert_ne!(handle.mapping_id, chain.mapping_id);
        // Runtime frames read back named, file and line included.
        let java_stack: Vec<String> = [
            "main",
            "com.shop.Server.run",
            "com.shop.Cache.get",
            "java.util.HashMap.get",
            "java.util.HashMap.hash",
        ]
        .map(String::from)
        .to_vec();
        assert!(decoded.folded_stacks().contains(&(java_stack, 7)));
        // Another writer's lineless location in such a mapping is kept,
        // as an unknown frame.
        let mut proto = proto;
        proto.location[0].line.clear();
        let foreign = decode(&proto.encode_to_vec(), 1 << 20).unwrap();
        assert!(matches!(
            foreign.samples[0].locations[0].frame,
            RawFrame::Unknown { .. }
        ));
    }

    #[test]
    fn empty_profile_round_trips() {
        let original = profile(vec![]);
        assert_eq!(
            decode(&encode(&original).unwrap(), 1 << 20).unwrap(),
            original
        );
    }

    #[test]
    fn header_types_values_and_service() {
        let proto = to_proto(&varied_profile());
        let s = |i: i64| proto.string_table[i as usize].as_str();
        assert_eq!(s(0), "");
        let types: Vec<_> = proto
            .sample_type
            .iter()
            .map(|t| (s(t.r#type), s(t.unit)))
            .collect();
        assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
        assert_eq!(s(proto.default_sample_type), "cpu");
        let period_type = proto.period_type.unwrap();
        assert_eq!(
            (s(period_type.r#type), s(period_type.unit)),
            ("cpu", "nanoseconds")
        );
        assert_eq!(proto.period, 10_000_000);
        assert_eq!(proto.time_nanos, 1_700_000_000_000_000_000);
        assert_eq!(proto.duration_nanos, 10_000_000_000);
        assert_eq!(proto.sample[0].value, [60, 600_000_000]);
        assert_eq!(s(proto.comment[0]), "service=checkout");
        let label = proto.sample[3].label[0];
        assert_eq!((s(label.key), s(label.str)), ("service", "checkout"));
        let unique: std::collections::HashSet<_> = proto.string_table.iter().collect();
        assert_eq!(
            unique.len(),
            proto.string_table.len(),
            "strings are interned"
        );
    }

    #[test]
    fn inline_symbols_become_lines_of_one_location() {
        let proto = to_proto(&varied_profile());
        let leaf = &proto.location[proto.sample[0].location_id[0] as usize - 1];
        assert_eq!(names(&proto, leaf), ["parse_digit", "parse_number"]);
        let lines: Vec<_> = leaf.line.iter().map(|l| l.line).collect();
        assert_eq!(lines, [42, 17]);
        assert_eq!(leaf.address, 0x1234);
        let mapping = &proto.mapping[leaf.mapping_id as usize - 1];
        assert_eq!(proto.string_table[mapping.filename as usize], "/srv/app");
        assert_eq!(
            proto.string_table[mapping.build_id as usize],
            build_id(1).to_hex()
        );
        assert!(mapping.has_functions && mapping.has_inline_frames && mapping.has_line_numbers);
        assert_eq!((mapping.memory_start, mapping.file_offset), (0, 0));
        assert!(mapping.memory_limit > 0x1234 && mapping.memory_limit % PAGE_SIZE == 0);
    }

    #[test]
    fn unsymbolized_kernel_and_unknown_frames_carry_display_names() {
        let proto = to_proto(&varied_profile());
        let location = |sample: usize, depth: usize| {
            &proto.location[proto.sample[sample].location_id[depth] as usize - 1]
        };
        let libc = location(1, 0);
        assert_eq!(names(&proto, libc), ["[libc.so.6+0x9abc]"]);
        assert!(!proto.mapping[libc.mapping_id as usize - 1].has_functions);
        assert_eq!(
            names(&proto, location(3, 0)),
            [format!("[{}+0x10]", build_id(3).to_hex())]
        );
        let xfs = location(2, 1);
        assert_eq!((xfs.mapping_id, xfs.address), (0, 0));
        assert_eq!(names(&proto, xfs), ["xfs_file_read_iter"]);
        let function = &proto.function[xfs.line[0].function_id as usize - 1];
        assert_eq!(proto.string_table[function.filename as usize], "[xfs]");
        let anonymous = location(3, 1);
        assert_eq!(anonymous.mapping_id, 0);
        assert_eq!(names(&proto, anonymous), ["[anonymous memory]"]);
    }

    #[test]
    fn locations_mappings_and_functions_are_deduplicated() {
        let proto = to_proto(&varied_profile());
        // main appears in every sample but is one location.
        let mains: Vec<u64> = proto
            .sample
            .iter()
            .map(|s| *s.location_id.last().unwrap())
            .collect();
        assert_eq!(mains, [mains[0]; 4]);
        // inlined, main, libc, 3 kernel, no_file, no_path, unknown.
        assert_eq!(proto.location.len(), 9);
        assert_eq!(proto.mapping.len(), 3);
        let ids: Vec<u64> = proto.location.iter().map(|l| l.id).collect();
        assert_eq!(ids, (1..=9).collect::<Vec<_>>());

        // Two addresses of one function share it; equal names in other files do not.
        let shared = user(1, 0x40, None, vec![symbol("f", Some("a.rs"), Some(1))]);
        let other_line = user(1, 0x44, None, vec![symbol("f", Some("a.rs"), Some(2))]);
        let other_file = user(1, 0x48, None, vec![symbol("f", Some("b.rs"), Some(1))]);
        let proto = to_proto(&profile(vec![
            (vec![shared.clone(), other_line], 1),
            (vec![shared, other_file], 1),
        ]));
        assert_eq!(proto.location.len(), 3);
        assert_eq!(proto.function.len(), 2);
        assert_eq!(proto.mapping.len(), 1);
    }

    #[test]
    fn foreign_profiles_decode_as_well_as_possible() {
        let strings = [
            "",
            "cpu",
            "nanoseconds",
            "/bin/app",
            "abcd",
            "main.work",
            "x.go",
        ];
        let proto = pb::Profile {
            sample_type: vec![pb::ValueType { r#type: 1, unit: 2 }],
            sample: vec![
                pb::Sample {
                    location_id: vec![1, 2],
                    value: vec![25_000_000],
                    label: vec![],
                },
                // Same stack, split by labels elsewhere: merged.
                pb::Sample {
                    location_id: vec![1, 2],
                    value: vec![14_000_000],
                    label: vec![],
                },
            ],
            mapping: vec![
                pb::Mapping {
                    id: 1,
                    memory_start: 0x40_0000,
                    memory_limit: 0x50_0000,
                    file_offset: 0x1000,
                    filename: 3,
                    build_id: 4,
                    ..Default::default()
                },
                pb::Mapping {
                    id: 2,
                    filename: 3,
                    ..Default::default()
                },
            ],
            location: vec![
                pb::Location {
                    id: 1,
                    mapping_id: 1,
                    address: 0x40_0010,
                    line: vec![pb::Line {
                        function_id: 1,
                        line: 9,
                        column: 0,
                    }],
                    is_folded: false,
                },
                pb::Location {
                    id: 2,
                    mapping_id: 2,
                    address: 0x77,
                    ..Default::default()
                },
            ],
            function: vec![pb::Function {
                id: 1,
                name: 5,
                filename: 6,
                ..Default::default()
            }],
            string_table: strings.map(String::from).to_vec(),
            period: 10_000_000,
            ..Default::default()
        };
        let decoded = decode(&proto.encode_to_vec(), 1 << 20).unwrap();
        assert_eq!(decoded.profile_type, ProfileType::cpu());
        assert_eq!(decoded.samples.len(), 1);
        // 2.5 rounds up to 3, 1.4 down to 1.
        assert_eq!(decoded.samples[0].count, 4);
        let leaf = &decoded.samples[0].locations[0];
        assert_eq!(
            leaf.frame,
            RawFrame::User {
                build_id: FileId::parse_hex("abcd").unwrap(),
                file_offset: 0x1010,
            }
        );
        assert_eq!(leaf.path.as_deref(), Some("/bin/app"));
        assert_eq!(leaf.symbols, [symbol("main.work", Some("x.go"), Some(9))]);
        let caller = &decoded.samples[0].locations[1];
        assert_eq!(
            caller.frame,
            RawFrame::Unknown {
                reason: "no build-id".into()
            }
        );
    }

    #[test]
    fn locations_that_decode_equal_make_one_stack() {
        // Two unmapped addresses in one function: the model keeps no
        // address for them, so their stacks are the same stack.
        let unmapped = |id, address| pb::Location {
            id,
            address,
            line: vec![pb::Line {
                function_id: 1,
                line: 3,
                column: 0,
            }],
            ..Default::default()
        };
        let sample = |location| pb::Sample {
            location_id: vec![location],
            value: vec![1],
            label: vec![],
        };
        let proto = pb::Profile {
            sample_type: vec![pb::ValueType { r#type: 1, unit: 2 }],
            sample: vec![sample(1), sample(2), sample(1)],
            location: vec![unmapped(1, 0x10), unmapped(2, 0x20)],
            function: vec![pb::Function {
                id: 1,
                name: 3,
                ..Default::default()
            }],
            string_table: ["", "samples", "count", "jit_code"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        };
        let decoded = decode(&proto.encode_to_vec(), 1 << 20).unwrap();
        assert_eq!(decoded.samples.len(), 1);
        assert_eq!(decoded.samples[0].count, 3);
        assert_eq!(
            decode(&encode(&decoded).unwrap(), 1 << 20).unwrap(),
            decoded
        );
    }

    #[test]
    fn garbage_is_refused() {
        let reason = |bytes: &[u8]| decode(bytes, 1 << 20).unwrap_err().reason();
        assert_eq!(reason(b"not a profile at all"), "bad_protobuf");
        let truncated = encode(&varied_profile()).unwrap();
        assert_eq!(reason(&truncated[..truncated.len() / 2]), "bad_compression");
        assert_eq!(
            reason(&[0x1f, 0x8b, 0x08, 0, 0xff, 0xff]),
            "bad_compression"
        );

        let mut proto = to_proto(&varied_profile());
        proto.sample[0].location_id.push(99);
        assert_eq!(reason(&proto.encode_to_vec()), "dangling_reference");
        let mut proto = to_proto(&varied_profile());
        proto.location[0].line[0].function_id = 99;
        assert_eq!(reason(&proto.encode_to_vec()), "dangling_reference");
        let mut proto = to_proto(&varied_profile());
        proto.function[0].name = 10_000;
        assert_eq!(reason(&proto.encode_to_vec()), "dangling_reference");
        let mut proto = to_proto(&varied_profile());
        proto.location[1].id = proto.location[0].id;
        assert_eq!(reason(&proto.encode_to_vec()), "invalid");
        let mut proto = to_proto(&varied_profile());
        proto.sample[0].value.clear();
        assert_eq!(reason(&proto.encode_to_vec()), "invalid");
    }

    #[test]
    fn gzip_bomb_is_refused_with_bounded_output() {
        let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
        gzip.write_all(&vec![0u8; 16 << 20]).unwrap();
        let bomb = gzip.finish().unwrap();
        assert!(
            bomb.len() < 256 << 10,
            "bomb should be small, is {}",
            bomb.len()
        );
        let err = decode(&bomb, 1 << 20).unwrap_err();
        assert!(
            matches!(err, PprofError::TooLarge { limit: 0x10_0000 }),
            "{err}"
        );

        // Plain protobuf over the limit is refused before decoding.
        let plain = to_proto(&varied_profile()).encode_to_vec();
        let err = decode(&plain, plain.len() - 1).unwrap_err();
        assert_eq!(err.reason(), "too_large");
        assert!(decode(&plain, plain.len()).is_ok());
    }

    #[test]
    fn shared_locations_cannot_expand_without_bound() {
        // One location with 100 inlined copies of a 1 KB name, referenced
        // 10,000 times: ~10 KB of protobuf that would decode to ~1 GB.
        let name = "f".repeat(1000);
        let deep = user(1, 0, None, vec![symbol(&name, None, None); 100]);
        let mut proto = to_proto(&profile(vec![(vec![deep], 1)]));
        proto.sample[0].location_id = vec![1; 10_000];
        let bytes = encode_proto_gzip(&proto);
        assert!(bytes.len() < 16 << 10);
        let err = decode(&bytes, 64 << 10).unwrap_err();
        assert_eq!(err.reason(), "expands_too_large", "{err}");
    }

    fn encode_proto_gzip(proto: &pb::Profile) -> Vec<u8> {
        let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
        gzip.write_all(&proto.encode_to_vec()).unwrap();
        gzip.finish().unwrap()
    }
}
