//! HotSpot's compressed streams, as pure functions over bytes: the
//! UNSIGNED5 integers of `CompressedReadStream` (debug info, line tables),
//! the line number table of a `ConstMethod`, and the header of one scope
//! record in an nmethod's scopes data.
//!
//! UNSIGNED5 writes an int in one to five bytes, six bits per byte after
//! the first; bytes below 192 end a number. Up to JDK 19 a byte value is
//! the digit itself; from JDK 20 (`utilities/unsigned5.hpp`) every byte is
//! shifted up by one so no byte is zero: that shift is `excluded`.

/// How a VM writes its compressed ints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEncoding {
    /// Byte values below this never occur (0 up to JDK 19, 1 from JDK 20).
    pub excluded: u8,
}

impl StreamEncoding {
    pub const JDK_11_TO_19: Self = Self { excluded: 0 };
    pub const JDK_20_ON: Self = Self { excluded: 1 };

    /// HotSpot exports nothing that tells the two apart (`CompressedStream`
    /// has only its buffer and position), so the release decides.
    pub fn for_major_version(major: u32) -> Self {
        if major >= 20 {
            Self::JDK_20_ON
        } else {
            Self::JDK_11_TO_19
        }
    }
}

/// Bytes at or above this continue a number (`L` in HotSpot, plus the
/// excluded bytes: 192 under both encodings).
const CONTINUE_AT: u32 = 192;
const MAX_BYTES: usize = 5;

/// A cursor over compressed bytes.
#[derive(Debug, Clone)]
pub struct ReadStream<'a> {
    bytes: &'a [u8],
    pos: usize,
    encoding: StreamEncoding,
}

impl<'a> ReadStream<'a> {
    pub fn new(bytes: &'a [u8], pos: usize, encoding: StreamEncoding) -> Self {
        Self {
            bytes,
            pos,
            encoding,
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn read_byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// One UNSIGNED5 number; `None` past the end or on an excluded byte.
    pub fn read_u32(&mut self) -> Option<u32> {
        let x = u32::from(self.encoding.excluded);
        let mut sum = 0u32;
        for i in 0..MAX_BYTES {
            let b = u32::from(self.read_byte()?);
            let digit = b.checked_sub(x)?;
            sum = sum.wrapping_add(digit << (6 * i));
            if b < CONTINUE_AT || i == MAX_BYTES - 1 {
                return Some(sum);
            }
        }
        None
    }

    /// A signed number: UNSIGNED5 of the zigzag encoding.
    pub fn read_i32(&mut self) -> Option<i32> {
        let v = self.read_u32()?;
        Some(((v >> 1) as i32) ^ -((v & 1) as i32))
    }
}

/// Decodes a `CompressedLineNumberReadStream`: (bci, line) pairs as deltas
/// from (0, 0), each one byte `bci_delta << 3 | line_delta` when both fit,
/// else 0xFF and two signed ints; a zero byte ends the table. Stops (with
/// what it has) at a malformed or truncated table.
pub fn decode_line_table(bytes: &[u8], encoding: StreamEncoding) -> Vec<(u32, u32)> {
    let mut s = ReadStream::new(bytes, 0, encoding);
    let (mut bci, mut line) = (0i64, 0i64);
    let mut out = Vec::new();
    while let Some(next) = s.read_byte() {
        match next {
            0 => break,
            0xFF => {
                let (Some(db), Some(dl)) = (s.read_i32(), s.read_i32()) else {
                    break;
                };
                bci += i64::from(db);
                line += i64::from(dl);
            }
            packed => {
                bci += i64::from(packed >> 3);
                line += i64::from(packed & 7);
            }
        }
        let (Ok(b), Ok(l)) = (u32::try_from(bci), u32::try_from(line)) else {
            break;
        };
        out.push((b, l));
    }
    out
}

/// The line of `bci` by HotSpot's rule (`Method::line_number_from_bci`):
/// an exact entry wins, else the line of the greatest entry below `bci`.
pub fn line_at(table: &[(u32, u32)], bci: u32) -> Option<u32> {
    let mut best: Option<(u32, u32)> = None;
    for &(b, l) in table {
        if b == bci {
            return Some(l);
        }
        if b < bci && best.is_none_or(|(bb, _)| b >= bb) {
            best = Some((b, l));
        }
    }
    best.map(|(_, l)| l)
}

/// The header of one `ScopeDesc` record in an nmethod's scopes data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeHeader {
    /// Offset of the caller's record; 0 (`serialized_null`) at the
    /// outermost scope.
    pub sender_offset: u32,
    /// Index into the nmethod's metadata, 1-based; 0 is NULL.
    pub method_index: u32,
    pub bci: i32,
}

/// Decodes the scope record at `offset` (`ScopeDesc::decode_body`: sender
/// offset, method index, then bci written plus one so -1 fits unsigned).
pub fn decode_scope(bytes: &[u8], offset: usize, encoding: StreamEncoding) -> Option<ScopeHeader> {
    let mut s = ReadStream::new(bytes, offset, encoding);
    let sender_offset = s.read_u32()?;
    let method_index = s.read_u32()?;
    // InvocationEntryBci is -1 on every release.
    let bci = (s.read_u32()? as i32).wrapping_sub(1);
    Some(ScopeHeader {
        sender_offset,
        method_index,
        bci,
    })
}

#[cfg(test)]
pub(crate) mod encode {
    //! The writers, for tests: HotSpot's `CompressedWriteStream`.
    use super::StreamEncoding;

    pub fn u32(out: &mut Vec<u8>, mut v: u32, e: StreamEncoding) {
        let x = u32::from(e.excluded);
        let l = 192 - x;
        for i in 0..5 {
            if v < l || i == 4 {
                out.push((v + x) as u8);
                return;
            }
            v -= l;
            out.push((l + x + (v % 64)) as u8);
            v >>= 6;
        }
    }

    pub fn i32(out: &mut Vec<u8>, v: i32, e: StreamEncoding) {
        u32(out, ((v << 1) ^ (v >> 31)) as u32, e);
    }

    pub fn line_table(pairs: &[(u32, u32)], e: StreamEncoding) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut bci, mut line) = (0i32, 0i32);
        for &(b, l) in pairs {
            let (db, dl) = (b as i32 - bci, l as i32 - line);
            if (0..32).contains(&db) && (0..8).contains(&dl) && (db, dl) != (0, 0) {
                out.push(((db << 3) | dl) as u8);
            } else {
                out.push(0xFF);
                i32(&mut out, db, e);
                i32(&mut out, dl, e);
            }
            (bci, line) = (b as i32, l as i32);
        }
        out.push(0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [StreamEncoding; 2] = [StreamEncoding::JDK_11_TO_19, StreamEncoding::JDK_20_ON];

    #[test]
    fn unsigned5_round_trips_at_every_length() {
        for e in BOTH {
            let values = [0, 1, 190, 191, 192, 193, 12_345, 1 << 20, 1 << 27, u32::MAX];
            let mut bytes = Vec::new();
            for v in values {
                encode::u32(&mut bytes, v, e);
            }
            let mut s = ReadStream::new(&bytes, 0, e);
            for v in values {
                assert_eq!(s.read_u32(), Some(v), "{e:?}");
            }
            assert_eq!(s.read_u32(), None);
            if e.excluded == 1 {
                assert!(!bytes.contains(&0));
            }
        }
    }

    #[test]
    fn signed_ints_zigzag() {
        for e in BOTH {
            let mut bytes = Vec::new();
            for v in [0, -1, 1, -1000, i32::MIN, i32::MAX] {
                encode::i32(&mut bytes, v, e);
            }
            let mut s = ReadStream::new(&bytes, 0, e);
            for v in [0, -1, 1, -1000, i32::MIN, i32::MAX] {
                assert_eq!(s.read_i32(), Some(v));
            }
        }
    }

    #[test]
    fn known_bytes_decode_as_hotspot_17_wrote_them() {
        // 200 = 192 + 8: a first byte of 200 (≥192) and a second of 0.
        let mut s = ReadStream::new(&[200, 0], 0, StreamEncoding::JDK_11_TO_19);
        assert_eq!(s.read_u32(), Some(200));
        // A packed pair (bci +2, line +5), then an escaped pair.
        let table = [2 << 3 | 5, 0xFF, 80, 3, 0];
        assert_eq!(
            decode_line_table(&table, StreamEncoding::JDK_11_TO_19),
            vec![(2, 5), (42, 3)]
        );
    }

    #[test]
    fn line_tables_round_trip_and_look_up_like_hotspot() {
        for e in BOTH {
            let pairs = [(0, 4), (2, 5), (9, 5), (40, 7), (300, 2), (301, 1000)];
            let decoded = decode_line_table(&encode::line_table(&pairs, e), e);
            assert_eq!(decoded, pairs);
            assert_eq!(line_at(&decoded, 0), Some(4));
            assert_eq!(line_at(&decoded, 8), Some(5));
            assert_eq!(line_at(&decoded, 299), Some(7));
            assert_eq!(line_at(&decoded, 5000), Some(1000));
            assert_eq!(line_at(&[], 3), None);
        }
        // A truncated table keeps what decoded.
        assert_eq!(
            decode_line_table(&[1 << 3 | 1, 0xFF], BOTH[0]),
            vec![(1, 1)]
        );
    }

    #[test]
    fn scope_headers_decode() {
        for e in BOTH {
            let mut bytes = vec![0xAA];
            for v in [0u32, 3, 0] {
                encode::u32(&mut bytes, v, e);
            }
            let at = bytes.len();
            for v in [1u32, 2, 18] {
                encode::u32(&mut bytes, v, e);
            }
            let outer = decode_scope(&bytes, 1, e).unwrap();
            assert_eq!(
                (outer.sender_offset, outer.method_index, outer.bci),
                (0, 3, -1)
            );
            let inner = decode_scope(&bytes, at, e).unwrap();
            assert_eq!(
                (inner.sender_offset, inner.method_index, inner.bci),
                (1, 2, 17)
            );
            assert_eq!(decode_scope(&bytes, bytes.len(), e), None);
        }
    }
}
