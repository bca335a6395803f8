//! The unwind row: 12 bytes with a fixed layout, copied as they are into a
//! BPF array map, and the typed rules it encodes.
//!
//! Layout (`#[repr(C)]`, little-endian, no padding, 4-byte aligned):
//!
//! | offset | type  | field        | meaning |
//! | ---:   | ---   | ---          | --- |
//! | 0      | `u32` | `pc`         | first file offset the row covers; it ends where the next row starts |
//! | 4      | `i32` | `cfa_offset` | `CFA_RSP`/`CFA_RBP`: added to the register; `CFA_PLT`: added to rsp before the PLT adjustment; `CFA_DEREF_RBP`: added to rbp before the load |
//! | 8      | `i16` | `rbp_offset` | `RBP_AT_CFA`: the caller's rbp is saved at CFA + `rbp_offset`; in `CFA_PLT` rows: the `rip & 15` threshold |
//! | 10     | `i8`  | `ra_offset`  | `RA_AT_CFA`: the return address is saved at CFA + `ra_offset` (-8 on x86_64) |
//! | 11     | `u8`  | `rules`      | bits 0-3 the CFA rule, bits 4-5 the rbp rule, bits 6-7 the return-address rule |
//!
//! Fields a rule does not use are zero, so that rows with the same rules are
//! byte-for-byte equal and merge.
//!
//! The C mirror for the BPF side:
//!
//! ```c
//! struct unwind_row {
//!     __u32 pc;
//!     __s32 cfa_offset;
//!     __s16 rbp_offset;
//!     __s8  ra_offset;
//!     __u8  rules;
//! };
//! ```

/// No unwind information from `pc` on: the end of an FDE that no other
/// FDE follows, a gap between functions.
pub const CFA_END: u8 = 0;
/// CFA = rsp + `cfa_offset`.
pub const CFA_RSP: u8 = 1;
/// CFA = rbp + `cfa_offset`.
pub const CFA_RBP: u8 = 2;
/// The PLT stub expression: CFA = rsp + `cfa_offset` + ((rip & 15) >=
/// `rbp_offset` ? 8 : 0). Lazy-binding PLT entries are 16 bytes; from the
/// threshold on, the entry has pushed its relocation index.
pub const CFA_PLT: u8 = 3;
/// CFA = *(rbp + `cfa_offset`): gcc's stack-realigning prologue (DRAP),
/// `DW_OP_breg6 (rbp): N; DW_OP_deref`.
pub const CFA_DEREF_RBP: u8 = 4;
/// A signal trampoline (`S` augmentation, e.g. glibc's `__restore_rt`):
/// rsp points at the kernel's `ucontext_t`; the interrupted frame's rsp,
/// rbp and rip are at rsp + [`SIGNAL_RSP`], [`SIGNAL_RBP`], [`SIGNAL_RIP`].
pub const CFA_SIGNAL: u8 = 5;
/// Unwind information exists but uses something this format does not
/// encode (another base register, another expression).
pub const CFA_UNSUPPORTED: u8 = 6;

/// The caller's rbp is the current rbp (same value, or not mentioned).
pub const RBP_UNCHANGED: u8 = 0;
/// The caller's rbp is saved at CFA + `rbp_offset`.
pub const RBP_AT_CFA: u8 = 1;
/// The caller's rbp cannot be recovered. Not emitted by the builder today:
/// gimli does not tell `DW_CFA_undefined rbp` from an rbp the FDE never
/// mentions, and the latter, meaning unchanged, is the common case.
pub const RBP_UNDEFINED: u8 = 2;
/// Saved in another register or by an expression.
pub const RBP_UNSUPPORTED: u8 = 3;

/// The return address is saved at CFA + `ra_offset`.
pub const RA_AT_CFA: u8 = 0;
/// The return address is undefined: the outermost frame (`_start`,
/// `clone`'s child); the stack is complete here.
pub const RA_UNDEFINED: u8 = 1;
/// Saved in a register or by an expression.
pub const RA_UNSUPPORTED: u8 = 2;

/// Offset of `uc_mcontext.gregs[REG_RSP]` in the x86_64 Linux `ucontext_t`
/// found at rsp inside a signal trampoline.
pub const SIGNAL_RSP: u32 = 160;
/// Offset of `uc_mcontext.gregs[REG_RBP]`.
pub const SIGNAL_RBP: u32 = 120;
/// Offset of `uc_mcontext.gregs[REG_RIP]`.
pub const SIGNAL_RIP: u32 = 168;

/// One row of an unwind table; see the module docs for the layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UnwindRow {
    /// First file offset covered.
    pub pc: u32,
    /// Offset used by the CFA rule.
    pub cfa_offset: i32,
    /// Where rbp is saved, relative to the CFA (or the PLT threshold).
    pub rbp_offset: i16,
    /// Where the return address is saved, relative to the CFA.
    pub ra_offset: i8,
    /// CFA rule (bits 0-3), rbp rule (4-5), return-address rule (6-7).
    pub rules: u8,
}

// SAFETY: plain integers, `#[repr(C)]`, no padding (checked by a test).
unsafe impl plain::Plain for UnwindRow {}

/// How to find the canonical frame address (the caller's rsp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CfaRule {
    /// No unwind information here.
    End,
    /// rsp + offset.
    Rsp(i32),
    /// rbp + offset.
    Rbp(i32),
    /// rsp + offset + ((rip & 15) >= threshold ? 8 : 0).
    Plt {
        /// Added to rsp.
        rsp_offset: i32,
        /// Low bits of rip from which the stub has pushed one more word.
        threshold: u8,
    },
    /// *(rbp + offset).
    DerefRbp(i32),
    /// A signal trampoline: registers come from the `ucontext_t` at rsp.
    Signal,
    /// Information this format does not encode.
    Unsupported,
}

/// How to find the caller's rbp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RbpRule {
    /// Not changed by this frame.
    Unchanged,
    /// Saved at CFA + offset.
    AtCfa(i16),
    /// Not recoverable.
    Undefined,
    /// In a register or computed by an expression.
    Unsupported,
}

/// How to find the return address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RaRule {
    /// Saved at CFA + offset.
    AtCfa(i8),
    /// None: the outermost frame.
    Undefined,
    /// In a register or computed by an expression.
    Unsupported,
}

/// The three rules of a row, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    /// Canonical frame address.
    pub cfa: CfaRule,
    /// Caller's frame pointer.
    pub rbp: RbpRule,
    /// Return address.
    pub ra: RaRule,
}

impl Rules {
    /// The marker for "no unwind information".
    pub const END: Rules = Rules {
        cfa: CfaRule::End,
        rbp: RbpRule::Unchanged,
        ra: RaRule::Undefined,
    };

    /// Encodes the rules as a row starting at `pc`. Unused fields are zero.
    pub fn to_row(self, pc: u32) -> UnwindRow {
        let mut row = UnwindRow {
            pc,
            ..UnwindRow::default()
        };
        let cfa = match self.cfa {
            CfaRule::End => CFA_END,
            CfaRule::Rsp(offset) => {
                row.cfa_offset = offset;
                CFA_RSP
            }
            CfaRule::Rbp(offset) => {
                row.cfa_offset = offset;
                CFA_RBP
            }
            CfaRule::Plt {
                rsp_offset,
                threshold,
            } => {
                row.cfa_offset = rsp_offset;
                row.rbp_offset = i16::from(threshold);
                CFA_PLT
            }
            CfaRule::DerefRbp(offset) => {
                row.cfa_offset = offset;
                CFA_DEREF_RBP
            }
            CfaRule::Signal => CFA_SIGNAL,
            CfaRule::Unsupported => CFA_UNSUPPORTED,
        };
        // PLT rows carry the threshold in `rbp_offset`; rbp is untouched there.
        let rbp = match (self.cfa, self.rbp) {
            (CfaRule::End | CfaRule::Signal | CfaRule::Plt { .. }, _) => RBP_UNCHANGED,
            (_, RbpRule::Unchanged) => RBP_UNCHANGED,
            (_, RbpRule::AtCfa(offset)) => {
                row.rbp_offset = offset;
                RBP_AT_CFA
            }
            (_, RbpRule::Undefined) => RBP_UNDEFINED,
            (_, RbpRule::Unsupported) => RBP_UNSUPPORTED,
        };
        let ra = match (self.cfa, self.ra) {
            (CfaRule::End | CfaRule::Signal, _) => RA_UNDEFINED,
            (_, RaRule::AtCfa(offset)) => {
                row.ra_offset = offset;
                RA_AT_CFA
            }
            (_, RaRule::Undefined) => RA_UNDEFINED,
            (_, RaRule::Unsupported) => RA_UNSUPPORTED,
        };
        row.rules = cfa | (rbp << 4) | (ra << 6);
        row
    }
}

impl UnwindRow {
    /// The CFA rule number (`CFA_*`).
    pub fn cfa_kind(&self) -> u8 {
        self.rules & 0x0f
    }

    /// The rbp rule number (`RBP_*`).
    pub fn rbp_kind(&self) -> u8 {
        (self.rules >> 4) & 0x03
    }

    /// The return-address rule number (`RA_*`).
    pub fn ra_kind(&self) -> u8 {
        self.rules >> 6
    }

    /// True for the "no unwind information" marker.
    pub fn is_end(&self) -> bool {
        self.cfa_kind() == CFA_END
    }

    /// The typed rules; numbers outside the enums read as unsupported.
    pub fn rules(&self) -> Rules {
        let cfa = match self.cfa_kind() {
            CFA_END => CfaRule::End,
            CFA_RSP => CfaRule::Rsp(self.cfa_offset),
            CFA_RBP => CfaRule::Rbp(self.cfa_offset),
            CFA_PLT => CfaRule::Plt {
                rsp_offset: self.cfa_offset,
                threshold: self.rbp_offset as u8,
            },
            CFA_DEREF_RBP => CfaRule::DerefRbp(self.cfa_offset),
            CFA_SIGNAL => CfaRule::Signal,
            _ => CfaRule::Unsupported,
        };
        let rbp = match self.rbp_kind() {
            _ if self.cfa_kind() == CFA_PLT => RbpRule::Unchanged,
            RBP_UNCHANGED => RbpRule::Unchanged,
            RBP_AT_CFA => RbpRule::AtCfa(self.rbp_offset),
            RBP_UNDEFINED => RbpRule::Undefined,
            _ => RbpRule::Unsupported,
        };
        let ra = match self.ra_kind() {
            RA_AT_CFA => RaRule::AtCfa(self.ra_offset),
            RA_UNDEFINED => RaRule::Undefined,
            _ => RaRule::Unsupported,
        };
        Rules { cfa, rbp, ra }
    }

    /// True when both rows give the same rules, wherever they start.
    pub fn same_rules(&self, other: &UnwindRow) -> bool {
        UnwindRow { pc: 0, ..*self } == UnwindRow { pc: 0, ..*other }
    }
}

/// The rows as the bytes a BPF array map takes, in order.
pub fn rows_as_bytes(rows: &[UnwindRow]) -> &[u8] {
    // SAFETY: `UnwindRow` is `#[repr(C)]` plain integers without padding
    // (size 12 is checked by a test); every byte is initialized, and the
    // slice covers exactly the rows' memory.
    unsafe { std::slice::from_raw_parts(rows.as_ptr().cast::<u8>(), std::mem::size_of_val(rows)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn layout_is_fixed() {
        assert_eq!(size_of::<UnwindRow>(), 12);
        assert_eq!(align_of::<UnwindRow>(), 4);
        assert_eq!(offset_of!(UnwindRow, pc), 0);
        assert_eq!(offset_of!(UnwindRow, cfa_offset), 4);
        assert_eq!(offset_of!(UnwindRow, rbp_offset), 8);
        assert_eq!(offset_of!(UnwindRow, ra_offset), 10);
        assert_eq!(offset_of!(UnwindRow, rules), 11);
    }

    #[test]
    fn bytes_are_little_endian_fields() {
        let row = Rules {
            cfa: CfaRule::Rbp(16),
            rbp: RbpRule::AtCfa(-16),
            ra: RaRule::AtCfa(-8),
        }
        .to_row(0x1234);
        let bytes = rows_as_bytes(std::slice::from_ref(&row));
        assert_eq!(
            bytes,
            [
                0x34,
                0x12,
                0,
                0,
                16,
                0,
                0,
                0,
                0xf0,
                0xff,
                0xf8,
                CFA_RBP | (RBP_AT_CFA << 4)
            ]
        );
        let back: &UnwindRow = plain::from_bytes(bytes).expect("aligned");
        assert_eq!(*back, row);
    }

    #[test]
    fn rules_round_trip() {
        let cases = [
            Rules::END,
            Rules {
                cfa: CfaRule::Rsp(8),
                rbp: RbpRule::Unchanged,
                ra: RaRule::AtCfa(-8),
            },
            Rules {
                cfa: CfaRule::Rsp(70_000),
                rbp: RbpRule::AtCfa(-56),
                ra: RaRule::AtCfa(-8),
            },
            Rules {
                cfa: CfaRule::Plt {
                    rsp_offset: 8,
                    threshold: 11,
                },
                rbp: RbpRule::Unchanged,
                ra: RaRule::AtCfa(-8),
            },
            Rules {
                cfa: CfaRule::DerefRbp(-8),
                rbp: RbpRule::Unsupported,
                ra: RaRule::AtCfa(-8),
            },
            Rules {
                cfa: CfaRule::Rsp(8),
                rbp: RbpRule::Undefined,
                ra: RaRule::Undefined,
            },
            Rules {
                cfa: CfaRule::Unsupported,
                rbp: RbpRule::Unchanged,
                ra: RaRule::Unsupported,
            },
        ];
        for rules in cases {
            assert_eq!(rules.to_row(7).rules(), rules, "{rules:?}");
        }
        // Markers ignore the other rules, so they merge.
        let signal = Rules {
            cfa: CfaRule::Signal,
            rbp: RbpRule::AtCfa(-16),
            ra: RaRule::AtCfa(-8),
        };
        assert!(
            signal.to_row(1).same_rules(
                &Rules {
                    cfa: CfaRule::Signal,
                    ..Rules::END
                }
                .to_row(2)
            )
        );
    }
}
