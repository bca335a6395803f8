//! The code cache, snapshotted: HotSpot's code heaps (`CodeCache::_heaps`),
//! every code blob in them (compiled methods, the interpreter, stubs) with
//! the frame facts an unwinder needs, and the template interpreter's code
//! range (`AbstractInterpreter::_code`).
//!
//! A heap is a run of blocks, each a `HeapBlock` header (length in segments,
//! used bit) followed by the blob; a byte per segment in `_segmap` tells how
//! far back a block starts, which is how a pc finds its blob without a walk
//! ([`CodeCacheLayout::blob_at_via_segmap`], the BPF side's method).
//!
//! The VM compiles and frees code while we read, so a snapshot is
//! best-effort: a block that reads as garbage ends that heap's walk and is
//! counted in [`CodeCacheSnapshot::skipped`], never an error.

use std::collections::HashMap;
use std::ops::Range;

use super::vmstructs::{Scalar, VmStructs};
use super::{JvmError, Memory};
use super::{field_u64, read_bytes, read_c_string, read_u32, read_u64};

/// A code heap (`CodeHeap`); JDK 9+ has up to three (non-nmethods,
/// profiled, non-profiled), older or `-XX:-SegmentedCodeCache` VMs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeHeap {
    /// The `CodeHeap*`.
    pub address: u64,
    /// Committed code memory (`_memory._low .. _memory._high`).
    pub memory: Range<u64>,
    /// Reserved code memory (`_memory._low_boundary .. _high_boundary`).
    pub reserved: Range<u64>,
    /// The segment map: one byte per segment of `memory`.
    pub segmap: Range<u64>,
    pub log2_segment_size: u32,
}

/// What a blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobKind {
    /// A compiled Java method (or a native method's wrapper).
    Nmethod {
        /// The `Method*`.
        method: u64,
        compile_id: i32,
        /// Tier: 1-3 C1, 4 C2; 0 for native wrappers.
        level: i32,
    },
    /// The template interpreter's `BufferBlob`.
    Interpreter,
    /// Anything else, by its HotSpot name ("StubRoutines (1)",
    /// "I2C/C2I adapters", "RuntimeStub - ...").
    Stub(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The `CodeBlob*`.
    pub address: u64,
    /// Instructions (`code_begin .. code_end`).
    pub code: Range<u64>,
    pub kind: BlobKind,
    /// Frame size in 8-byte words, return address included; 0 where the
    /// blob has no frame of its own (e.g. the interpreter).
    pub frame_size_words: u32,
    /// Offset from `code.start` after which the frame is set up; -1 for
    /// blobs that never complete one.
    pub frame_complete_offset: i32,
    /// `CodeBlob::_name`: the address of its name, one string shared by
    /// every blob of a kind (every nmethod's is HotSpot's `"nmethod"`).
    pub name_address: u64,
}

#[derive(Debug, Clone, Default)]
pub struct CodeCacheSnapshot {
    pub heaps: Vec<CodeHeap>,
    /// The template interpreter's code (the `StubQueue` buffer).
    pub interpreter: Range<u64>,
    /// Blobs in use, sorted by code address.
    pub blobs: Vec<Blob>,
    /// Blocks that did not read as a sound blob (freed or written while we
    /// read), and heaps whose walk they cut short.
    pub skipped: usize,
}

impl CodeCacheSnapshot {
    /// The blob whose code holds `pc`.
    pub fn blob_at(&self, pc: u64) -> Option<&Blob> {
        let i = self.blobs.partition_point(|b| b.code.start <= pc);
        self.blobs[..i].last().filter(|b| b.code.contains(&pc))
    }
}

/// Where the code begins and ends in a `CodeBlob`.
#[derive(Debug, Clone, Copy)]
enum CodeBounds {
    /// JDK 9-22: `_code_begin` and `_code_end` pointers.
    Pointers { begin: u64, end: u64 },
    /// JDK 23+: `_code_offset` and `_data_offset` (code ends where data
    /// begins), from the blob's start.
    Offsets { code: Scalar, data: Scalar },
}

/// How the BPF walker finds a blob's first instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeStart {
    /// JDK <= 22: a pointer field holding the code's first address.
    Pointer(u64),
    /// JDK 23+: an i32 field holding the code's offset from the blob's
    /// start.
    Offset(u64),
}

/// Offsets in a `CodeBlob` (and, for `method`, in an nmethod) the BPF
/// walker reads, from the blob's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobOffsets {
    /// `_frame_complete_offset`: an `int` up to JDK 22, an `int16_t` from
    /// JDK 23 (see [`CodeCacheLayout::frame_complete_size`]).
    pub frame_complete: u64,
    /// `_frame_size`, an `int` in words.
    pub frame_size: u64,
    pub code: CodeStart,
    /// `_name`, a `const char*`.
    pub name: u64,
    /// The nmethod's `Method*`: `CompiledMethod::_method` up to JDK 22,
    /// `nmethod::_method` after.
    pub method: u64,
}

/// Every offset the snapshot reads, resolved once per VM.
#[derive(Debug, Clone)]
pub struct CodeCacheLayout {
    heaps: u64,
    array_len: u64,
    array_data: u64,
    heap_memory: u64,
    heap_segmap: u64,
    heap_log2_segment_size: u64,
    space_low_boundary: u64,
    space_high_boundary: u64,
    space_low: u64,
    space_high: u64,
    heap_block_size: u64,
    /// From the block's start (`HeapBlock::_header` included).
    block_length: Scalar,
    block_used: Scalar,
    blob_name: u64,
    blob_frame_size: Scalar,
    blob_frame_complete: Scalar,
    blob_code: CodeBounds,
    nmethod_method: u64,
    nmethod_compile_id: Scalar,
    nmethod_comp_level: Scalar,
    /// Bytes read per blob: enough for every field above.
    blob_read_len: u64,
    interpreter_code: u64,
    queue_buffer: u64,
    queue_limit: u64,
}

impl CodeCacheLayout {
    pub fn new(vm: &VmStructs) -> Result<Self, JvmError> {
        let blob_code = if vm.field("CodeBlob", "_code_begin").is_some() {
            CodeBounds::Pointers {
                begin: vm.offset("CodeBlob", "_code_begin")?,
                end: vm.offset("CodeBlob", "_code_end")?,
            }
        } else {
            CodeBounds::Offsets {
                code: vm.scalar("CodeBlob", "_code_offset")?,
                data: vm.scalar("CodeBlob", "_data_offset")?,
            }
        };
        let header = vm.offset("HeapBlock", "_header")?;
        // `size_t` up to JDK 22, `uint32_t` after.
        let in_block = |field: &str| -> Result<Scalar, JvmError> {
            let s = vm.scalar("HeapBlock::Header", field)?;
            Ok(Scalar {
                offset: header + s.offset,
                ..s
            })
        };
        Ok(Self {
            heaps: vm.static_address("CodeCache", "_heaps")?,
            // GrowableArrayBase since JDK 16, GenericGrowableArray before.
            array_len: vm.offset_any(&[
                ("GrowableArrayBase", "_len"),
                ("GenericGrowableArray", "_len"),
            ])?,
            array_data: vm.offset("GrowableArray<int>", "_data")?,
            heap_memory: vm.offset("CodeHeap", "_memory")?,
            heap_segmap: vm.offset("CodeHeap", "_segmap")?,
            heap_log2_segment_size: vm.offset("CodeHeap", "_log2_segment_size")?,
            space_low_boundary: vm.offset("VirtualSpace", "_low_boundary")?,
            space_high_boundary: vm.offset("VirtualSpace", "_high_boundary")?,
            space_low: vm.offset("VirtualSpace", "_low")?,
            space_high: vm.offset("VirtualSpace", "_high")?,
            heap_block_size: vm.type_size("HeapBlock")?,
            block_length: in_block("_length")?,
            block_used: in_block("_used")?,
            blob_name: vm.offset("CodeBlob", "_name")?,
            blob_frame_size: vm.scalar("CodeBlob", "_frame_size")?,
            // `int` up to JDK 22, `int16_t` after.
            blob_frame_complete: vm.scalar("CodeBlob", "_frame_complete_offset")?,
            blob_code,
            // CompiledMethod holds _method from JDK 9 to 22, nmethod after.
            nmethod_method: vm
                .offset_any(&[("CompiledMethod", "_method"), ("nmethod", "_method")])?,
            nmethod_compile_id: vm.scalar("nmethod", "_compile_id")?,
            // `int` up to JDK 22, a one-byte `CompLevel` after.
            nmethod_comp_level: vm.scalar("nmethod", "_comp_level")?,
            blob_read_len: vm.type_size("nmethod")?.max(vm.type_size("CodeBlob")?),
            interpreter_code: vm.static_address("AbstractInterpreter", "_code")?,
            queue_buffer: vm.offset("StubQueue", "_stub_buffer")?,
            queue_limit: vm.offset("StubQueue", "_buffer_limit")?,
        })
    }

    /// `sizeof(HeapBlock)`: a blob starts this far into its block.
    pub fn heap_block_size(&self) -> u64 {
        self.heap_block_size
    }

    /// Offsets in a `CodeBlob` (and nmethod) the BPF walker reads.
    pub fn blob_offsets(&self) -> BlobOffsets {
        BlobOffsets {
            frame_complete: self.blob_frame_complete.offset,
            frame_size: self.blob_frame_size.offset,
            code: match self.blob_code {
                CodeBounds::Pointers { begin, .. } => CodeStart::Pointer(begin),
                CodeBounds::Offsets { code, .. } => CodeStart::Offset(code.offset),
            },
            name: self.blob_name,
            method: self.nmethod_method,
        }
    }

    /// Bytes of `CodeBlob::_frame_complete_offset`: 4 up to JDK 22, 2 from
    /// JDK 23; signed either way.
    pub fn frame_complete_size(&self) -> u8 {
        self.blob_frame_complete.size
    }

    /// The code heaps listed in `CodeCache::_heaps`.
    pub fn heaps(&self, mem: &dyn Memory) -> Result<Vec<CodeHeap>, JvmError> {
        let array = read_u64(mem, self.heaps, "CodeCache::_heaps")?;
        let len = read_u32(mem, array + self.array_len, "GrowableArray::_len")?;
        if len > 16 {
            return Err(JvmError::Corrupt {
                what: "CodeCache::_heaps",
                addr: array,
                detail: format!("{len} code heaps"),
            });
        }
        let data = read_u64(mem, array + self.array_data, "GrowableArray::_data")?;
        let mut heaps = Vec::with_capacity(len as usize);
        for i in 0..u64::from(len) {
            let address = read_u64(mem, data + 8 * i, "CodeCache::_heaps element")?;
            let space = |at: u64, lo: u64, hi: u64| -> Result<Range<u64>, JvmError> {
                Ok(read_u64(mem, address + at + lo, "VirtualSpace")?
                    ..read_u64(mem, address + at + hi, "VirtualSpace")?)
            };
            let log2 = read_u32(
                mem,
                address + self.heap_log2_segment_size,
                "CodeHeap::_log2_segment_size",
            )?;
            if !(4..=16).contains(&log2) {
                return Err(JvmError::Corrupt {
                    what: "CodeHeap::_log2_segment_size",
                    addr: address,
                    detail: format!("{log2}"),
                });
            }
            heaps.push(CodeHeap {
                address,
                memory: space(self.heap_memory, self.space_low, self.space_high)?,
                reserved: space(
                    self.heap_memory,
                    self.space_low_boundary,
                    self.space_high_boundary,
                )?,
                segmap: space(self.heap_segmap, self.space_low, self.space_high)?,
                log2_segment_size: log2,
            });
        }
        Ok(heaps)
    }

    /// The template interpreter's code range.
    pub fn interpreter(&self, mem: &dyn Memory) -> Result<Range<u64>, JvmError> {
        let queue = read_u64(mem, self.interpreter_code, "AbstractInterpreter::_code")?;
        let buffer = read_u64(mem, queue + self.queue_buffer, "StubQueue::_stub_buffer")?;
        let limit = read_u32(mem, queue + self.queue_limit, "StubQueue::_buffer_limit")?;
        Ok(buffer..buffer + u64::from(limit))
    }

    /// Heaps, interpreter and every used blob, now.
    pub fn snapshot(&self, mem: &dyn Memory) -> Result<CodeCacheSnapshot, JvmError> {
        let mut snap = CodeCacheSnapshot {
            heaps: self.heaps(mem)?,
            interpreter: self.interpreter(mem)?,
            ..Default::default()
        };
        let mut names = HashMap::new();
        for heap in &snap.heaps {
            self.walk_heap(mem, heap, &mut names, &mut snap.blobs, &mut snap.skipped);
        }
        snap.blobs.sort_by_key(|b| b.code.start);
        Ok(snap)
    }

    fn walk_heap(
        &self,
        mem: &dyn Memory,
        heap: &CodeHeap,
        names: &mut HashMap<u64, String>,
        out: &mut Vec<Blob>,
        skipped: &mut usize,
    ) {
        let mut block = heap.memory.start;
        let max_blocks = (heap.memory.end - heap.memory.start) >> heap.log2_segment_size;
        for _ in 0..max_blocks {
            if block >= heap.memory.end {
                return;
            }
            let want = (self.heap_block_size + self.blob_read_len).min(heap.memory.end - block);
            let Ok(bytes) = read_bytes(mem, block, want as usize, "code heap block") else {
                *skipped += 1;
                return;
            };
            let segments = self.block_length.unsigned(&bytes).unwrap_or(0);
            if segments == 0 {
                // Past the last block HotSpot has carved (`_next_segment`,
                // not exported) memory is zero and its segments free; a
                // zero header on a segment in use is a block being written.
                let segment = (block - heap.memory.start) >> heap.log2_segment_size;
                let mut byte = [0u8];
                let at = heap.segmap.start + segment;
                if super::read_into(mem, at, &mut byte, "segment map").is_err() || byte[0] != 0xFF {
                    *skipped += 1;
                }
                return;
            }
            let next = block.saturating_add(segments << heap.log2_segment_size);
            if next > heap.memory.end {
                *skipped += 1;
                return;
            }
            if self.block_used.unsigned(&bytes) == Some(1) {
                let body = &bytes[self.heap_block_size as usize..];
                match self.blob(mem, block + self.heap_block_size, body, next, names) {
                    Some(blob) => out.push(blob),
                    None => *skipped += 1,
                }
            }
            block = next;
        }
    }

    /// Decodes the blob at `address` from its first bytes `b`; `None` when
    /// it does not hold together (its code outside its block, no name).
    fn blob(
        &self,
        mem: &dyn Memory,
        address: u64,
        b: &[u8],
        block_end: u64,
        names: &mut HashMap<u64, String>,
    ) -> Option<Blob> {
        let code = match self.blob_code {
            CodeBounds::Pointers { begin, end } => field_u64(b, begin)?..field_u64(b, end)?,
            CodeBounds::Offsets { code, data } => {
                address + code.unsigned(b)?..address + data.unsigned(b)?
            }
        };
        if code.start < address || code.end > block_end || code.start > code.end {
            return None;
        }
        let name_ptr = field_u64(b, self.blob_name)?;
        let name = match names.get(&name_ptr) {
            Some(n) => n.clone(),
            None => {
                let n = read_c_string(mem, name_ptr, 256, "CodeBlob::_name").ok()?;
                names.insert(name_ptr, n.clone());
                n
            }
        };
        let kind = match name.as_str() {
            "nmethod" | "native nmethod" => BlobKind::Nmethod {
                method: field_u64(b, self.nmethod_method)?,
                compile_id: self.nmethod_compile_id.signed(b)? as i32,
                level: self.nmethod_comp_level.signed(b)? as i32,
            },
            "Interpreter" => BlobKind::Interpreter,
            _ => BlobKind::Stub(name),
        };
        Some(Blob {
            address,
            code,
            kind,
            frame_size_words: u32::try_from(self.blob_frame_size.signed(b)?).ok()?,
            frame_complete_offset: self.blob_frame_complete.signed(b)? as i32,
            name_address: name_ptr,
        })
    }

    /// The `CodeBlob*` holding `pc`, found as the BPF walker finds it: the
    /// segment map byte of `pc`'s segment says how many segments back to
    /// hop, 0 marks a block's first segment, 0xFF a free one. At most
    /// `max_hops` reads; `None` if `pc` is outside `heap`, free, or the
    /// walk does not end in time.
    pub fn blob_at_via_segmap(
        &self,
        mem: &dyn Memory,
        heap: &CodeHeap,
        pc: u64,
        max_hops: usize,
    ) -> Result<Option<u64>, JvmError> {
        if !heap.memory.contains(&pc) {
            return Ok(None);
        }
        let mut segment = (pc - heap.memory.start) >> heap.log2_segment_size;
        for _ in 0..max_hops {
            let mut byte = [0u8];
            super::read_into(
                mem,
                heap.segmap.start + segment,
                &mut byte,
                "CodeHeap segment map",
            )?;
            match byte[0] {
                0xFF => return Ok(None),
                0 => {
                    let block = heap.memory.start + (segment << heap.log2_segment_size);
                    return Ok(Some(block + self.heap_block_size));
                }
                hop => match segment.checked_sub(u64::from(hop)) {
                    Some(s) => segment = s,
                    None => return Ok(None),
                },
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeMemory;
    use super::super::vmstructs::FieldLocation::{Offset, Static};
    use super::*;

    /// Where a fake VM puts what the snapshot reads, per release.
    struct Fake {
        vm: VmStructs,
        heap_memory: u64,
        heap_segmap: u64,
        heap_log2: u64,
        block_header: u64,
        /// Offset of `_used` in the block; `_length` is at 0.
        used_at: u64,
        length_size: u8,
        name: u64,
        complete: Scalar,
        frame_size: u64,
        /// (begin, end) pointer fields, or (code, data) int offsets.
        code: (u64, u64),
        code_is_offset: bool,
        method: u64,
        compile_id: u64,
        comp_level: Scalar,
    }

    /// The HotSpot 17 x86_64 offsets of what the snapshot reads.
    fn vm17() -> Fake {
        let vm = VmStructs::from_parts(
            [
                ("CodeCache", "_heaps", Static(0x100)),
                ("GrowableArrayBase", "_len", Offset(0)),
                ("GrowableArray<int>", "_data", Offset(8)),
                ("CodeHeap", "_memory", Offset(8)),
                ("CodeHeap", "_segmap", Offset(120)),
                ("CodeHeap", "_log2_segment_size", Offset(256)),
                ("VirtualSpace", "_low_boundary", Offset(0)),
                ("VirtualSpace", "_high_boundary", Offset(8)),
                ("VirtualSpace", "_low", Offset(16)),
                ("VirtualSpace", "_high", Offset(24)),
                ("HeapBlock", "_header", Offset(0)),
                ("HeapBlock::Header", "_length", Offset(0)),
                ("HeapBlock::Header", "_used", Offset(8)),
                ("CodeBlob", "_name", Offset(96)),
                ("CodeBlob", "_frame_complete_offset", Offset(20)),
                ("CodeBlob", "_frame_size", Offset(28)),
                ("CodeBlob", "_code_begin", Offset(32)),
                ("CodeBlob", "_code_end", Offset(40)),
                ("CompiledMethod", "_method", Offset(112)),
                ("nmethod", "_compile_id", Offset(304)),
                ("nmethod", "_comp_level", Offset(308)),
                ("AbstractInterpreter", "_code", Static(0x108)),
                ("StubQueue", "_stub_buffer", Offset(8)),
                ("StubQueue", "_buffer_limit", Offset(20)),
            ],
            [("HeapBlock", 16), ("CodeBlob", 104), ("nmethod", 352)],
            [],
        )
        .with_types(&[
            ("HeapBlock::Header", "_length", "size_t"),
            ("HeapBlock::Header", "_used", "bool"),
            ("CodeBlob", "_name", "const char*"),
            ("CodeBlob", "_code_begin", "address"),
            ("CodeBlob", "_code_end", "address"),
        ]);
        Fake {
            vm,
            heap_memory: 8,
            heap_segmap: 120,
            heap_log2: 256,
            block_header: 16,
            used_at: 8,
            length_size: 8,
            name: 96,
            complete: Scalar {
                offset: 20,
                size: 4,
            },
            frame_size: 28,
            code: (32, 40),
            code_is_offset: false,
            method: 112,
            compile_id: 304,
            comp_level: Scalar {
                offset: 308,
                size: 4,
            },
        }
    }

    /// The HotSpot 25 x86_64 offsets: code bounds as offsets, a 4-byte
    /// block length, a 2-byte frame complete offset, a 1-byte level.
    fn vm25() -> Fake {
        let vm = VmStructs::from_parts(
            [
                ("CodeCache", "_heaps", Static(0x100)),
                ("GrowableArrayBase", "_len", Offset(0)),
                ("GrowableArray<int>", "_data", Offset(8)),
                ("CodeHeap", "_memory", Offset(0)),
                ("CodeHeap", "_segmap", Offset(112)),
                ("CodeHeap", "_log2_segment_size", Offset(248)),
                ("VirtualSpace", "_low_boundary", Offset(0)),
                ("VirtualSpace", "_high_boundary", Offset(8)),
                ("VirtualSpace", "_low", Offset(16)),
                ("VirtualSpace", "_high", Offset(24)),
                ("HeapBlock", "_header", Offset(0)),
                ("HeapBlock::Header", "_length", Offset(0)),
                ("HeapBlock::Header", "_used", Offset(4)),
                ("CodeBlob", "_name", Offset(8)),
                ("CodeBlob", "_code_offset", Offset(36)),
                ("CodeBlob", "_data_offset", Offset(40)),
                ("CodeBlob", "_frame_size", Offset(44)),
                ("CodeBlob", "_frame_complete_offset", Offset(54)),
                ("nmethod", "_method", Offset(80)),
                ("nmethod", "_compile_id", Offset(212)),
                ("nmethod", "_comp_level", Offset(216)),
                ("AbstractInterpreter", "_code", Static(0x108)),
                ("StubQueue", "_stub_buffer", Offset(8)),
                ("StubQueue", "_buffer_limit", Offset(20)),
            ],
            [("HeapBlock", 8), ("CodeBlob", 64), ("nmethod", 224)],
            [],
        )
        .with_types(&[
            ("HeapBlock::Header", "_length", "uint32_t"),
            ("HeapBlock::Header", "_used", "bool"),
            ("CodeBlob", "_name", "const char*"),
            ("CodeBlob", "_frame_complete_offset", "int16_t"),
            ("nmethod", "_comp_level", "CompLevel"),
        ]);
        Fake {
            vm,
            heap_memory: 0,
            heap_segmap: 112,
            heap_log2: 248,
            block_header: 8,
            used_at: 4,
            length_size: 4,
            name: 8,
            complete: Scalar {
                offset: 54,
                size: 2,
            },
            frame_size: 44,
            code: (36, 40),
            code_is_offset: true,
            method: 80,
            compile_id: 212,
            comp_level: Scalar {
                offset: 216,
                size: 1,
            },
        }
    }

    /// One heap at 0x10000 with 128-byte segments: an interpreter blob of
    /// 4 segments, a free block of 2, an nmethod of 3, then uncommitted.
    /// Every byte not written is 0xEE, so a field read too wide shows.
    fn fake_cache(f: &Fake) -> FakeMemory {
        let mut m = FakeMemory::default();
        let (low, high) = (0x10000u64, 0x10000 + 9 * 128);
        m.put(low, &[0xEEu8; 9 * 128]);
        m.put(0x4000, &[0u8; 0x100]);
        let heap = 0x2000;
        m.put_u64(heap + f.heap_memory, low);
        m.put_u64(heap + f.heap_memory + 8, low + 0x10000);
        m.put_u64(0x100, 0x1000);
        m.put_u32(0x1000, 1);
        m.put_u64(0x1008, 0x1100);
        m.put_u64(0x1100, heap);
        m.put_u64(heap + f.heap_memory + 16, low);
        m.put_u64(heap + f.heap_memory + 24, high);
        m.put_u64(heap + f.heap_segmap + 16, 0x3000);
        m.put_u64(heap + f.heap_segmap + 24, 0x3000 + 9);
        m.put_u32(heap + f.heap_log2, 7);
        m.put(0x3000, &[0, 1, 2, 3, 0xFF, 0xFF, 0, 1, 2]);
        m.put_str(0x4000, "Interpreter");
        m.put_str(0x4010, "nmethod");
        let put_int = |m: &mut FakeMemory, at: u64, v: i64, size: u8| {
            m.put(at, &v.to_le_bytes()[..usize::from(size)]);
        };
        let length = |m: &mut FakeMemory, block: u64, segs: u64| {
            put_int(m, block, segs as i64, f.length_size);
        };
        let blob = |m: &mut FakeMemory, block: u64, segs: u64, name: u64, code: Range<u64>| {
            length(m, block, segs);
            m.put(block + f.used_at, &[1]);
            let b = block + f.block_header;
            put_int(m, b + f.complete.offset, -1, f.complete.size);
            m.put_u32(b + f.frame_size, 0);
            if f.code_is_offset {
                m.put_u32(b + f.code.0, (code.start - b) as u32);
                m.put_u32(b + f.code.1, (code.end - b) as u32);
            } else {
                m.put_u64(b + f.code.0, code.start);
                m.put_u64(b + f.code.1, code.end);
            }
            m.put_u64(b + f.name, name);
        };
        blob(&mut m, low, 4, 0x4000, low + 0x80..low + 0x1f0);
        length(&mut m, low + 4 * 128, 2);
        m.put(low + 4 * 128 + f.used_at, &[0]);
        let nm = low + 6 * 128;
        blob(&mut m, nm, 3, 0x4010, nm + 0x170..nm + 0x17f);
        let b = nm + f.block_header;
        m.put_u64(b + f.method, 0xabc0);
        m.put_u32(b + f.compile_id, 77);
        put_int(&mut m, b + f.comp_level.offset, 4, f.comp_level.size);
        put_int(&mut m, b + f.complete.offset, 0x14, f.complete.size);
        m.put_u32(b + f.frame_size, 6);
        // The interpreter's StubQueue.
        m.put_u64(0x108, 0x5000);
        m.put_u64(0x5008, low + 0x80);
        m.put_u32(0x5014, 0x170);
        m
    }

    #[test]
    fn walks_heaps_and_finds_blobs_by_address_and_by_segment_map() {
        for f in [vm17(), vm25()] {
            let mem = fake_cache(&f);
            let layout = CodeCacheLayout::new(&f.vm).unwrap();
            let snap = layout.snapshot(&mem).unwrap();
            assert_eq!(snap.skipped, 0);
            assert_eq!(snap.heaps.len(), 1);
            assert_eq!(snap.interpreter, 0x10080..0x101f0);
            assert_eq!(snap.blobs.len(), 2);
            assert_eq!(snap.blobs[0].kind, BlobKind::Interpreter);
            assert_eq!(snap.blobs[0].frame_complete_offset, -1);
            let nm = &snap.blobs[1];
            assert_eq!(
                nm.kind,
                BlobKind::Nmethod {
                    method: 0xabc0,
                    compile_id: 77,
                    level: 4
                }
            );
            assert_eq!((nm.frame_size_words, nm.frame_complete_offset), (6, 0x14));
            assert_eq!(
                nm.code,
                0x10000 + 6 * 128 + 0x170..0x10000 + 6 * 128 + 0x17f
            );
            assert_eq!(nm.name_address, 0x4010);
            let heap = &snap.heaps[0];
            for pc in [nm.code.start, nm.code.end - 1] {
                assert_eq!(snap.blob_at(pc).map(|b| b.address), Some(nm.address));
                let via_map = layout.blob_at_via_segmap(&mem, heap, pc, 8).unwrap();
                assert_eq!(via_map, Some(nm.address));
            }
            let free = heap.memory.start + 4 * 128 + 5;
            assert_eq!(snap.blob_at(free), None);
            assert_eq!(
                layout.blob_at_via_segmap(&mem, heap, free, 8).unwrap(),
                None
            );
            let interp = layout.blob_at_via_segmap(&mem, heap, 0x10000 + 3 * 128 + 1, 8);
            assert_eq!(interp.unwrap(), Some(snap.blobs[0].address));
        }
    }

    #[test]
    fn blob_offsets_name_the_code_start_by_kind() {
        let offsets = CodeCacheLayout::new(&vm17().vm).unwrap().blob_offsets();
        assert_eq!(
            offsets,
            BlobOffsets {
                frame_complete: 20,
                frame_size: 28,
                code: CodeStart::Pointer(32),
                name: 96,
                method: 112,
            }
        );
        let layout = CodeCacheLayout::new(&vm25().vm).unwrap();
        assert_eq!(
            layout.blob_offsets(),
            BlobOffsets {
                frame_complete: 54,
                frame_size: 44,
                code: CodeStart::Offset(36),
                name: 8,
                method: 80,
            }
        );
        assert_eq!(layout.frame_complete_size(), 2);
    }

    #[test]
    fn a_torn_block_ends_the_walk_and_is_counted() {
        let f = vm17();
        let mut mem = fake_cache(&f);
        // The free block's length now runs past the committed end.
        mem.put_u64(0x10000 + 4 * 128, 1000);
        let snap = CodeCacheLayout::new(&f.vm).unwrap().snapshot(&mem).unwrap();
        assert_eq!((snap.blobs.len(), snap.skipped), (1, 1));
    }

    #[test]
    fn committed_but_never_used_memory_ends_the_walk_quietly() {
        let f = vm17();
        let mut mem = fake_cache(&f);
        let low = 0x10000u64;
        // Two more committed segments past the last block: zero, free.
        mem.put(low + 9 * 128, &[0u8; 2 * 128]);
        mem.put_u64(0x2000 + 8 + 24, low + 11 * 128);
        mem.put(0x3000 + 9, &[0xFF, 0xFF]);
        let layout = CodeCacheLayout::new(&f.vm).unwrap();
        let snap = layout.snapshot(&mem).unwrap();
        assert_eq!((snap.blobs.len(), snap.skipped), (2, 0));
        // A zero header on a segment in use is a block caught mid-write.
        mem.put(0x3000 + 9, &[0, 1]);
        let snap = layout.snapshot(&mem).unwrap();
        assert_eq!((snap.blobs.len(), snap.skipped), (2, 1));
    }

    #[test]
    fn a_missing_entry_is_named() {
        let vm = VmStructs::from_parts([("CodeCache", "_heaps", Static(1))], [], []);
        let err = CodeCacheLayout::new(&vm).unwrap_err().to_string();
        assert_eq!(err, "vmStructs has no field CodeBlob::_code_offset");
    }
}
