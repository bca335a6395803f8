//! Naming a `Method*`: `Method` -> `ConstMethod` (name and signature
//! indices, flags, bytecodes, line table) -> `ConstantPool` (symbols, source
//! file index) -> pool holder `InstanceKlass` -> `Klass::_name`.
//!
//! Two layout facts HotSpot does not export and every release since 8
//! keeps: a `ConstantPool`'s entries (one 8-byte slot each) follow its
//! header, and a `ConstMethod`'s bytecodes follow its header, the
//! compressed line number table right after them.

use std::collections::HashMap;
use std::sync::Arc;

use super::stream::{StreamEncoding, decode_line_table, line_at};
use super::vmstructs::VmStructs;
use super::{JvmError, Memory, field_u16, field_u32, field_u64, read_bytes, read_u16, read_u64};

/// A Java method, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaMethod {
    /// Binary name with dots: `java.lang.Thread`, `Hot$Inner`.
    pub class: String,
    pub name: String,
    /// JVM descriptor, e.g. `(I)J`.
    pub signature: String,
    /// The `SourceFile` attribute, e.g. `Thread.java`.
    pub source_file: Option<String>,
    /// (bci, line) pairs in table order.
    pub line_table: Vec<(u32, u32)>,
    /// Bytecode length.
    pub code_size: u32,
}

impl JavaMethod {
    /// Source line of bytecode index `bci`, by HotSpot's rule: an exact
    /// entry, else the closest one below. `None` without a line table or
    /// for a bci outside the method (-1, the entry bci of a frame that has
    /// not started, counts as 0 as in HotSpot).
    pub fn line_at(&self, bci: i32) -> Option<u32> {
        let bci = if bci == -1 {
            0
        } else {
            u32::try_from(bci).ok()?
        };
        if bci >= self.code_size.max(1) {
            return None;
        }
        line_at(&self.line_table, bci)
    }
}

#[derive(Debug, Clone, Copy)]
enum SourceFileIndex {
    /// JDK 12+: `ConstantPool::_source_file_name_index`.
    ConstantPool(u64),
    /// JDK 11: `InstanceKlass::_source_file_name_index`.
    InstanceKlass(u64),
}

/// The offsets a name needs, resolved once per VM.
#[derive(Debug, Clone)]
struct MethodLayout {
    const_method: u64,
    cm_constants: u64,
    cm_size: u64,
    /// Offset and width in bytes (2 up to JDK 20, 4 from JDK 21's
    /// `ConstMethodFlags`).
    cm_flags: (u64, u8),
    has_line_table: u32,
    cm_code_size: u64,
    cm_name_index: u64,
    cm_signature_index: u64,
    cm_header: u64,
    cp_pool_holder: u64,
    cp_length: u64,
    cp_header: u64,
    source_file: SourceFileIndex,
    klass_name: u64,
    klass_constants: u64,
    symbol_length: u64,
    symbol_body: u64,
}

impl MethodLayout {
    fn new(vm: &VmStructs) -> Result<Self, JvmError> {
        let cm_flags = match vm.offset("ConstMethod", "_flags._flags") {
            Ok(o) => (o, 4),
            Err(_) => (vm.offset("ConstMethod", "_flags")?, 2),
        };
        let has_line_table = match vm.int_constant("ConstMethodFlags::_misc_has_linenumber_table") {
            Ok(v) => v,
            Err(_) => vm.int_constant("ConstMethod::_has_linenumber_table")?,
        } as u32;
        let source_file = match vm.offset("ConstantPool", "_source_file_name_index") {
            Ok(o) => SourceFileIndex::ConstantPool(o),
            Err(_) => SourceFileIndex::InstanceKlass(
                vm.offset("InstanceKlass", "_source_file_name_index")?,
            ),
        };
        Ok(Self {
            const_method: vm.offset("Method", "_constMethod")?,
            cm_constants: vm.offset("ConstMethod", "_constants")?,
            cm_size: vm.offset("ConstMethod", "_constMethod_size")?,
            cm_flags,
            has_line_table,
            cm_code_size: vm.offset("ConstMethod", "_code_size")?,
            cm_name_index: vm.offset("ConstMethod", "_name_index")?,
            cm_signature_index: vm.offset("ConstMethod", "_signature_index")?,
            cm_header: vm.type_size("ConstMethod")?,
            cp_pool_holder: vm.offset("ConstantPool", "_pool_holder")?,
            cp_length: vm.offset("ConstantPool", "_length")?,
            cp_header: vm.type_size("ConstantPool")?,
            source_file,
            klass_name: vm.offset("Klass", "_name")?,
            klass_constants: vm.offset("InstanceKlass", "_constants")?,
            symbol_length: vm.offset("Symbol", "_length")?,
            symbol_body: vm.offset_any(&[("Symbol", "_body"), ("Symbol", "_body[0]")])?,
        })
    }
}

/// The class part of a name, shared by all methods of a class.
#[derive(Debug)]
struct ClassName {
    class: String,
    source_file: Option<String>,
}

/// Names `Method*`s of one process, caching by `Method*`: a method's
/// metadata does not move while its class is loaded. A class unloaded
/// and its address reused would keep its old name; drop the resolver
/// (or call [`MethodResolver::clear`]) when the VM reports unloading.
#[derive(Debug)]
pub struct MethodResolver {
    layout: MethodLayout,
    encoding: StreamEncoding,
    methods: HashMap<u64, Arc<JavaMethod>>,
    classes: HashMap<u64, Arc<ClassName>>,
}

/// A `ConstMethod` is a few hundred bytes; a line table past this is not
/// one.
const MAX_LINE_TABLE: u64 = 1 << 20;

impl MethodResolver {
    pub fn new(vm: &VmStructs, encoding: StreamEncoding) -> Result<Self, JvmError> {
        Ok(Self {
            layout: MethodLayout::new(vm)?,
            encoding,
            methods: HashMap::new(),
            classes: HashMap::new(),
        })
    }

    /// `Method::_constMethod` and `sizeof(ConstMethod)`: an interpreted
    /// frame's bytecode index is its bcp less the `ConstMethod*` and that
    /// size.
    pub fn bytecode_base(&self) -> (u64, u64) {
        (self.layout.const_method, self.layout.cm_header)
    }

    /// Methods named so far.
    pub fn cached(&self) -> usize {
        self.methods.len()
    }

    pub fn clear(&mut self) {
        self.methods.clear();
        self.classes.clear();
    }

    /// The name and line table of `method` (a `Method*`).
    pub fn resolve(&mut self, mem: &dyn Memory, method: u64) -> Result<Arc<JavaMethod>, JvmError> {
        if let Some(m) = self.methods.get(&method) {
            return Ok(Arc::clone(m));
        }
        let named = Arc::new(self.read(mem, method)?);
        self.methods.insert(method, Arc::clone(&named));
        Ok(named)
    }

    /// The bytecode index an interpreted frame's bcp points at: bytecodes
    /// start right after the `ConstMethod` header. `None` when `bcp` is not
    /// inside `method`'s bytecodes (0 in native methods' frames).
    pub fn bci_of(&mut self, mem: &dyn Memory, method: u64, bcp: u64) -> Option<i32> {
        let cm = read_u64(
            mem,
            method + self.layout.const_method,
            "Method::_constMethod",
        )
        .ok()?;
        let code_size = self.resolve(mem, method).ok()?.code_size;
        let bci = bcp.checked_sub(cm + self.layout.cm_header)?;
        (bci < u64::from(code_size)).then_some(bci as i32)
    }

    fn read(&mut self, mem: &dyn Memory, method: u64) -> Result<JavaMethod, JvmError> {
        let l = &self.layout;
        if method == 0 {
            return Err(corrupt("Method*", method, "NULL"));
        }
        let cm = read_u64(mem, method + l.const_method, "Method::_constMethod")?;
        let header = read_bytes(mem, cm, l.cm_header as usize, "ConstMethod")?;
        let bad = |field: &'static str| corrupt(field, cm, "outside sizeof(ConstMethod)");
        let cp =
            field_u64(&header, l.cm_constants).ok_or_else(|| bad("ConstMethod::_constants"))?;
        let flags = match l.cm_flags {
            (o, 4) => field_u32(&header, o),
            (o, _) => field_u16(&header, o).map(u32::from),
        }
        .ok_or_else(|| bad("ConstMethod::_flags"))?;
        let code_size =
            field_u16(&header, l.cm_code_size).ok_or_else(|| bad("ConstMethod::_code_size"))?;
        let name_index =
            field_u16(&header, l.cm_name_index).ok_or_else(|| bad("ConstMethod::_name_index"))?;
        let sig_index = field_u16(&header, l.cm_signature_index)
            .ok_or_else(|| bad("ConstMethod::_signature_index"))?;
        let size_words =
            field_u32(&header, l.cm_size).ok_or_else(|| bad("ConstMethod::_constMethod_size"))?;

        let pool = ConstantPoolView::read(mem, l, cp)?;
        let name = pool.symbol(mem, l, name_index)?;
        let signature = pool.symbol(mem, l, sig_index)?;
        let class = self.class_name(mem, &pool)?;

        let line_table = if flags & self.layout.has_line_table != 0 {
            let l = &self.layout;
            let start = cm + l.cm_header + u64::from(code_size);
            let end = cm + u64::from(size_words) * 8;
            if end <= start || end - start > MAX_LINE_TABLE {
                return Err(corrupt(
                    "ConstMethod line table",
                    cm,
                    "outside the ConstMethod",
                ));
            }
            let bytes = read_bytes(mem, start, (end - start) as usize, "ConstMethod line table")?;
            decode_line_table(&bytes, self.encoding)
        } else {
            Vec::new()
        };
        Ok(JavaMethod {
            class: class.class.clone(),
            name,
            signature,
            source_file: class.source_file.clone(),
            line_table,
            code_size: u32::from(code_size),
        })
    }

    fn class_name(
        &mut self,
        mem: &dyn Memory,
        pool: &ConstantPoolView,
    ) -> Result<Arc<ClassName>, JvmError> {
        if let Some(c) = self.classes.get(&pool.holder) {
            return Ok(Arc::clone(c));
        }
        let l = &self.layout;
        let name = read_u64(mem, pool.holder + l.klass_name, "Klass::_name")?;
        let class = read_symbol(mem, l, name)?.replace('/', ".");
        // The class's own pool, not the method's: method handle intrinsics
        // get a 3-slot pool that copies the holder's source file index.
        let own = read_u64(
            mem,
            pool.holder + l.klass_constants,
            "InstanceKlass::_constants",
        )?;
        let own = ConstantPoolView::read(mem, l, own)?;
        let source_index = match l.source_file {
            SourceFileIndex::ConstantPool(o) => field_u16(&own.header, o).ok_or_else(|| {
                corrupt(
                    "ConstantPool::_source_file_name_index",
                    own.address,
                    "outside the header",
                )
            })?,
            SourceFileIndex::InstanceKlass(o) => read_u16(
                mem,
                pool.holder + o,
                "InstanceKlass::_source_file_name_index",
            )?,
        };
        // Index 0 means no SourceFile attribute.
        let source_file = match source_index {
            0 => None,
            i => Some(own.symbol(mem, l, i)?),
        };
        let named = Arc::new(ClassName { class, source_file });
        self.classes.insert(pool.holder, Arc::clone(&named));
        Ok(named)
    }
}

/// A `ConstantPool`'s header, read once per method.
struct ConstantPoolView {
    address: u64,
    header: Vec<u8>,
    holder: u64,
    length: u32,
}

impl ConstantPoolView {
    fn read(mem: &dyn Memory, l: &MethodLayout, address: u64) -> Result<Self, JvmError> {
        let header = read_bytes(mem, address, l.cp_header as usize, "ConstantPool")?;
        let bad = || {
            corrupt(
                "ConstantPool",
                address,
                "fields outside sizeof(ConstantPool)",
            )
        };
        let holder = field_u64(&header, l.cp_pool_holder).ok_or_else(bad)?;
        let length = field_u32(&header, l.cp_length).ok_or_else(bad)?;
        if holder == 0 || length > 65536 {
            return Err(corrupt(
                "ConstantPool",
                address,
                "no pool holder or a bad length",
            ));
        }
        Ok(Self {
            address,
            header,
            holder,
            length,
        })
    }

    /// The `Symbol` in slot `index` (a `JVM_CONSTANT_Utf8` entry).
    fn symbol(&self, mem: &dyn Memory, l: &MethodLayout, index: u16) -> Result<String, JvmError> {
        if index == 0 || u32::from(index) >= self.length {
            return Err(corrupt(
                "constant pool index",
                self.address,
                &format!("{index} of {}", self.length),
            ));
        }
        let slot = self.address + l.cp_header + 8 * u64::from(index);
        // The low bit tags pseudo-strings; a Symbol* is at least 2-aligned.
        let symbol = read_u64(mem, slot, "constant pool slot")? & !1;
        read_symbol(mem, l, symbol)
    }
}

fn read_symbol(mem: &dyn Memory, l: &MethodLayout, symbol: u64) -> Result<String, JvmError> {
    if symbol == 0 {
        return Err(corrupt("Symbol*", symbol, "NULL"));
    }
    let len = read_u16(mem, symbol + l.symbol_length, "Symbol::_length")?;
    let body = read_bytes(
        mem,
        symbol + l.symbol_body,
        usize::from(len),
        "Symbol::_body",
    )?;
    // Modified UTF-8 differs from UTF-8 only for NUL and non-BMP chars.
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn corrupt(what: &'static str, addr: u64, detail: &str) -> JvmError {
    JvmError::Corrupt {
        what,
        addr,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeMemory;
    use super::super::stream::encode;
    use super::super::vmstructs::FieldLocation::Offset;
    use super::*;

    fn vm17() -> VmStructs {
        VmStructs::from_parts(
            [
                ("Method", "_constMethod", Offset(8)),
                ("ConstMethod", "_constants", Offset(8)),
                ("ConstMethod", "_constMethod_size", Offset(24)),
                ("ConstMethod", "_flags", Offset(28)),
                ("ConstMethod", "_code_size", Offset(32)),
                ("ConstMethod", "_name_index", Offset(34)),
                ("ConstMethod", "_signature_index", Offset(36)),
                ("ConstantPool", "_pool_holder", Offset(24)),
                ("ConstantPool", "_length", Offset(60)),
                ("ConstantPool", "_source_file_name_index", Offset(54)),
                ("Klass", "_name", Offset(24)),
                ("InstanceKlass", "_constants", Offset(232)),
                ("Symbol", "_length", Offset(4)),
                ("Symbol", "_body", Offset(6)),
            ],
            [("ConstMethod", 48), ("ConstantPool", 72)],
            [("ConstMethod::_has_linenumber_table", 1)],
        )
    }

    fn put_symbol(m: &mut FakeMemory, at: u64, s: &str) {
        m.put(at + 4, &(s.len() as u16).to_le_bytes());
        m.put(at + 6, s.as_bytes());
    }

    #[test]
    fn names_a_method_with_its_lines() {
        let mut m = FakeMemory::default();
        let e = StreamEncoding::JDK_11_TO_19;
        let (method, cm, cp, klass) = (0x1000u64, 0x2000u64, 0x3000u64, 0x4000u64);
        m.put_u64(method + 8, cm);
        // ConstMethod: 10 bytecodes, then the line table, 16 words in all.
        let mut header = [0u8; 48];
        header[8..16].copy_from_slice(&cp.to_le_bytes());
        header[24..28].copy_from_slice(&16u32.to_le_bytes());
        header[28..30].copy_from_slice(&1u16.to_le_bytes());
        header[32..34].copy_from_slice(&10u16.to_le_bytes());
        header[34..36].copy_from_slice(&2u16.to_le_bytes());
        header[36..38].copy_from_slice(&3u16.to_le_bytes());
        m.put(cm, &header);
        let mut body = vec![0xAAu8; 10];
        body.extend(encode::line_table(&[(0, 5), (4, 6), (8, 9)], e));
        body.resize(16 * 8 - 48, 0);
        m.put(cm + 48, &body);
        // ConstantPool: holder, 5 slots, source file at index 4.
        let mut cph = [0u8; 72];
        cph[24..32].copy_from_slice(&klass.to_le_bytes());
        cph[54..56].copy_from_slice(&4u16.to_le_bytes());
        cph[60..64].copy_from_slice(&5u32.to_le_bytes());
        m.put(cp, &cph);
        for (i, (addr, s)) in [(0x5000, "alphaWork"), (0x5100, "()J"), (0x5200, "Hot.java")]
            .into_iter()
            .enumerate()
        {
            m.put_u64(cp + 72 + 8 * (i as u64 + 2), addr);
            put_symbol(&mut m, addr, s);
        }
        m.put_u64(klass + 24, 0x5300);
        m.put_u64(klass + 232, cp);
        put_symbol(&mut m, 0x5300, "com/example/Hot$Inner");

        let mut r = MethodResolver::new(&vm17(), e).unwrap();
        let named = r.resolve(&m, method).unwrap();
        assert_eq!(named.class, "com.example.Hot$Inner");
        assert_eq!(named.name, "alphaWork");
        assert_eq!(named.signature, "()J");
        assert_eq!(named.source_file.as_deref(), Some("Hot.java"));
        assert_eq!(named.line_table, vec![(0, 5), (4, 6), (8, 9)]);
        assert_eq!(named.line_at(0), Some(5));
        assert_eq!(named.line_at(-1), Some(5));
        assert_eq!(named.line_at(7), Some(6));
        assert_eq!(named.line_at(10), None);
        assert_eq!(r.cached(), 1);
        assert!(matches!(
            r.resolve(&m, 0x9999_0000),
            Err(JvmError::Read { .. })
        ));
    }
}
