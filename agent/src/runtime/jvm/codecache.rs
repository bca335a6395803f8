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

use super::vmstructs::VmStructs;
use super::{JvmError, Memory};
use super::{field_u8, field_u32, field_u64, read_bytes, read_c_string, read_u32, read_u64};

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
    Offsets { code: u64, data: u64 },
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
    block_length: u64,
    block_used: u64,
    blob_name: u64,
    blob_frame_size: u64,
    blob_frame_complete: u64,
    blob_code: CodeBounds,
    nmethod_method: u64,
    nmethod_compile_id: u64,
    nmethod_comp_level: u64,
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
                code: vm.offset("CodeBlob", "_code_offset")?,
                data: vm.offset("CodeBlob", "_data_offset")?,
            }
        };
        let header = vm.offset("HeapBlock", "_header")?;
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
            block_length: header + vm.offset("HeapBlock::Header", "_length")?,
            block_used: header + vm.offset("HeapBlock::Header", "_used")?,
            blob_name: vm.offset("CodeBlob", "_name")?,
            blob_frame_size: vm.offset("CodeBlob", "_frame_size")?,
            blob_frame_complete: vm.offset("CodeBlob", "_frame_complete_offset")?,
            blob_code,
            // CompiledMethod holds _method from JDK 9 to 22, nmethod after.
            nmethod_method: vm
                .offset_any(&[("CompiledMethod", "_method"), ("nmethod", "_method")])?,
            nmethod_compile_id: vm.offset("nmethod", "_compile_id")?,
            nmethod_comp_level: vm.offset("nmethod", "_comp_level")?,
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

    /// Offsets in a `CodeBlob` (and `CompiledMethod`) the BPF walker
    /// reads: frame complete offset, frame size, code begin, name and
    /// `Method*`; `None` where the code bounds are offsets (JDK 23+), which
    /// the walker does not read.
    pub fn blob_offsets(&self) -> Option<[u64; 5]> {
        let CodeBounds::Pointers { begin, .. } = self.blob_code else {
            return None;
        };
        Some([
            self.blob_frame_complete,
            self.blob_frame_size,
            begin,
            self.blob_name,
            self.nmethod_method,
        ])
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
            let segments = field_u64(&bytes, self.block_length).unwrap_or(0);
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
            if field_u8(&bytes, self.block_used) == Some(1) {
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
                address + u64::from(field_u32(b, code)?)..address + u64::from(field_u32(b, data)?)
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
                compile_id: field_u32(b, self.nmethod_compile_id)? as i32,
                level: field_u32(b, self.nmethod_comp_level)? as i32,
            },
            "Interpreter" => BlobKind::Interpreter,
            _ => BlobKind::Stub(name),
        };
        Some(Blob {
            address,
            code,
            kind,
            frame_size_words: field_u32(b, self.blob_frame_size)?,
            frame_complete_offset: field_u32(b, self.blob_frame_complete)? as i32,
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

    /// The HotSpot 17 x86_64 offsets of what the snapshot reads.
    pub(crate) fn vm17() -> VmStructs {
        VmStructs::from_parts(
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
    }

    /// One heap at 0x10000 with 128-byte segments: an interpreter blob of
    /// 4 segments, a free block of 2, an nmethod of 3, then uncommitted.
    fn fake_cache() -> FakeMemory {
        let mut m = FakeMemory::default();
        let (low, high) = (0x10000u64, 0x10000 + 9 * 128);
        m.put(low, &[0u8; 9 * 128]);
        m.put(0x4000, &[0u8; 0x100]);
        m.put_u64(0x2000 + 8, low);
        m.put_u64(0x2000 + 8 + 8, low + 0x10000);
        m.put_u64(0x100, 0x1000);
        m.put_u32(0x1000, 1);
        m.put_u64(0x1008, 0x1100);
        m.put_u64(0x1100, 0x2000);
        m.put_u64(0x2000 + 8 + 16, low);
        m.put_u64(0x2000 + 8 + 24, high);
        m.put_u64(0x2000 + 120 + 16, 0x3000);
        m.put_u64(0x2000 + 120 + 24, 0x3000 + 9);
        m.put_u32(0x2000 + 256, 7);
        m.put(0x3000, &[0, 1, 2, 3, 0xFF, 0xFF, 0, 1, 2]);
        m.put_str(0x4000, "Interpreter");
        m.put_str(0x4010, "nmethod");
        let blob =
            |m: &mut FakeMemory, block: u64, segs: u64, name: u64, code: Range<u64>, fs: u32| {
                m.put_u64(block, segs);
                m.put(block + 8, &[1]);
                let b = block + 16;
                m.put_u32(b + 20, 0xffff_ffff);
                m.put_u32(b + 28, fs);
                m.put_u64(b + 32, code.start);
                m.put_u64(b + 40, code.end);
                m.put_u64(b + 96, name);
            };
        blob(&mut m, low, 4, 0x4000, low + 0x80..low + 0x1f0, 0);
        m.put_u64(low + 4 * 128, 2);
        let nm = low + 6 * 128;
        blob(&mut m, nm, 3, 0x4010, nm + 0x170..nm + 0x17f, 6);
        m.put_u64(nm + 16 + 112, 0xabc0);
        m.put_u32(nm + 16 + 304, 77);
        m.put_u32(nm + 16 + 308, 4);
        m.put_u32(nm + 16 + 20, 0x14);
        // The interpreter's StubQueue.
        m.put_u64(0x108, 0x5000);
        m.put_u64(0x5008, low + 0x80);
        m.put_u32(0x5014, 0x170);
        m
    }

    #[test]
    fn walks_heaps_and_finds_blobs_by_address_and_by_segment_map() {
        let mem = fake_cache();
        let layout = CodeCacheLayout::new(&vm17()).unwrap();
        let snap = layout.snapshot(&mem).unwrap();
        assert_eq!(snap.skipped, 0);
        assert_eq!(snap.heaps.len(), 1);
        assert_eq!(snap.interpreter, 0x10080..0x101f0);
        assert_eq!(snap.blobs.len(), 2);
        assert_eq!(snap.blobs[0].kind, BlobKind::Interpreter);
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

    #[test]
    fn a_torn_block_ends_the_walk_and_is_counted() {
        let mut mem = fake_cache();
        // The free block's length now runs past the committed end.
        mem.put_u64(0x10000 + 4 * 128, 1000);
        let snap = CodeCacheLayout::new(&vm17())
            .unwrap()
            .snapshot(&mem)
            .unwrap();
        assert_eq!((snap.blobs.len(), snap.skipped), (1, 1));
    }

    #[test]
    fn committed_but_never_used_memory_ends_the_walk_quietly() {
        let mut mem = fake_cache();
        let low = 0x10000u64;
        // Two more committed segments past the last block: zero, free.
        mem.put(low + 9 * 128, &[0u8; 2 * 128]);
        mem.put_u64(0x2000 + 8 + 24, low + 11 * 128);
        mem.put(0x3000 + 9, &[0xFF, 0xFF]);
        let layout = CodeCacheLayout::new(&vm17()).unwrap();
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
