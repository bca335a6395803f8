//! HotSpot's description of itself: the `gHotSpotVMStructs` field table,
//! `gHotSpotVMTypes` sizes and the int and long constant tables, read
//! whole from the live process. Each table is an array of C structs ending
//! in an entry whose name is NULL; the entry layouts (offsets of each member
//! and the stride) are themselves exported, so nothing about them is
//! assumed.

use std::collections::HashMap;

use super::process::LibJvm;
use super::{JvmError, Memory, read_bytes, read_c_string, read_u64};
use super::{field_u32, field_u64};

/// No VM has had more than a few thousand entries per table; a loop past
/// this is reading garbage.
const MAX_ENTRIES: usize = 50_000;
/// Longest type, field or constant name accepted.
const MAX_NAME: usize = 512;

/// Where a field lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldLocation {
    /// Byte offset inside an instance.
    Offset(u64),
    /// Process address of a static field.
    Static(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEntry {
    /// The C++ type HotSpot declares, e.g. `GrowableArray<CodeHeap*>*`.
    pub type_string: Option<String>,
    pub location: FieldLocation,
}

/// An integer or pointer instance field with its width, for fields whose
/// C++ type changed between releases (`CodeBlob::_frame_complete_offset`
/// is an `int` up to JDK 22 and an `int16_t` after; `HeapBlock::Header::
/// _length` a `size_t`, then a `uint32_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalar {
    pub offset: u64,
    /// Bytes: 1, 2, 4 or 8.
    pub size: u8,
}

impl Scalar {
    /// The field in `buf` (a structure read from its start), zero-extended.
    pub fn unsigned(&self, buf: &[u8]) -> Option<u64> {
        let at = usize::try_from(self.offset).ok()?;
        let bytes = buf.get(at..at + usize::from(self.size))?;
        let mut word = [0u8; 8];
        word[..bytes.len()].copy_from_slice(bytes);
        Some(u64::from_le_bytes(word))
    }

    /// The field in `buf`, sign-extended.
    pub fn signed(&self, buf: &[u8]) -> Option<i64> {
        let shift = 64 - 8 * u32::from(self.size);
        Some(((self.unsigned(buf)? << shift) as i64) >> shift)
    }
}

/// The four tables of one VM.
#[derive(Debug, Default, Clone)]
pub struct VmStructs {
    fields: HashMap<(String, String), FieldEntry>,
    type_sizes: HashMap<String, u64>,
    int_constants: HashMap<String, i32>,
    long_constants: HashMap<String, u64>,
}

/// The exported layout of one table's entries.
struct TableLayout {
    first: u64,
    stride: u64,
}

fn table(
    mem: &dyn Memory,
    lib: &LibJvm,
    array: &'static str,
    stride: &'static str,
) -> Result<TableLayout, JvmError> {
    let first = read_u64(mem, lib.symbol(array)?, array)?;
    let stride_value = read_u64(mem, lib.symbol(stride)?, stride)?;
    if !(8..=1024).contains(&stride_value) || first == 0 {
        return Err(JvmError::Corrupt {
            what: array,
            addr: first,
            detail: format!("table at {first:#x} with entry stride {stride_value}"),
        });
    }
    Ok(TableLayout {
        first,
        stride: stride_value,
    })
}

fn member(mem: &dyn Memory, lib: &LibJvm, name: &'static str) -> Result<u64, JvmError> {
    read_u64(mem, lib.symbol(name)?, name)
}

/// Reads entries of `layout` until the one whose `name_at` pointer is NULL,
/// handing each entry's bytes to `each`.
fn for_each_entry(
    mem: &dyn Memory,
    layout: &TableLayout,
    what: &'static str,
    name_at: u64,
    mut each: impl FnMut(&[u8], String) -> Result<(), JvmError>,
) -> Result<(), JvmError> {
    for i in 0..MAX_ENTRIES {
        let addr = layout.first + i as u64 * layout.stride;
        let entry = read_bytes(mem, addr, layout.stride as usize, what)?;
        let name_ptr = field_u64(&entry, name_at).ok_or_else(|| short(what, addr))?;
        if name_ptr == 0 {
            return Ok(());
        }
        each(&entry, read_c_string(mem, name_ptr, MAX_NAME, what)?)?;
    }
    Err(JvmError::Corrupt {
        what,
        addr: layout.first,
        detail: format!("no end marker within {MAX_ENTRIES} entries"),
    })
}

fn short(what: &'static str, addr: u64) -> JvmError {
    JvmError::Corrupt {
        what,
        addr,
        detail: "an entry member lies past the entry stride".into(),
    }
}

impl VmStructs {
    /// Reads all four tables from the process whose `libjvm.so` is `lib`.
    pub fn read(mem: &dyn Memory, lib: &LibJvm) -> Result<Self, JvmError> {
        let mut vm = Self::default();

        let structs = table(
            mem,
            lib,
            "gHotSpotVMStructs",
            "gHotSpotVMStructEntryArrayStride",
        )?;
        let type_name = member(mem, lib, "gHotSpotVMStructEntryTypeNameOffset")?;
        let field_name = member(mem, lib, "gHotSpotVMStructEntryFieldNameOffset")?;
        let type_string = member(mem, lib, "gHotSpotVMStructEntryTypeStringOffset")?;
        let is_static = member(mem, lib, "gHotSpotVMStructEntryIsStaticOffset")?;
        let offset = member(mem, lib, "gHotSpotVMStructEntryOffsetOffset")?;
        let address = member(mem, lib, "gHotSpotVMStructEntryAddressOffset")?;
        let what = "gHotSpotVMStructs entry";
        let mut names: HashMap<u64, String> = HashMap::new();
        let mut string_at = |ptr: u64| -> Result<Option<String>, JvmError> {
            if ptr == 0 {
                return Ok(None);
            }
            if let Some(s) = names.get(&ptr) {
                return Ok(Some(s.clone()));
            }
            let s = read_c_string(mem, ptr, MAX_NAME, what)?;
            names.insert(ptr, s.clone());
            Ok(Some(s))
        };
        for_each_entry(mem, &structs, what, type_name, |entry, ty| {
            let bad = || short(what, structs.first);
            let Some(field) = string_at(field_u64(entry, field_name).ok_or_else(bad)?)? else {
                return Ok(());
            };
            let type_string = string_at(field_u64(entry, type_string).ok_or_else(bad)?)?;
            let location = if field_u32(entry, is_static).ok_or_else(bad)? != 0 {
                FieldLocation::Static(field_u64(entry, address).ok_or_else(bad)?)
            } else {
                FieldLocation::Offset(field_u64(entry, offset).ok_or_else(bad)?)
            };
            vm.fields.insert(
                (ty, field),
                FieldEntry {
                    type_string,
                    location,
                },
            );
            Ok(())
        })?;

        let types = table(
            mem,
            lib,
            "gHotSpotVMTypes",
            "gHotSpotVMTypeEntryArrayStride",
        )?;
        let type_name = member(mem, lib, "gHotSpotVMTypeEntryTypeNameOffset")?;
        let size = member(mem, lib, "gHotSpotVMTypeEntrySizeOffset")?;
        let what = "gHotSpotVMTypes entry";
        for_each_entry(mem, &types, what, type_name, |entry, ty| {
            let size = field_u64(entry, size).ok_or_else(|| short(what, types.first))?;
            vm.type_sizes.insert(ty, size);
            Ok(())
        })?;

        let ints = table(
            mem,
            lib,
            "gHotSpotVMIntConstants",
            "gHotSpotVMIntConstantEntryArrayStride",
        )?;
        let name = member(mem, lib, "gHotSpotVMIntConstantEntryNameOffset")?;
        let value = member(mem, lib, "gHotSpotVMIntConstantEntryValueOffset")?;
        let what = "gHotSpotVMIntConstants entry";
        for_each_entry(mem, &ints, what, name, |entry, n| {
            let v = field_u32(entry, value).ok_or_else(|| short(what, ints.first))?;
            vm.int_constants.insert(n, v as i32);
            Ok(())
        })?;

        let longs = table(
            mem,
            lib,
            "gHotSpotVMLongConstants",
            "gHotSpotVMLongConstantEntryArrayStride",
        )?;
        let name = member(mem, lib, "gHotSpotVMLongConstantEntryNameOffset")?;
        let value = member(mem, lib, "gHotSpotVMLongConstantEntryValueOffset")?;
        let what = "gHotSpotVMLongConstants entry";
        for_each_entry(mem, &longs, what, name, |entry, n| {
            let v = field_u64(entry, value).ok_or_else(|| short(what, longs.first))?;
            vm.long_constants.insert(n, v);
            Ok(())
        })?;
        Ok(vm)
    }

    /// Builds tables by hand, for tests. A field's declared type is
    /// `int` unless `typed` names it (type, field, declared type); the
    /// integer types every release exports are sized.
    #[cfg(test)]
    pub(crate) fn from_parts(
        fields: impl IntoIterator<Item = (&'static str, &'static str, FieldLocation)>,
        types: impl IntoIterator<Item = (&'static str, u64)>,
        ints: impl IntoIterator<Item = (&'static str, i32)>,
    ) -> Self {
        let sized = [
            ("int", 4),
            ("u1", 1),
            ("u2", 2),
            ("int16_t", 2),
            ("uint32_t", 4),
            ("size_t", 8),
            ("bool", 1),
            ("address", 8),
            ("CompLevel", 1),
        ];
        Self {
            fields: fields
                .into_iter()
                .map(|(t, f, location)| {
                    let entry = FieldEntry {
                        type_string: Some("int".to_owned()),
                        location,
                    };
                    ((t.to_owned(), f.to_owned()), entry)
                })
                .collect(),
            type_sizes: sized
                .into_iter()
                .chain(types)
                .map(|(t, s)| (t.to_owned(), s))
                .collect(),
            int_constants: ints.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
            long_constants: HashMap::new(),
        }
    }

    /// Declares the C++ type of fields already added, for tests.
    #[cfg(test)]
    pub(crate) fn with_types(mut self, typed: &[(&str, &str, &str)]) -> Self {
        for (t, f, declared) in typed {
            let entry = self
                .fields
                .get_mut(&((*t).to_owned(), (*f).to_owned()))
                .expect("typed field declared");
            entry.type_string = Some((*declared).to_owned());
        }
        self
    }

    /// The entry of `type_name::field`, if the VM has one.
    pub fn field(&self, type_name: &str, field: &str) -> Option<&FieldEntry> {
        self.fields.get(&(type_name.to_owned(), field.to_owned()))
    }

    /// Byte offset of instance field `type_name::field`.
    pub fn offset(&self, type_name: &str, field: &str) -> Result<u64, JvmError> {
        match self.field(type_name, field).map(|f| f.location) {
            Some(FieldLocation::Offset(o)) => Ok(o),
            Some(FieldLocation::Static(_)) => Err(JvmError::FieldKind {
                type_name: type_name.to_owned(),
                field: field.to_owned(),
                found: "static",
                expected: "an instance field",
            }),
            None => Err(JvmError::MissingField {
                type_name: type_name.to_owned(),
                field: field.to_owned(),
            }),
        }
    }

    /// The first of `candidates` the VM has, for fields that moved or were
    /// renamed between releases; the error names the first candidate.
    pub fn offset_any(&self, candidates: &[(&str, &str)]) -> Result<u64, JvmError> {
        for (t, f) in candidates {
            if let Ok(o) = self.offset(t, f) {
                return Ok(o);
            }
        }
        let (t, f) = candidates.first().copied().unwrap_or(("?", "?"));
        self.offset(t, f)
    }

    /// Instance field `type_name::field` with its width: `sizeof` its
    /// declared type from the type table, a pointer's for `T*`.
    pub fn scalar(&self, type_name: &str, field: &str) -> Result<Scalar, JvmError> {
        let offset = self.offset(type_name, field)?;
        let declared = self
            .field(type_name, field)
            .and_then(|f| f.type_string.as_deref())
            .unwrap_or("");
        let size = if declared.ends_with('*') {
            Some(8)
        } else {
            self.type_sizes.get(declared).copied()
        };
        match size {
            Some(size @ (1 | 2 | 4 | 8)) => Ok(Scalar {
                offset,
                size: size as u8,
            }),
            _ => Err(JvmError::FieldKind {
                type_name: type_name.to_owned(),
                field: field.to_owned(),
                found: "of no integer size",
                expected: "a 1, 2, 4 or 8 byte integer",
            }),
        }
    }

    /// Process address of static field `type_name::field`.
    pub fn static_address(&self, type_name: &str, field: &str) -> Result<u64, JvmError> {
        match self.field(type_name, field).map(|f| f.location) {
            Some(FieldLocation::Static(a)) => Ok(a),
            Some(FieldLocation::Offset(_)) => Err(JvmError::FieldKind {
                type_name: type_name.to_owned(),
                field: field.to_owned(),
                found: "an instance field",
                expected: "static",
            }),
            None => Err(JvmError::MissingField {
                type_name: type_name.to_owned(),
                field: field.to_owned(),
            }),
        }
    }

    /// `sizeof(name)`.
    pub fn type_size(&self, name: &str) -> Result<u64, JvmError> {
        self.type_sizes
            .get(name)
            .copied()
            .ok_or_else(|| JvmError::MissingType {
                name: name.to_owned(),
            })
    }

    pub fn int_constant(&self, name: &str) -> Result<i32, JvmError> {
        self.int_constants
            .get(name)
            .copied()
            .ok_or_else(|| JvmError::MissingConstant {
                name: name.to_owned(),
            })
    }

    pub fn long_constant(&self, name: &str) -> Result<u64, JvmError> {
        self.long_constants
            .get(name)
            .copied()
            .ok_or_else(|| JvmError::MissingConstant {
                name: name.to_owned(),
            })
    }

    /// Entry counts: (fields, types, int constants, long constants).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.fields.len(),
            self.type_sizes.len(),
            self.int_constants.len(),
            self.long_constants.len(),
        )
    }

    /// The VM's feature release (11, 17, 21...), from
    /// `Abstract_VM_Version::_vm_major_version`, else from the leading
    /// number of `_s_vm_release`.
    pub fn major_version(&self, mem: &dyn Memory) -> Result<u32, JvmError> {
        if let Ok(addr) = self.static_address("Abstract_VM_Version", "_vm_major_version") {
            let v = super::read_u32(mem, addr, "Abstract_VM_Version::_vm_major_version")?;
            if (6..1000).contains(&v) {
                return Ok(v);
            }
        }
        let what = "Abstract_VM_Version::_s_vm_release";
        let addr = self.static_address("Abstract_VM_Version", "_s_vm_release")?;
        let release = read_c_string(mem, read_u64(mem, addr, what)?, 128, what)?;
        let major: String = release.chars().take_while(char::is_ascii_digit).collect();
        major.parse().map_err(|_| JvmError::Corrupt {
            what,
            addr,
            detail: format!("release string {release:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeMemory;
    use super::*;

    /// A VM whose four tables sit in fake memory, laid out as HotSpot 17
    /// lays them out, to check the reader follows the exported layout.
    #[test]
    fn reads_tables_through_the_exported_entry_layout() {
        let mut mem = FakeMemory::default();
        let mut symbols = Vec::new();
        let mut sym = |name: &'static str, addr: u64| symbols.push((name, addr));
        // The offsets and strides, at 0x1000 + 8*i.
        let layout: &[(&'static str, u64)] = &[
            ("gHotSpotVMStructEntryArrayStride", 48),
            ("gHotSpotVMStructEntryTypeNameOffset", 0),
            ("gHotSpotVMStructEntryFieldNameOffset", 8),
            ("gHotSpotVMStructEntryTypeStringOffset", 16),
            ("gHotSpotVMStructEntryIsStaticOffset", 24),
            ("gHotSpotVMStructEntryOffsetOffset", 32),
            ("gHotSpotVMStructEntryAddressOffset", 40),
            ("gHotSpotVMTypeEntryArrayStride", 40),
            ("gHotSpotVMTypeEntryTypeNameOffset", 0),
            ("gHotSpotVMTypeEntrySizeOffset", 32),
            ("gHotSpotVMIntConstantEntryArrayStride", 16),
            ("gHotSpotVMIntConstantEntryNameOffset", 0),
            ("gHotSpotVMIntConstantEntryValueOffset", 8),
            ("gHotSpotVMLongConstantEntryArrayStride", 16),
            ("gHotSpotVMLongConstantEntryNameOffset", 0),
            ("gHotSpotVMLongConstantEntryValueOffset", 8),
        ];
        for (i, (name, value)) in layout.iter().enumerate() {
            let at = 0x1000 + 8 * i as u64;
            mem.put_u64(at, *value);
            sym(name, at);
        }
        // Strings, on a page of their own as in a real process.
        mem.put(0x5000, &[0u8; 0x1000]);
        mem.put_str(0x5000, "CodeBlob");
        mem.put_str(0x5010, "_frame_size");
        mem.put_str(0x5020, "int");
        mem.put_str(0x5030, "CodeCache");
        mem.put_str(0x5040, "_heaps");
        mem.put_str(0x5050, "InvocationEntryBci");
        mem.put_str(0x5070, "markWord::hash_mask");
        // Structs: an instance field, a static one, the end marker.
        let mut e = [0u8; 48 * 3];
        e[0..8].copy_from_slice(&0x5000u64.to_le_bytes());
        e[8..16].copy_from_slice(&0x5010u64.to_le_bytes());
        e[16..24].copy_from_slice(&0x5020u64.to_le_bytes());
        e[32..40].copy_from_slice(&28u64.to_le_bytes());
        e[48..56].copy_from_slice(&0x5030u64.to_le_bytes());
        e[56..64].copy_from_slice(&0x5040u64.to_le_bytes());
        e[72..76].copy_from_slice(&1u32.to_le_bytes());
        e[88..96].copy_from_slice(&0xdead_0000u64.to_le_bytes());
        mem.put(0x6000, &e);
        mem.put_u64(0x2000, 0x6000);
        sym("gHotSpotVMStructs", 0x2000);
        // Types: CodeBlob of size 104, end.
        let mut t = [0u8; 80];
        t[0..8].copy_from_slice(&0x5000u64.to_le_bytes());
        t[32..40].copy_from_slice(&104u64.to_le_bytes());
        mem.put(0x7000, &t);
        mem.put_u64(0x2008, 0x7000);
        sym("gHotSpotVMTypes", 0x2008);
        // Constants.
        let mut c = [0u8; 32];
        c[0..8].copy_from_slice(&0x5050u64.to_le_bytes());
        c[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        mem.put(0x8000, &c);
        mem.put_u64(0x2010, 0x8000);
        sym("gHotSpotVMIntConstants", 0x2010);
        let mut l = [0u8; 32];
        l[0..8].copy_from_slice(&0x5070u64.to_le_bytes());
        l[8..16].copy_from_slice(&0x7fff_ffffu64.to_le_bytes());
        mem.put(0x9000, &l);
        mem.put_u64(0x2018, 0x9000);
        sym("gHotSpotVMLongConstants", 0x2018);

        let lib = LibJvm::for_tests(&symbols);
        let vm = VmStructs::read(&mem, &lib).unwrap();
        assert_eq!(vm.offset("CodeBlob", "_frame_size").unwrap(), 28);
        assert_eq!(
            vm.static_address("CodeCache", "_heaps").unwrap(),
            0xdead_0000
        );
        assert_eq!(vm.type_size("CodeBlob").unwrap(), 104);
        assert_eq!(vm.int_constant("InvocationEntryBci").unwrap(), -1);
        assert_eq!(
            vm.long_constant("markWord::hash_mask").unwrap(),
            0x7fff_ffff
        );
        assert_eq!(vm.counts(), (2, 1, 1, 1));
        let missing = vm.offset("nmethod", "_compile_id").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "vmStructs has no field nmethod::_compile_id"
        );
        assert!(matches!(
            vm.offset("CodeCache", "_heaps"),
            Err(JvmError::FieldKind { .. })
        ));
        assert_eq!(
            vm.offset_any(&[("CodeBlob", "_code_offset"), ("CodeBlob", "_frame_size")])
                .unwrap(),
            28
        );
    }

    #[test]
    fn scalars_take_their_width_from_the_declared_type() {
        let vm = VmStructs::from_parts(
            [
                (
                    "CodeBlob",
                    "_frame_complete_offset",
                    FieldLocation::Offset(2),
                ),
                ("CodeBlob", "_frame_size", FieldLocation::Offset(4)),
                ("CodeBlob", "_name", FieldLocation::Offset(8)),
                ("CodeBlob", "_kind", FieldLocation::Offset(16)),
            ],
            [],
            [],
        )
        .with_types(&[
            ("CodeBlob", "_frame_complete_offset", "int16_t"),
            ("CodeBlob", "_name", "const char*"),
            ("CodeBlob", "_kind", "CodeBlobKind"),
        ]);
        let complete = vm.scalar("CodeBlob", "_frame_complete_offset").unwrap();
        assert_eq!(complete, Scalar { offset: 2, size: 2 });
        let mut blob = [0u8; 16];
        blob[2..4].copy_from_slice(&(-1i16).to_le_bytes());
        blob[4..8].copy_from_slice(&(-7i32).to_le_bytes());
        assert_eq!(complete.signed(&blob), Some(-1));
        assert_eq!(complete.unsigned(&blob), Some(0xffff));
        let frame_size = vm.scalar("CodeBlob", "_frame_size").unwrap();
        assert_eq!(frame_size.signed(&blob), Some(-7));
        let name = vm.scalar("CodeBlob", "_name").unwrap();
        assert_eq!(name.size, 8);
        assert_eq!(name.unsigned(&blob[..12]), None, "past the bytes read");
        assert!(matches!(
            vm.scalar("CodeBlob", "_kind"),
            Err(JvmError::FieldKind { .. })
        ));
    }
}
