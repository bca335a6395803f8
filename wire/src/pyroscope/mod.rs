//! Pyroscope's push protocols translated into Augur batches: the pure half
//! of the `/push.v1.PusherService/Push` and legacy `/ingest` endpoints the
//! web crate serves, kept here so that fuzz targets and benchmarks reach it
//! without a server.
//!
//! - [`push`] reads a `PushRequest` (protobuf) into [`Series`], within
//!   bounds;
//! - [`names`] reads the legacy `name=app.cpu{k=v}` query, picks the
//!   service, the labels and the runtime of a push;
//! - `pprof` turns one pprof profile into samples of every profile type it
//!   carries; `folded` does the same for collapsed text (`a;b;c 12`) and
//!   the one-stack-per-line format;
//! - [`Translator`] collects what a request holds, one batch per profile
//!   type, and gives each batch an id derived from its content, so a push
//!   retried after a lost answer is recognised as a duplicate and stored
//!   once.
//!
//! The query API's generated messages (`querier.v1`, `types.v1`,
//! `google.v1`), which Grafana reads through, are in `api`, re-exported
//! here.
//!
//! Memory is bounded at every step: the inflated size of each profile, the
//! decoded size estimated from the protobuf before it is decoded, and the
//! size of the batches built from it.

mod api;
mod folded;
pub mod names;
mod pprof;
pub mod push;

use std::collections::{BTreeMap, HashMap};

use augur_profile::Runtime;
use sha2::{Digest, Sha256};

use crate::ingest::{Batch, Binary, Frame, Process, Sample};
use crate::pprof::PprofError;

pub use api::{google, google_profile, querier, types};
pub use folded::TextFormat;
pub use names::{LegacyName, PushOrigin};
pub use push::{Series, decode_push};

/// The prefix of every batch id derived from a Pyroscope push's content.
pub const BATCH_ID_PREFIX: &str = "pyroscope:";

/// Bounds of one translated request.
#[derive(Clone, Debug)]
pub struct TranslateLimits {
    /// Most bytes one profile may inflate to (gzip inside the push).
    pub max_inflated: usize,
    /// Most bytes the decoded pprof messages of a request may take, as
    /// estimated from the protobuf before decoding.
    pub max_decoded: usize,
    /// Most bytes of encoded batches one request may become. Each batch
    /// must also fit the ingest's own decompressed limit.
    pub max_output: usize,
    /// Frames kept per stack: deeper stacks keep their leaf-most frames
    /// plus one, so ingest marks them truncated by its own rule.
    pub max_stack_depth: usize,
}

impl Default for TranslateLimits {
    fn default() -> Self {
        Self {
            max_inflated: 32 << 20,
            max_decoded: 256 << 20,
            max_output: 48 << 20,
            max_stack_depth: 1024,
        }
    }
}

/// Why a push could not be translated. Every variant is the client's
/// fault: the web crate answers 400 (or 415 for [`Self::Unsupported`]).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// The push message is not protobuf of the expected shape.
    #[error("the push is not a valid PushRequest: {0}")]
    Push(&'static str),
    /// A profile inside the push is not valid pprof.
    #[error("profile {index}: {source}")]
    Pprof {
        /// Which profile of the request, counting from 0.
        index: usize,
        /// Why.
        #[source]
        source: PprofError,
    },
    /// Text input (folded or lines) that cannot be read.
    #[error("line {line}: {message}")]
    Text {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The request or what it becomes is larger than the limits.
    #[error("{0}")]
    TooLarge(String),
    /// No service name anywhere in the push.
    #[error(
        "the push names no service: set a service_name label (or the application name of the SDK)"
    )]
    NoService,
    /// Anything else malformed: names, labels, times.
    #[error("{0}")]
    Invalid(String),
    /// A format this server does not read.
    #[error("format {0:?} is not supported; send pprof, folded (collapsed) or lines")]
    Unsupported(String),
}

/// One batch ready for [`crate::sink::BatchSink::push`].
#[derive(Clone, Debug)]
pub struct TranslatedBatch {
    /// `pyroscope:` and the SHA-256 of the batch's content, in hex.
    pub batch_id: String,
    /// The zstd-compressed encoded [`Batch`].
    pub payload: Vec<u8>,
    /// Its Augur profile type.
    pub profile_type: String,
    /// Samples it holds.
    pub samples: usize,
}

/// Collects the profiles of one request into one batch per profile type.
pub struct Translator {
    limits: TranslateLimits,
    /// Keyed by profile type and period: one type may come at two rates.
    batches: BTreeMap<(String, u64), BatchBuilder>,
    output: usize,
    decoded: usize,
    profiles: usize,
}

impl Translator {
    /// An empty translator.
    pub fn new(limits: TranslateLimits) -> Self {
        Self {
            limits,
            batches: BTreeMap::new(),
            output: 0,
            decoded: 0,
            profiles: 0,
        }
    }

    /// Adds one pprof profile (gzipped or not) pushed by `origin`.
    pub fn add_pprof(&mut self, origin: &PushOrigin, raw: &[u8]) -> Result<(), TranslateError> {
        let index = self.profiles;
        self.profiles += 1;
        pprof::translate(self, origin, raw).map_err(|error| match error {
            pprof::Failure::Pprof(source) => TranslateError::Pprof { index, source },
            pprof::Failure::Other(error) => error,
        })
    }

    /// Adds text in `format` (folded or lines), whose values are of the
    /// type `profile_type` in `unit`, each worth `period`.
    pub fn add_text(
        &mut self,
        origin: &PushOrigin,
        format: TextFormat,
        text: &[u8],
        profile_type: (&str, &str),
        period: u64,
    ) -> Result<(), TranslateError> {
        self.profiles += 1;
        folded::translate(self, origin, format, text, profile_type, period)
    }

    /// The batches, one per profile type, in type-name order.
    pub fn finish(self) -> Result<Vec<TranslatedBatch>, TranslateError> {
        self.batches
            .into_iter()
            .filter(|(_, b)| !b.batch.samples.is_empty())
            .map(|((name, _), builder)| builder.finish(name))
            .collect()
    }

    /// Charges `bytes` of decoded protobuf.
    fn charge_decoded(&mut self, bytes: usize) -> Result<(), TranslateError> {
        self.decoded = self.decoded.saturating_add(bytes);
        if self.decoded > self.limits.max_decoded {
            return Err(TranslateError::TooLarge(format!(
                "the profiles would take more than {} bytes once decoded",
                self.limits.max_decoded
            )));
        }
        Ok(())
    }

    /// Charges `bytes` of encoded output.
    fn charge_output(&mut self, bytes: usize) -> Result<(), TranslateError> {
        self.output = self.output.saturating_add(bytes);
        if self.output > self.limits.max_output {
            return Err(TranslateError::TooLarge(format!(
                "the push would become more than {} bytes of batches",
                self.limits.max_output
            )));
        }
        Ok(())
    }

    /// The batch of `profile_type` (in `unit`, each sample worth `period`),
    /// started if new. A type already started with another unit or period
    /// is refused.
    fn batch(
        &mut self,
        profile_type: &str,
        unit: &str,
        period: u64,
        origin: &PushOrigin,
        window: (i64, i64),
    ) -> Result<&mut BatchBuilder, TranslateError> {
        augur_profile::types::check_type(profile_type, unit)
            .map_err(|error| TranslateError::Invalid(error.to_string()))?;
        let builder = self
            .batches
            .entry((profile_type.to_owned(), period))
            .or_insert_with(|| BatchBuilder::new(profile_type, unit, period, origin, window));
        if builder.batch.unit != unit {
            return Err(TranslateError::Invalid(format!(
                "profile type {profile_type} comes in two units in one push"
            )));
        }
        builder.widen(window);
        Ok(builder)
    }
}

/// One batch being built, with its indexes and its content hash.
struct BatchBuilder {
    batch: Batch,
    processes: HashMap<BTreeMap<String, String>, u32>,
    binaries: HashMap<Vec<u8>, u32>,
    hash: Sha256,
}

impl BatchBuilder {
    fn new(
        profile_type: &str,
        unit: &str,
        period: u64,
        origin: &PushOrigin,
        (start, end): (i64, i64),
    ) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"augur pyroscope batch v1\0");
        hash.update(profile_type.as_bytes());
        hash.update([0]);
        Self {
            batch: Batch {
                host: origin.host.clone(),
                start_unix_nanos: start,
                end_unix_nanos: end,
                profile_type: profile_type.to_owned(),
                unit: unit.to_owned(),
                period,
                ..Batch::default()
            },
            processes: HashMap::new(),
            binaries: HashMap::new(),
            hash,
        }
    }

    /// Stretches the batch's window over `(start, end)`.
    fn widen(&mut self, (start, end): (i64, i64)) {
        self.batch.start_unix_nanos = self.batch.start_unix_nanos.min(start);
        self.batch.end_unix_nanos = self.batch.end_unix_nanos.max(end);
    }

    /// Feeds what identifies one profile of the request into the batch id:
    /// the service, labels, window and the digest of the raw bytes.
    fn identify(&mut self, origin: &PushOrigin, window: (i64, i64), content: &[u8; 32]) {
        let hash = &mut self.hash;
        hash.update(origin.service.as_bytes());
        hash.update([0]);
        for (name, value) in &origin.labels {
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(value.as_bytes());
            hash.update([0]);
        }
        hash.update([1]);
        hash.update(window.0.to_le_bytes());
        hash.update(window.1.to_le_bytes());
        hash.update(content);
    }

    /// The index of the process labelled `labels`.
    fn process(&mut self, labels: BTreeMap<String, String>) -> (u32, usize) {
        if let Some(&index) = self.processes.get(&labels) {
            return (index, 0);
        }
        let size: usize = labels.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
        let index = self.batch.processes.len() as u32;
        self.batch.processes.push(Process {
            pid: 0,
            labels: labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        });
        self.processes.insert(labels, index);
        (index, size + 4)
    }

    /// The index of the binary with `build_id`.
    fn binary(&mut self, build_id: &[u8], path: &str) -> (u32, usize) {
        if let Some(&index) = self.binaries.get(build_id) {
            return (index, 0);
        }
        let index = self.batch.binaries.len() as u32;
        self.batch.binaries.push(Binary {
            build_id: build_id.to_vec(),
            path: path.to_owned(),
        });
        self.binaries.insert(build_id.to_vec(), index);
        (index, build_id.len() + path.len() + 6)
    }

    fn push_sample(&mut self, process: u32, frames: Vec<Frame>, count: u64) {
        self.batch.samples.push(Sample {
            process,
            frames,
            count,
        });
    }

    fn finish(self, profile_type: String) -> Result<TranslatedBatch, TranslateError> {
        use prost::Message;
        let digest = self.hash.finalize();
        let mut batch_id = String::with_capacity(BATCH_ID_PREFIX.len() + 64);
        batch_id.push_str(BATCH_ID_PREFIX);
        for byte in digest {
            batch_id.push_str(&format!("{byte:02x}"));
        }
        let samples = self.batch.samples.len();
        let payload = zstd::bulk::compress(&self.batch.encode_to_vec(), 1)
            .map_err(|error| TranslateError::Invalid(format!("compressing a batch: {error}")))?;
        Ok(TranslatedBatch {
            batch_id,
            payload,
            profile_type,
            samples,
        })
    }
}

/// SHA-256 of a profile's raw bytes, fed into the id of every batch it
/// contributes to.
fn content_digest(raw: &[u8]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

/// A runtime frame's wire form.
fn runtime_frame(
    runtime: Runtime,
    function: &str,
    file: &str,
    line: u32,
    inlined: bool,
) -> (Frame, usize) {
    use crate::ingest::{RuntimeFrame, frame};
    let size = function.len() + file.len() + 24;
    let frame = Frame {
        kind: Some(frame::Kind::Runtime(RuntimeFrame {
            runtime: runtime.as_str().to_owned(),
            function: function.to_owned(),
            file: file.to_owned(),
            line,
            inlined,
        })),
    };
    (frame, size)
}

/// A frame named by its producer, of no runtime Augur knows.
fn named_frame(function: &str) -> (Frame, usize) {
    use crate::ingest::{NamedFrame, frame};
    let frame = Frame {
        kind: Some(frame::Kind::Named(NamedFrame {
            function: function.to_owned(),
            origin: names::NAMED_ORIGIN.to_owned(),
        })),
    };
    (frame, function.len() + 20)
}
