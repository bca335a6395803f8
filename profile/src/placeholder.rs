//! The names of frames nobody could name: one small vocabulary, listed for
//! users in `web/API.md`.
//!
//! A frame the host cannot tie to a file travels as
//! [`RawFrame::Unknown`](crate::RawFrame::Unknown) with a reason from this
//! module, and every output shows it as `[reason]`. Reasons are Augur's own
//! words: a library's internal error text never reaches a user. Agents
//! before this vocabulary sent blazesym's reason strings; [`display`] maps
//! those, so data stored then reads the same way.

/// Executable memory backed by no file (JIT code, trampolines) that no perf
/// map names, in the process whose executable is `exe`.
pub fn anonymous_code(exe: &str) -> String {
    format!("anonymous code in {exe}")
}

/// Code mapped from a `memfd` (a file with no path on disk).
pub fn memfd_code(exe: &str) -> String {
    format!("memfd code in {exe}")
}

/// A special kernel mapping other than the vDSO (`[vsyscall]`, `[uprobes]`).
pub fn special_mapping(name: &str) -> String {
    name.trim_matches(['[', ']']).to_owned()
}

/// A vDSO address with no symbol of the vDSO around it.
pub const VDSO: &str = "vdso";

/// An address outside every mapping the process had when it was read.
pub const UNMAPPED: &str = "unmapped";

/// A mapped file the agent could not read (permissions, gone).
pub fn unreadable_file(path: &str) -> String {
    format!(
        "unreadable file {}",
        path.rsplit('/').next().unwrap_or(path)
    )
}

/// A Python frame whose code object was never read: its process exited
/// before the agent named it.
pub const PYTHON_PROCESS_EXITED: &str = "python code, process exited";

/// A Python frame whose code object could not be read as one (freed and
/// reused memory, or a layout the agent misjudged): never a wrong name.
pub const PYTHON_CODE_UNREADABLE: &str = "python code, unreadable";

/// A Java frame whose method's metadata could not be read (its class
/// unloaded, or memory the agent misread): never a wrong name.
pub const JAVA_METHOD_UNREADABLE: &str = "java method, unreadable";

/// A frame a Pyroscope push or other pushed profile sent with neither a
/// name nor a mapping with a GNU build-id to name it by.
pub const PUSHED_WITHOUT_NAME: &str = "pushed without a name";

/// The name shown for an unknown frame with `reason`, brackets included.
pub fn display(reason: &str) -> String {
    format!("[{}]", current(reason))
}

/// The reason strings agents sent before this vocabulary (blazesym's
/// `Reason` texts and the old "no build-id"), each with what it means in
/// today's words: a closed set, as agents now send only this module's.
pub const LEGACY: &[(&str, &str)] = &[
    ("proc maps entry has no component", "anonymous code"),
    (
        "absolute address not found in virtual memory map of process",
        UNMAPPED,
    ),
    ("address belongs to unsupported entity", "special mapping"),
    (
        "address not found in symbolization source",
        "unknown address",
    ),
    (
        "file offset does not map to a valid piece of code/data",
        "unknown address",
    ),
    (
        "symbolization source has no or no relevant symbols",
        "unknown address",
    ),
    (
        "an error occurred but was ignored in batch mode",
        "unknown address",
    ),
    ("no build-id", "file without an id"),
];

/// `reason` in today's vocabulary ([`LEGACY`] strings mapped).
pub fn current(reason: &str) -> &str {
    LEGACY
        .iter()
        .find(|(legacy, _)| *legacy == reason)
        .map_or(reason, |(_, now)| now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_reason_strings_are_shown_in_augurs_words() {
        for (legacy, _) in LEGACY {
            let shown = display(legacy);
            assert!(!shown.contains(legacy), "{shown}");
            assert!(shown.starts_with('[') && shown.ends_with(']'));
        }
        assert_eq!(display(&anonymous_code("node")), "[anonymous code in node]");
        assert_eq!(display(&memfd_code("java")), "[memfd code in java]");
        assert_eq!(display(&special_mapping("[vsyscall]")), "[vsyscall]");
        assert_eq!(
            display(&unreadable_file("/opt/x/bin/app")),
            "[unreadable file app]"
        );
        assert_eq!(display("process exited"), "[process exited]");
    }
}
