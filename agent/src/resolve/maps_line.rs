//! One line of `/proc/PID/maps`, parsed: what the mapping snapshots and the
//! vDSO lookup read of a process's memory map.

/// The fields of one `/proc/PID/maps` line that matter here.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MapsLine<'a> {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) executable: bool,
    pub(super) offset: u64,
    /// Path, `[name]` of a special mapping, or empty for anonymous memory.
    pub(super) path: &'a str,
}

impl<'a> MapsLine<'a> {
    /// Parses `START-END PERMS OFFSET DEV INODE [PATH]`.
    pub(super) fn parse(line: &'a str) -> Option<Self> {
        let mut rest = line;
        let mut field = || {
            let trimmed = rest.trim_start_matches(' ');
            let end = trimmed.find(' ').unwrap_or(trimmed.len());
            let (field, tail) = trimmed.split_at(end);
            rest = tail;
            field
        };
        let (start, end) = field().split_once('-')?;
        let perms = field();
        let offset = field();
        let (_dev, _inode) = (field(), field());
        Some(Self {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            executable: perms.as_bytes().get(2) == Some(&b'x'),
            offset: u64::from_str_radix(offset, 16).ok()?,
            path: rest.trim_start_matches(' '),
        })
    }
}
