//! The text formats of the legacy `/ingest`: folded (collapsed) stacks,
//! `root;caller;leaf 12` per line, and `lines`, one stack per line worth
//! one sample each. Frames are named by their producer: runtime frames of
//! the spy's runtime, or named frames when no spy was given.

use std::collections::HashMap;

use super::{PushOrigin, TranslateError, Translator, content_digest, named_frame, runtime_frame};

/// Which text format a body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    /// `a;b;c 12`: a stack, a space, its count.
    Folded,
    /// `a;b;c`: a stack per line, each worth one.
    Lines,
}

/// Longest line read, in bytes.
const MAX_LINE: usize = 1 << 20;

pub(super) fn translate(
    translator: &mut Translator,
    origin: &PushOrigin,
    format: TextFormat,
    text: &[u8],
    (profile_type, unit): (&str, &str),
    period: u64,
) -> Result<(), TranslateError> {
    let max_depth = translator.limits.max_stack_depth.saturating_add(1);
    // Text without `from` is timed by its arrival, and identified by its
    // content alone, so that its retry is still the same batch.
    let (window, id_window) = match origin.window {
        Some(window) => (window, window),
        None => {
            let now = super::pprof::now_nanos();
            ((now, now), (0, 0))
        }
    };
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let error = |message: &str| TranslateError::Text {
            line: n + 1,
            message: message.to_owned(),
        };
        if line.len() > MAX_LINE {
            return Err(error("longer than 1 MiB"));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| error("not UTF-8"))?
            .trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (stack, count) = match format {
            TextFormat::Lines => (line, 1),
            TextFormat::Folded => {
                let (stack, count) = line
                    .rsplit_once(' ')
                    .ok_or_else(|| error("no count after the stack"))?;
                let count: u64 = count
                    .trim()
                    .parse()
                    .map_err(|_| error("the count is not a whole number"))?;
                (stack, count)
            }
        };
        if stack.is_empty() {
            return Err(error("an empty stack"));
        }
        let total = counts.entry(stack).or_default();
        *total = total.saturating_add(count);
    }
    let builder = translator.batch(profile_type, unit, period, origin, window)?;
    builder.identify(origin, id_window, &content_digest(text));
    let mut labels = origin.labels.clone();
    labels.insert("service".to_owned(), origin.service.clone());
    let (process, mut size) = builder.process(labels);
    let mut stacks: Vec<(&str, u64)> = counts.into_iter().filter(|&(_, c)| c > 0).collect();
    stacks.sort_unstable();
    for (stack, count) in stacks {
        // Root first in the text, leaf first in a batch.
        let mut frames = Vec::new();
        for function in stack.rsplit(';').take(max_depth) {
            let (frame, bytes) = match origin.runtime {
                Some(runtime) => runtime_frame(runtime, function, "", 0, false),
                None => named_frame(function),
            };
            size += bytes;
            frames.push(frame);
        }
        builder.push_sample(process, frames, count);
        size += 12;
    }
    translator.charge_output(size)
}

#[cfg(test)]
mod tests {
    use super::super::{TranslateLimits, Translator};
    use super::*;
    use crate::ingest::{Batch, frame};
    use prost::Message;

    fn origin() -> PushOrigin {
        PushOrigin {
            service: "app".into(),
            labels: [("region".to_owned(), "eu".to_owned())].into(),
            profile_name: "process_cpu".into(),
            runtime: Some(augur_profile::Runtime::Ruby),
            host: String::new(),
            window: Some((1_000_000_000, 11_000_000_000)),
        }
    }

    fn batches(format: TextFormat, text: &str) -> Vec<(String, Batch)> {
        let mut t = Translator::new(TranslateLimits::default());
        t.add_text(
            &origin(),
            format,
            text.as_bytes(),
            ("cpu", "nanoseconds"),
            10_000_000,
        )
        .unwrap();
        t.finish()
            .unwrap()
            .into_iter()
            .map(|b| {
                let raw = zstd::bulk::decompress(&b.payload, 1 << 20).unwrap();
                (b.batch_id, Batch::decode(&*raw).unwrap())
            })
            .collect()
    }

    #[test]
    fn folded_stacks_become_leaf_first_runtime_frames() {
        let got = batches(TextFormat::Folded, "main;work;hot 30\nmain;idle 5\n\n");
        assert_eq!(got.len(), 1);
        let (id, batch) = &got[0];
        assert!(id.starts_with("pyroscope:") && id.len() == 10 + 64, "{id}");
        assert_eq!(batch.period, 10_000_000);
        let total: u64 = batch.samples.iter().map(|s| s.count).sum();
        assert_eq!(total, 35);
        let hot = batch.samples.iter().find(|s| s.count == 30).unwrap();
        let Some(frame::Kind::Runtime(leaf)) = &hot.frames[0].kind else {
            panic!("not a runtime frame: {:?}", hot.frames[0]);
        };
        assert_eq!(
            (leaf.function.as_str(), leaf.runtime.as_str()),
            ("hot", "ruby")
        );
        assert_eq!(batch.processes[0].labels["service"], "app");
        assert_eq!(batch.processes[0].labels["region"], "eu");
        // The same content gives the same id: a retry is a duplicate.
        let again = batches(TextFormat::Folded, "main;work;hot 30\nmain;idle 5\n\n");
        assert_eq!(again[0].0, *id);
        let other = batches(TextFormat::Folded, "main;work;hot 31\nmain;idle 5\n");
        assert_ne!(other[0].0, *id);
    }

    #[test]
    fn lines_count_one_each_and_bad_text_is_refused() {
        let got = batches(TextFormat::Lines, "a;b\na;b\na;c\n");
        let total: u64 = got[0].1.samples.iter().map(|s| s.count).sum();
        assert_eq!(total, 3);
        let mut t = Translator::new(TranslateLimits::default());
        let err = t
            .add_text(
                &origin(),
                TextFormat::Folded,
                b"a;b 1\na;b many\n",
                ("cpu", "nanoseconds"),
                1,
            )
            .unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
