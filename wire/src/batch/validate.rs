//! The rules a decoded batch must follow, and the types it is validated
//! into. Both decoders (the direct one the aggregator runs, and prost then
//! `reference::validate_counted`, the oracle) check a batch with these
//! functions, in the same order, so they refuse and cut down alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use augur_profile::{FileId, ProfileType, RawFrame, Runtime};

use super::limits::{
    BatchError, LimitHits, Limits, MAX_PATH_HINT, MAX_RUNTIME_FILE, MAX_RUNTIME_FUNCTION,
};

/// One process's labels; shared by all its samples.
pub type Labels = Arc<BTreeMap<String, String>>;

/// A validated sample: labels, leaf-first frames and a count. The frames
/// are a list of [`RawFrame`]s, or whatever a decoder's caller made of them
/// ([`super::decode()`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidSample<F = Vec<RawFrame>> {
    /// Labels of the process; always contains `service`.
    pub labels: Labels,
    /// Frames, leaf first.
    pub frames: F,
    /// Number of samples.
    pub count: u64,
}

/// A batch whose every index, id and label has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidBatch<F = Vec<RawFrame>> {
    /// Reporting host.
    pub host: String,
    /// Window start, Unix nanoseconds.
    pub start_unix_nanos: i64,
    /// Window end, Unix nanoseconds.
    pub end_unix_nanos: i64,
    /// What the samples measure.
    pub profile_type: ProfileType,
    /// Value of one sample in the profile type's unit.
    pub period: u64,
    /// Objects referenced, with the path on the reporting host.
    pub binaries: Vec<(FileId, String)>,
    /// Samples.
    pub samples: Vec<ValidSample<F>>,
    /// What the agent lost before sending, by reason.
    pub dropped: BTreeMap<String, u64>,
}

impl<F> ValidBatch<F> {
    /// Total sample count.
    pub fn total_samples(&self) -> u64 {
        self.samples.iter().map(|s| s.count).sum()
    }
}

/// Whether `path` may be kept as a hint to where a binary lives: absolute,
/// without `..` components or NUL bytes, at most [`MAX_PATH_HINT`] bytes.
/// Hints are only ever read, and only files carrying the expected build-id
/// are used, but nothing odd needs to reach the file system at all.
pub fn is_sane_path_hint(path: &str) -> bool {
    path.len() <= MAX_PATH_HINT
        && path.starts_with('/')
        && !path.contains('\0')
        && !path.split('/').any(|part| part == "..")
}

/// The longest prefix of `text` within `max` bytes that ends on a
/// character boundary.
fn shorten(text: &mut String, max: usize) {
    let end = shortened(text, max).len();
    text.truncate(end);
}

/// The longest prefix of `text` within `max` bytes that ends on a
/// character boundary, borrowed.
pub(super) fn shortened(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A runtime frame's fields checked, with its strings cut to their limits
/// (counted in `hits`); both decoders use it, so they agree. An unknown
/// runtime or an empty function refuses the batch.
pub(super) fn runtime_frame<'a>(
    i: usize,
    runtime: &str,
    function: &'a str,
    file: &'a str,
    hits: &mut LimitHits,
) -> Result<(Runtime, &'a str, &'a str), BatchError> {
    let runtime = Runtime::parse(runtime).ok_or_else(|| {
        BatchError::Invalid(format!(
            "sample {i} has a frame of unknown runtime {:?}",
            shortened(runtime, 64)
        ))
    })?;
    if function.is_empty() {
        return Err(BatchError::Invalid(format!(
            "sample {i} has a {runtime} frame without a function"
        )));
    }
    let (short_function, short_file) = (
        shortened(function, MAX_RUNTIME_FUNCTION),
        shortened(file, MAX_RUNTIME_FILE),
    );
    if short_function.len() < function.len() || short_file.len() < file.len() {
        hits.runtime_names_shortened += 1;
    }
    Ok((runtime, short_function, short_file))
}

/// One process's labels within `limits`: `service` first, then the others
/// in name order until `max_labels`; names too long are dropped, values too
/// long shortened.
pub(super) fn bounded_labels(
    i: usize,
    labels: impl IntoIterator<Item = (String, String)>,
    limits: &Limits,
    hits: &mut LimitHits,
) -> Result<Labels, BatchError> {
    let mut sorted: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in labels {
        if k.is_empty() {
            return Err(BatchError::Invalid(format!(
                "process {i} has a label with an empty name"
            )));
        }
        if k.len() > limits.max_label_len {
            hits.labels_too_long += 1;
            continue;
        }
        sorted.insert(k, v);
    }
    let mut service = match sorted.remove("service") {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(BatchError::Invalid(format!(
                "process {i} has no service label"
            )));
        }
    };
    let keep = limits.max_labels.saturating_sub(1);
    if sorted.len() > keep {
        hits.labels_dropped += (sorted.len() - keep) as u64;
        while sorted.len() > keep {
            sorted.pop_last();
        }
    }
    for value in sorted.values_mut().chain(std::iter::once(&mut service)) {
        if value.len() > limits.max_label_len {
            hits.labels_too_long += 1;
            shorten(value, limits.max_label_len);
        }
    }
    if service.is_empty() {
        // Its first character alone was longer than the limit.
        return Err(BatchError::Invalid(format!(
            "process {i}: the service label is longer than {} bytes",
            limits.max_label_len
        )));
    }
    sorted.insert("service".to_owned(), service);
    Ok(Arc::new(sorted))
}

/// The checks of a batch's own fields: a valid profile type (a well-known
/// one in its unit), a
/// positive period, a window that does not end before it starts.
pub(super) fn check_header(
    profile_type: &str,
    unit: &str,
    period: u64,
    start_unix_nanos: i64,
    end_unix_nanos: i64,
) -> Result<(), BatchError> {
    let invalid = |msg: String| Err(BatchError::Invalid(msg));
    if profile_type.is_empty() || unit.is_empty() {
        return invalid("profile_type and unit are required".into());
    }
    // Checked before the batch is acknowledged: storage keeps one unit per
    // type and would refuse another one only when the batch is flushed.
    if let Err(error) = augur_profile::types::check_type(profile_type, unit) {
        return invalid(error.to_string());
    }
    if period == 0 {
        return invalid("period must be positive".into());
    }
    if end_unix_nanos < start_unix_nanos {
        return invalid("window ends before it starts".into());
    }
    Ok(())
}

/// The labels of sample `i`, whose process index is `process`.
pub(super) fn sample_labels(
    i: usize,
    process: u32,
    processes: &[Labels],
) -> Result<Labels, BatchError> {
    processes.get(process as usize).cloned().ok_or_else(|| {
        BatchError::Invalid(format!("sample {i}: process index {process} out of range"))
    })
}

/// Binary `i` of a batch: its build-id, shared, and its path hint, kept
/// only when sane.
pub(super) fn binary_path(
    i: usize,
    build_id: &[u8],
    path: String,
    hits: &mut LimitHits,
) -> Result<(FileId, String), BatchError> {
    let path = if path.is_empty() || is_sane_path_hint(&path) {
        path
    } else {
        hits.path_hints_dropped += 1;
        String::new()
    };
    FileId::shared(build_id)
        .map(|id| (id, path))
        .map_err(|e| BatchError::Invalid(format!("binary {i}: {e}")))
}
