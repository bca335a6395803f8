//! How a frame is stored as columns (`kind`, binary, offset, name,
//! module): the same encoding in SQLite's `frames` table and ClickHouse's,
//! so both backends read and write frames alike.

use augur_profile::{FileId, RawFrame, Runtime};

use crate::error::StorageError;

/// `frames.kind` values.
mod kind {
    pub(super) const USER: i64 = 0;
    pub(super) const KERNEL: i64 = 1;
    pub(super) const UNKNOWN: i64 = 2;
    /// A user frame named on its host (JIT, vDSO); `module` is the origin.
    pub(super) const NAMED: i64 = 3;
    /// A language runtime's frame (`RawFrame::Runtime`): `name` is the
    /// function, `module` the source file, and `file_offset` packs the rest
    /// (see [`super::runtime_offset`]): the line in bits 0-31, the runtime
    /// in bits 32-39 (1 python, 2 java, 3 go, 4 node, 5 ruby, 6 dotnet) and `inlined` in bit 40. The
    /// columns and their unique key stay as they were, so no table changes,
    /// and every field is in the key: two frames differing in any of them
    /// are two rows (and two ClickHouse frame ids).
    pub(super) const RUNTIME: i64 = 4;
}

/// A runtime's code in [`kind::RUNTIME`]'s `file_offset`.
fn runtime_code(runtime: Runtime) -> i64 {
    match runtime {
        Runtime::Python => 1,
        Runtime::Java => 2,
        Runtime::Go => 3,
        Runtime::Node => 4,
        Runtime::Ruby => 5,
        Runtime::Dotnet => 6,
    }
}

/// A runtime frame's line, runtime and `inlined`, packed into the
/// `file_offset` column ([`kind::RUNTIME`]).
fn runtime_offset(runtime: Runtime, line: u32, inlined: bool) -> i64 {
    i64::from(line) | runtime_code(runtime) << 32 | i64::from(inlined) << 40
}

/// The inverse of [`runtime_offset`]; `None` for bits it never sets.
fn runtime_from_offset(offset: i64) -> Option<(Runtime, u32, bool)> {
    if offset >> 41 != 0 {
        return None;
    }
    let runtime = Runtime::ALL
        .into_iter()
        .find(|&r| runtime_code(r) == (offset >> 32) & 0xff)?;
    Some((runtime, offset as u32, offset >> 40 & 1 == 1))
}

/// A [`RawFrame`] as the columns of `frames`, except that user frames carry
/// their build-id, which the caller turns into a `binary_id`.
pub(crate) struct FrameColumns<'a> {
    pub(crate) kind: i64,
    pub(crate) build_id: Option<&'a FileId>,
    pub(crate) file_offset: i64,
    pub(crate) name: &'a str,
    pub(crate) module: &'a str,
}

impl<'a> FrameColumns<'a> {
    pub(crate) fn of(frame: &'a RawFrame) -> Self {
        match frame {
            RawFrame::User {
                build_id,
                file_offset,
            } => FrameColumns {
                kind: kind::USER,
                build_id: Some(build_id),
                file_offset: offset_to_sql(*file_offset),
                name: "",
                module: "",
            },
            RawFrame::Kernel { function, module } => FrameColumns {
                kind: kind::KERNEL,
                build_id: None,
                file_offset: 0,
                name: function,
                // `None` and `Some("")` both mean "not in a module"; the
                // wire format cannot tell them apart either.
                module: module.as_deref().unwrap_or(""),
            },
            RawFrame::Named { function, origin } => FrameColumns {
                kind: kind::NAMED,
                build_id: None,
                file_offset: 0,
                name: function,
                module: origin,
            },
            RawFrame::Unknown { reason } => FrameColumns {
                kind: kind::UNKNOWN,
                build_id: None,
                file_offset: 0,
                name: reason,
                module: "",
            },
            RawFrame::Runtime {
                runtime,
                function,
                file,
                line,
                inlined,
            } => FrameColumns {
                kind: kind::RUNTIME,
                build_id: None,
                file_offset: runtime_offset(*runtime, *line, *inlined),
                name: function,
                module: file,
            },
        }
    }

    /// Whether the frame is a binary's code, to be named by the
    /// symbolizer; every other kind arrives named (or unnameable).
    pub(crate) fn is_user(&self) -> bool {
        self.kind == kind::USER
    }
}

/// Rebuilds a frame from its stored columns; `build_id` is the joined
/// `binaries.build_id` (NULL for kernel and unknown frames).
pub(crate) fn frame_from_columns(
    frame_id: i64,
    kind: i64,
    build_id: Option<Vec<u8>>,
    file_offset: i64,
    name: String,
    module: String,
) -> Result<RawFrame, StorageError> {
    match kind {
        kind::USER => {
            let bytes = build_id.ok_or_else(|| StorageError::Corrupt {
                what: format!("user frame {frame_id} has no binary"),
            })?;
            let build_id = FileId::from_bytes(&bytes).map_err(|e| StorageError::Corrupt {
                what: format!("user frame {frame_id}: {e}"),
            })?;
            Ok(RawFrame::User {
                build_id,
                file_offset: offset_from_sql(file_offset),
            })
        }
        kind::KERNEL => Ok(RawFrame::Kernel {
            function: name,
            module: (!module.is_empty()).then_some(module),
        }),
        kind::UNKNOWN => Ok(RawFrame::Unknown { reason: name }),
        kind::NAMED => Ok(RawFrame::Named {
            function: name,
            origin: module,
        }),
        kind::RUNTIME => {
            let (runtime, line, inlined) =
                runtime_from_offset(file_offset).ok_or_else(|| StorageError::Corrupt {
                    what: format!("runtime frame {frame_id} has unknown bits {file_offset:#x}"),
                })?;
            Ok(RawFrame::Runtime {
                runtime,
                function: name,
                file: module,
                line,
                inlined,
            })
        }
        other => Err(StorageError::Corrupt {
            what: format!("frame {frame_id} has unknown kind {other}"),
        }),
    }
}

/// SQLite integers are signed; offsets keep all 64 bits by reinterpretation.
pub(crate) fn offset_to_sql(offset: u64) -> i64 {
    offset as i64
}

/// Inverse of [`offset_to_sql`].
pub(crate) fn offset_from_sql(offset: i64) -> u64 {
    offset as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_keep_all_bits() {
        for offset in [0, 1, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, u64::MAX] {
            assert_eq!(offset_from_sql(offset_to_sql(offset)), offset);
        }
    }

    #[test]
    fn frames_survive_their_columns() {
        let frames = [
            RawFrame::User {
                build_id: FileId::parse_hex("abcd").unwrap(),
                file_offset: u64::MAX,
            },
            RawFrame::Kernel {
                function: "schedule".into(),
                module: None,
            },
            RawFrame::Kernel {
                function: "nvme_irq".into(),
                module: Some("nvme".into()),
            },
            RawFrame::Unknown {
                reason: "anonymous memory".into(),
            },
            RawFrame::Named {
                function: "LazyCompile:*fib app.js:3".into(),
                origin: "jit".into(),
            },
            RawFrame::Runtime {
                runtime: Runtime::Python,
                function: "Server.handle".into(),
                file: "/srv/app/server.py".into(),
                line: u32::MAX,
                inlined: false,
            },
            RawFrame::Runtime {
                runtime: Runtime::Java,
                function: "java.util.HashMap.get".into(),
                file: String::new(),
                line: 0,
                inlined: true,
            },
        ];
        // Frames differing only in the packed fields differ in their columns.
        let packed: std::collections::HashSet<i64> = [
            (Runtime::Python, 7, false),
            (Runtime::Java, 7, false),
            (Runtime::Java, 7, true),
            (Runtime::Java, 8, true),
        ]
        .into_iter()
        .map(|(r, line, inlined)| runtime_offset(r, line, inlined))
        .collect();
        assert_eq!(packed.len(), 4);
        for frame in frames {
            let c = FrameColumns::of(&frame);
            let build_id = c.build_id.map(|b| b.as_bytes().to_vec());
            let back = frame_from_columns(
                1,
                c.kind,
                build_id,
                c.file_offset,
                c.name.into(),
                c.module.into(),
            )
            .unwrap();
            assert_eq!(back, frame);
        }
    }

    #[test]
    fn unknown_kinds_and_missing_binaries_are_corruption_not_panics() {
        let err = frame_from_columns(7, 9, None, 0, String::new(), String::new()).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        let err =
            frame_from_columns(7, kind::USER, None, 0, String::new(), String::new()).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        let err = frame_from_columns(7, kind::USER, Some(vec![]), 0, String::new(), String::new())
            .unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        // A runtime code never written, and bits above `inlined`.
        for offset in [9 << 32, 1 << 32 | 1 << 41] {
            let err = frame_from_columns(7, kind::RUNTIME, None, offset, "f".into(), String::new())
                .unwrap_err();
            assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
        }
    }
}
