//! An OTLP export request, translated into Augur batches.
//!
//! Pure: bytes in, batches out, no I/O, so the fuzz target reaches all of
//! it. Each profile becomes samples of one Augur profile type; profiles of
//! the same type, host, period and time range share a batch, with one
//! process per resource. A profile Augur cannot take (an unknown unit, a
//! dangling index) is refused on its own and counted, never the whole
//! request: OTLP's partial success says how many.
//!
//! Frames, by the location's `profile.frame.type` attribute:
//! - `native` (or none) in a mapping with a GNU build-id: a user frame by
//!   build-id and file offset, which the server symbolizes;
//! - `kernel`: a kernel frame by name;
//! - `jvm`, `cpython`, `go`, `v8js`, `dotnet`, `ruby`: runtime frames, one
//!   per line (inlined functions first);
//! - anything else with a function name: a named frame whose origin is the
//!   frame type; nothing to go by: an unknown frame with the reason.

use std::collections::{BTreeMap, HashMap};

use augur_profile::{FileId, Runtime, types};
use prost::Message;
use sha2::{Digest, Sha256};

use super::collector::ExportProfilesServiceRequest;
use super::common::{AnyValue, any_value};
use super::profiles::{Location, Mapping, Profile, ProfilesDictionary};
use super::scan::{self, ScanError};
use crate::batch::{MAX_RUNTIME_FILE, MAX_RUNTIME_FUNCTION, is_sane_path_hint};
use crate::ingest::{
    Batch, Binary, Frame, KernelFrame, NamedFrame, Process, RuntimeFrame, Sample, UserFrame, frame,
};

/// The service of a resource without `service.name`, as OTel's SDKs name it.
const UNKNOWN_SERVICE: &str = "unknown_service";
/// Mapping attribute holding the GNU build-id, hex.
const GNU_BUILD_ID: &str = "process.executable.build_id.gnu";
/// Location attribute naming the kind of frame.
const FRAME_TYPE: &str = "profile.frame.type";
/// How many refusal messages a translation keeps.
const MAX_MESSAGES: usize = 8;

/// Bounds on one export request.
#[derive(Clone, Debug)]
pub struct OtlpLimits {
    /// Largest request, in bytes.
    pub max_request_bytes: usize,
    /// Largest estimated decoded size of a request, in bytes.
    pub max_decoded_bytes: u64,
    /// Frames kept per stack; a deeper stack keeps its leaf side (ingest
    /// marks it truncated).
    pub max_stack_depth: usize,
    /// Frames in one batch, all stacks together; a profile that would pass
    /// it is refused.
    pub max_batch_frames: usize,
    /// Distinct stacks in one batch; a profile that would pass it is refused.
    pub max_batch_samples: usize,
}

impl Default for OtlpLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            // One more than ingest keeps, so ingest still sees the stack
            // was deeper and marks it.
            max_stack_depth: 1025,
            max_batch_frames: 4 << 20,
            max_batch_samples: 1 << 18,
        }
    }
}

/// Why a whole request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OtlpError {
    /// Not an export request.
    #[error("not an OTLP profiles export request ({0})")]
    Malformed(String),
    /// Bigger than the limits allow.
    #[error("OTLP export request too large: {0}")]
    TooLarge(String),
}

/// One batch made from an export, ready for ingest.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpBatch {
    /// Idempotency key, from the request's bytes and the batch's key: the
    /// same export sent again gives the same ids.
    pub batch_id: String,
    /// The batch.
    pub batch: Batch,
    /// Profiles of the request in it.
    pub profiles: u64,
}

/// What a request became.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Translation {
    /// Batches, in a stable order.
    pub batches: Vec<OtlpBatch>,
    /// Profiles refused.
    pub rejected_profiles: u64,
    /// Why, for the first few.
    pub messages: Vec<String>,
}

impl Translation {
    fn reject(&mut self, profiles: u64, message: String) {
        self.rejected_profiles += profiles;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(message);
        }
    }
}

/// Translates an encoded `ExportProfilesServiceRequest`; `now_unix_nanos`
/// stands in for a profile without a time.
pub fn translate(
    request: &[u8],
    now_unix_nanos: i64,
    limits: &OtlpLimits,
) -> Result<Translation, OtlpError> {
    if request.len() > limits.max_request_bytes {
        return Err(OtlpError::TooLarge(format!(
            "{} bytes, the limit is {}",
            request.len(),
            limits.max_request_bytes
        )));
    }
    match scan::estimate(request, limits.max_decoded_bytes) {
        Ok(_) => {}
        Err(ScanError::Malformed(why)) => return Err(OtlpError::Malformed(why.to_owned())),
        Err(ScanError::TooLarge(_)) => {
            return Err(OtlpError::TooLarge(format!(
                "it would take more than {} bytes once decoded (too many table entries, \
                 attributes or samples); send smaller exports",
                limits.max_decoded_bytes
            )));
        }
    }
    let decoded = ExportProfilesServiceRequest::decode(request)
        .map_err(|error| OtlpError::Malformed(error.to_string()))?;
    let digest: [u8; 32] = Sha256::digest(request).into();
    Ok(translate_decoded(&decoded, &digest, now_unix_nanos, limits))
}

/// Which batch a profile goes to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct BatchKey {
    profile_type: String,
    unit: String,
    period: u64,
    host: String,
    start: i64,
    end: i64,
}

/// A batch being filled.
#[derive(Default)]
struct BatchBuilder {
    binaries: Vec<Binary>,
    binary_index: HashMap<Vec<u8>, u32>,
    processes: Vec<Process>,
    /// Process index by resource index.
    process_index: HashMap<usize, u32>,
    samples: Vec<Sample>,
    frames: usize,
    profiles: u64,
    dropped: BTreeMap<String, u64>,
}

impl BatchBuilder {
    fn binary(&mut self, build_id: &[u8], path: &str) -> u32 {
        if let Some(&i) = self.binary_index.get(build_id) {
            return i;
        }
        let i = self.binaries.len() as u32;
        self.binaries.push(Binary {
            build_id: build_id.to_vec(),
            path: if is_sane_path_hint(path) {
                path.to_owned()
            } else {
                String::new()
            },
        });
        self.binary_index.insert(build_id.to_vec(), i);
        i
    }
}

/// A resource's labels, host and pid.
struct Origin {
    labels: BTreeMap<String, String>,
    host: String,
    pid: u32,
}

fn translate_decoded(
    request: &ExportProfilesServiceRequest,
    digest: &[u8; 32],
    now_unix_nanos: i64,
    limits: &OtlpLimits,
) -> Translation {
    let empty = ProfilesDictionary::default();
    let dict = Dictionary(request.dictionary.as_ref().unwrap_or(&empty));
    let mut translation = Translation::default();
    let mut builders: BTreeMap<BatchKey, BatchBuilder> = BTreeMap::new();
    for (r, resource_profiles) in request.resource_profiles.iter().enumerate() {
        let origin = resource_origin(
            resource_profiles
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default(),
            &dict,
        );
        for (p, profile) in resource_profiles
            .scope_profiles
            .iter()
            .flat_map(|scope| &scope.profiles)
            .enumerate()
        {
            if let Err(why) = add_profile(
                profile,
                r,
                &origin,
                &dict,
                now_unix_nanos,
                limits,
                &mut builders,
            ) {
                translation.reject(1, format!("resource {r} profile {p}: {why}"));
            }
        }
    }
    for (key, builder) in builders {
        if builder.samples.is_empty() && builder.dropped.is_empty() {
            // Profiles without samples are taken, and stored as nothing.
            continue;
        }
        let mut hasher = Sha256::new();
        hasher.update(digest);
        for part in [&key.profile_type, &key.unit, &key.host] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(key.period.to_le_bytes());
        hasher.update(key.start.to_le_bytes());
        hasher.update(key.end.to_le_bytes());
        let id: [u8; 32] = hasher.finalize().into();
        let batch_id = format!("otlp-{}", hex(&id[..16]));
        translation.batches.push(OtlpBatch {
            batch_id,
            profiles: builder.profiles,
            batch: Batch {
                host: key.host,
                start_unix_nanos: key.start,
                end_unix_nanos: key.end,
                profile_type: key.profile_type,
                unit: key.unit,
                period: key.period,
                binaries: builder.binaries,
                processes: builder.processes,
                samples: builder.samples,
                dropped: builder.dropped.into_iter().collect(),
            },
        });
    }
    translation
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The Augur type, unit, and how values become counts: `Some(p)` when
/// each value is a multiple of the period `p` (counts are values / p).
struct SampleKind {
    profile_type: String,
    unit: String,
    period: u64,
    /// Values are in units of `period` already (one per sample).
    values_are_counts: bool,
}

fn sample_kind(profile: &Profile, dict: &Dictionary<'_>) -> Result<SampleKind, String> {
    let value_type = |v: &Option<super::profiles::ValueType>| -> Result<(String, String), String> {
        let v = v.unwrap_or_default();
        Ok((
            dict.string(v.type_strindex)?.to_ascii_lowercase(),
            dict.string(v.unit_strindex)?.to_ascii_lowercase(),
        ))
    };
    let (sample_type, sample_unit) = value_type(&profile.sample_type)?;
    let (period_type, period_unit) = value_type(&profile.period_type)?;
    let period = u64::try_from(profile.period).unwrap_or(0);
    if sample_type == "samples" && sample_unit == "count" {
        // What the eBPF profiler sends: a count of samples taken every
        // `period` nanoseconds of CPU time.
        if (period_type.as_str(), period_unit.as_str()) == ("cpu", "nanoseconds") && period > 0 {
            return Ok(SampleKind {
                profile_type: "cpu".into(),
                unit: "nanoseconds".into(),
                period,
                values_are_counts: true,
            });
        }
        return Err(format!(
            "a samples/count profile needs a positive cpu/nanoseconds period \
             (period type {period_type}/{period_unit}, period {})",
            profile.period
        ));
    }
    if sample_unit == "nanoseconds" && (sample_type == "events" || sample_type == "off_cpu") {
        // The eBPF profiler's off-CPU profile: time off CPU per stack.
        return Ok(SampleKind {
            profile_type: "off-cpu".into(),
            unit: sample_unit,
            period: 1,
            values_are_counts: false,
        });
    }
    let name = types::from_pprof_sample_type("", &sample_type, &sample_unit)
        .ok_or_else(|| format!("sample type {sample_type}/{sample_unit} is not kept"))?;
    types::check_type(&name, &sample_unit).map_err(|e| e.to_string())?;
    let same_kind = period_type == sample_type && period_unit == sample_unit;
    Ok(SampleKind {
        profile_type: name,
        unit: sample_unit,
        period: if same_kind && period > 0 { period } else { 1 },
        values_are_counts: false,
    })
}

fn add_profile(
    profile: &Profile,
    resource: usize,
    origin: &Origin,
    dict: &Dictionary<'_>,
    now_unix_nanos: i64,
    limits: &OtlpLimits,
    builders: &mut BTreeMap<BatchKey, BatchBuilder>,
) -> Result<(), String> {
    let mut kind = sample_kind(profile, dict)?;
    // Sum the values per stack first: a stack is translated once.
    let mut per_stack: BTreeMap<i32, u64> = BTreeMap::new();
    let mut negative = 0u64;
    for sample in &profile.samples {
        let value = if sample.values.is_empty() {
            sample.timestamps_unix_nano.len() as u64
        } else {
            let mut sum = 0u64;
            for &v in &sample.values {
                match u64::try_from(v) {
                    Ok(v) => sum = sum.saturating_add(v),
                    Err(_) => negative += 1,
                }
            }
            sum
        };
        if value > 0 {
            let total = per_stack.entry(sample.stack_index).or_default();
            *total = total.saturating_add(value);
        }
    }
    if !kind.values_are_counts {
        // Counts of `period` when every value is a multiple of it.
        if kind.period > 1 && per_stack.values().all(|v| v % kind.period == 0) {
            per_stack.values_mut().for_each(|v| *v /= kind.period);
        } else {
            kind.period = 1;
        }
    }
    let start = match i64::try_from(profile.time_unix_nano) {
        Ok(t) if t > 0 => t,
        _ => now_unix_nanos,
    };
    let end = start.saturating_add(i64::try_from(profile.duration_nano).unwrap_or(i64::MAX));
    let key = BatchKey {
        profile_type: kind.profile_type,
        unit: kind.unit,
        period: kind.period,
        host: origin.host.clone(),
        start,
        end,
    };
    let builder = builders.entry(key).or_default();
    if builder.samples.len() + per_stack.len() > limits.max_batch_samples {
        return Err(format!(
            "more than {} distinct stacks in one batch",
            limits.max_batch_samples
        ));
    }
    // Translate into a scratch list, then commit: a refused profile leaves
    // nothing behind (binaries it added are harmless).
    let mut samples = Vec::with_capacity(per_stack.len());
    let mut frames_added = 0usize;
    for (&stack_index, &count) in &per_stack {
        let frames = stack_frames(stack_index, dict, builder, limits.max_stack_depth)?;
        frames_added += frames.len();
        if builder.frames + frames_added > limits.max_batch_frames {
            return Err(format!(
                "more than {} frames in one batch",
                limits.max_batch_frames
            ));
        }
        samples.push((frames, count));
    }
    let process = *builder.process_index.entry(resource).or_insert_with(|| {
        builder.processes.push(Process {
            pid: origin.pid,
            labels: origin.labels.clone().into_iter().collect(),
        });
        builder.processes.len() as u32 - 1
    });
    builder.frames += frames_added;
    builder.profiles += 1;
    builder
        .samples
        .extend(samples.into_iter().map(|(frames, count)| Sample {
            process,
            frames,
            count,
        }));
    if negative > 0 {
        *builder
            .dropped
            .entry("otlp_negative_value".into())
            .or_default() += negative;
    }
    Ok(())
}

/// The frames of stack `index`, leaf first, at most `max_depth`.
fn stack_frames(
    index: i32,
    dict: &Dictionary<'_>,
    builder: &mut BatchBuilder,
    max_depth: usize,
) -> Result<Vec<Frame>, String> {
    let stack = dict.get(&dict.0.stack_table, index, "stack")?;
    let mut frames = Vec::new();
    for &location in &stack.location_indices {
        if frames.len() >= max_depth {
            break;
        }
        let location = dict.get(&dict.0.location_table, location, "location")?;
        location_frames(location, dict, builder, &mut frames)?;
    }
    frames.truncate(max_depth);
    if frames.is_empty() {
        // Keeps the samples (ingest wants a frame in every stack).
        frames.push(unknown("empty stack"));
    }
    Ok(frames)
}

/// What runtime a frame type names.
fn runtime_of(frame_type: &str) -> Option<Runtime> {
    Some(match frame_type {
        "jvm" | "hotspot" | "java" => Runtime::Java,
        "cpython" | "python" => Runtime::Python,
        "go" => Runtime::Go,
        "v8js" | "node" => Runtime::Node,
        "dotnet" => Runtime::Dotnet,
        "ruby" => Runtime::Ruby,
        _ => return None,
    })
}

fn kind(kind: frame::Kind) -> Frame {
    Frame { kind: Some(kind) }
}

fn unknown(reason: &str) -> Frame {
    kind(frame::Kind::Unknown(reason.to_owned()))
}

/// The prefix of `text` within `max` bytes, on a character boundary.
fn shortened(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Appends the frames of one location (more than one when functions were
/// inlined), leaf first.
fn location_frames(
    location: &Location,
    dict: &Dictionary<'_>,
    builder: &mut BatchBuilder,
    out: &mut Vec<Frame>,
) -> Result<(), String> {
    let frame_type = dict
        .attribute_text(&location.attribute_indices, FRAME_TYPE)?
        .unwrap_or_default();
    let mapping = if location.mapping_index == 0 {
        None
    } else {
        Some(dict.get(&dict.0.mapping_table, location.mapping_index, "mapping")?)
    };
    // (function, file, line) of each line, the inlined callee first.
    let mut lines = Vec::with_capacity(location.lines.len());
    for line in &location.lines {
        let function = dict.get(&dict.0.function_table, line.function_index, "function")?;
        let name = match dict.string(function.name_strindex)? {
            "" => dict.string(function.system_name_strindex)?,
            name => name,
        };
        if !name.is_empty() {
            lines.push((
                name,
                dict.string(function.filename_strindex)?,
                u32::try_from(line.line).unwrap_or(0),
            ));
        }
    }
    let shorten = |name: &str| shortened(name, MAX_RUNTIME_FUNCTION).to_owned();
    match frame_type.as_str() {
        "kernel" => {
            if lines.is_empty() {
                out.push(unknown("kernel frame without a name"));
            }
            for (name, _, _) in &lines {
                out.push(kind(frame::Kind::Kernel(KernelFrame {
                    function: shorten(name),
                    module: String::new(),
                })));
            }
        }
        "" | "native" => {
            let build_id = match mapping {
                Some(mapping) => gnu_build_id(mapping, dict)?,
                None => None,
            };
            match (mapping, build_id) {
                (Some(mapping), Some(build_id)) => {
                    let path = dict.string(mapping.filename_strindex)?;
                    let binary = builder.binary(&build_id, path);
                    out.push(kind(frame::Kind::User(UserFrame {
                        binary,
                        file_offset: file_offset(location.address, mapping),
                    })));
                }
                _ if !lines.is_empty() => {
                    for (name, _, _) in &lines {
                        out.push(kind(frame::Kind::Named(NamedFrame {
                            function: shorten(name),
                            origin: "otlp".into(),
                        })));
                    }
                }
                _ => out.push(unknown("no build-id")),
            }
        }
        other => match runtime_of(other) {
            Some(runtime) => {
                if lines.is_empty() {
                    out.push(unknown(&format!("{runtime} frame without a name")));
                }
                let last = lines.len().saturating_sub(1);
                for (i, (name, file, line)) in lines.iter().enumerate() {
                    out.push(kind(frame::Kind::Runtime(RuntimeFrame {
                        runtime: runtime.as_str().to_owned(),
                        function: shorten(name),
                        file: shortened(file, MAX_RUNTIME_FILE).to_owned(),
                        line: *line,
                        // The JIT inlined every line but the last into it.
                        inlined: runtime == Runtime::Java && i < last,
                    })));
                }
            }
            None => {
                if lines.is_empty() {
                    out.push(unknown(&format!(
                        "{} frame without a name",
                        shortened(other, 32)
                    )));
                }
                for (name, _, _) in &lines {
                    out.push(kind(frame::Kind::Named(NamedFrame {
                        function: shorten(name),
                        origin: shortened(other, 32).to_owned(),
                    })));
                }
            }
        },
    }
    Ok(())
}

/// The offset in the mapped file of `address`: a process address inside
/// the mapping, as pprof's model has it. An address outside the mapping is
/// taken to be relative to the file already (the eBPF profiler sends the
/// ELF virtual address, which equals the file offset in the executable
/// segments of what GNU ld links, but not always: see docs/known-gaps.md).
fn file_offset(address: u64, mapping: &Mapping) -> u64 {
    let inside = address >= mapping.memory_start
        && (mapping.memory_limit == 0 || address < mapping.memory_limit);
    if inside && mapping.memory_start > 0 {
        (address - mapping.memory_start).saturating_add(mapping.file_offset)
    } else {
        address
    }
}

/// The mapping's GNU build-id, from its attribute (hex text, or bytes).
fn gnu_build_id(mapping: &Mapping, dict: &Dictionary<'_>) -> Result<Option<Vec<u8>>, String> {
    let Some(value) = dict.attribute(&mapping.attribute_indices, GNU_BUILD_ID)? else {
        return Ok(None);
    };
    let bytes = match &value.value {
        Some(any_value::Value::BytesValue(bytes)) => bytes.clone(),
        _ => match dict.any_text(value)? {
            Some(text) => match FileId::parse_hex(&text) {
                Ok(id) => id.as_bytes().to_vec(),
                Err(_) => return Ok(None),
            },
            None => return Ok(None),
        },
    };
    Ok(FileId::from_bytes(&bytes)
        .ok()
        .map(|id| id.as_bytes().to_vec()))
}

/// Label names Augur queries accept: letters, digits and `_`.
fn label_name(key: &str) -> String {
    let mut name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// Resource attributes kept as labels besides `k8s.*`.
const KEPT_ATTRIBUTES: &[&str] = &[
    "service.namespace",
    "service.version",
    "deployment.environment.name",
    "container.name",
];

fn resource_origin(attributes: &[super::common::KeyValue], dict: &Dictionary<'_>) -> Origin {
    let mut labels = BTreeMap::new();
    let (mut service, mut host, mut executable, mut pid) = (None, String::new(), None, 0);
    for attribute in attributes {
        let key = if attribute.key.is_empty() {
            dict.string(attribute.key_strindex).unwrap_or_default()
        } else {
            attribute.key.as_str()
        };
        let Some(value) = attribute.value.as_ref() else {
            continue;
        };
        let Ok(Some(text)) = dict.any_text(value) else {
            continue;
        };
        match key {
            "service.name" => service = Some(text),
            "host.name" => host = text,
            "process.executable.name" => executable = Some(text),
            "process.pid" => pid = text.parse().unwrap_or(0),
            key if key.starts_with("k8s.") || KEPT_ATTRIBUTES.contains(&key) => {
                labels.insert(label_name(key), text);
            }
            _ => {}
        }
    }
    let service = match (service, executable) {
        (Some(service), _) if !service.is_empty() => service,
        (_, Some(executable)) if !executable.is_empty() => {
            format!("{UNKNOWN_SERVICE}:{executable}")
        }
        _ => UNKNOWN_SERVICE.to_owned(),
    };
    labels.retain(|_, v| !v.is_empty());
    labels.insert("service".into(), service);
    if !host.is_empty() {
        labels.insert("host".into(), host.clone());
    }
    Origin { labels, host, pid }
}

/// The request's shared tables, with checked lookups.
struct Dictionary<'a>(&'a ProfilesDictionary);

impl Dictionary<'_> {
    /// Entry `index` of `table`.
    fn get<'t, T>(&self, table: &'t [T], index: i32, what: &str) -> Result<&'t T, String> {
        usize::try_from(index)
            .ok()
            .and_then(|i| table.get(i))
            .ok_or_else(|| format!("{what} index {index} is outside its table"))
    }

    fn string(&self, index: i32) -> Result<&str, String> {
        if index == 0 && self.0.string_table.is_empty() {
            return Ok("");
        }
        self.get(&self.0.string_table, index, "string")
            .map(String::as_str)
    }

    /// The value of the attribute named `key` among `indices`.
    fn attribute(&self, indices: &[i32], key: &str) -> Result<Option<&AnyValue>, String> {
        for &index in indices {
            let attribute = self.get(&self.0.attribute_table, index, "attribute")?;
            if self.string(attribute.key_strindex)? == key {
                return Ok(attribute.value.as_ref());
            }
        }
        Ok(None)
    }

    /// [`Self::attribute`] as text.
    fn attribute_text(&self, indices: &[i32], key: &str) -> Result<Option<String>, String> {
        match self.attribute(indices, key)? {
            Some(value) => self.any_text(value),
            None => Ok(None),
        }
    }

    /// A scalar value as text; `None` for lists, maps and bytes.
    fn any_text(&self, value: &AnyValue) -> Result<Option<String>, String> {
        Ok(match &value.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(any_value::Value::StringValueStrindex(i)) => Some(self.string(*i)?.to_owned()),
            Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
            Some(any_value::Value::BoolValue(b)) => Some(b.to_string()),
            Some(any_value::Value::DoubleValue(d)) => Some(d.to_string()),
            _ => None,
        })
    }
}
