//! The protobuf wire format read by hand: varints, field keys,
//! length-delimited values, skipped fields and groups, and prost's nesting
//! limit.
//!
//! Everything in this crate that reads protobuf without the generated
//! types reads it here: the count of a batch's elements before it is
//! decoded ([`crate::batch`]'s limits) and the direct batch decoder. The
//! rules are prost's, so bytes prost refuses are refused here too; errors
//! are short fixed descriptions, which callers wrap in their own error.

/// Why bytes are not protobuf, or not the protobuf expected.
pub(crate) type Result<T> = std::result::Result<T, &'static str>;

/// How deep prost lets messages and groups nest.
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Wire type of varints.
pub(crate) const VARINT: u8 = 0;
/// Wire type of 8-byte values.
pub(crate) const FIXED64: u8 = 1;
/// Wire type of strings, bytes, messages and packed lists.
pub(crate) const LENGTH_DELIMITED: u8 = 2;
/// Wire type of the key that opens a group.
const START_GROUP: u8 = 3;
/// Wire type of the key that closes a group.
const END_GROUP: u8 = 4;
/// Wire type of 4-byte values.
pub(crate) const FIXED32: u8 = 5;

/// A base-128 varint of at most 10 bytes whose value fits 64 bits.
#[inline(always)]
pub(crate) fn varint(bytes: &mut &[u8]) -> Result<u64> {
    // Keys, lengths and small numbers: most varints are one byte.
    if let Some((&byte, rest)) = bytes.split_first() {
        if byte < 0x80 {
            *bytes = rest;
            return Ok(u64::from(byte));
        }
    }
    varint_long(bytes)
}

/// [`varint`] past its first byte's fast path.
#[inline(never)]
fn varint_long(bytes: &mut &[u8]) -> Result<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = bytes.split_first().ok_or("truncated varint")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return Err("varint overflows 64 bits");
            }
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes")
}

/// The next `n` bytes, which must be there.
#[inline]
pub(crate) fn take<'a>(bytes: &mut &'a [u8], n: u64) -> Result<&'a [u8]> {
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n <= bytes.len())
        .ok_or("field runs past the end of its message")?;
    let (value, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(value)
}

/// A length-delimited value: its length, then that many bytes.
#[inline]
pub(crate) fn length_delimited<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8]> {
    let n = varint(bytes)?;
    take(bytes, n)
}

/// A field key: its number (never 0) and wire type.
#[inline]
pub(crate) fn key(bytes: &mut &[u8]) -> Result<(u32, u8)> {
    let key = varint(bytes)?;
    let key = u32::try_from(key).map_err(|_| "field key beyond 32 bits")?;
    if key >> 3 == 0 {
        return Err("field number 0");
    }
    Ok((key >> 3, (key & 7) as u8))
}

/// Skips the value of one field of wire type `wire` at nesting level
/// `depth` (levels left before the limit), a group with everything in it.
pub(crate) fn skip(bytes: &mut &[u8], field: u32, wire: u8, depth: u32) -> Result<()> {
    if depth == 0 {
        return Err("nested too deep");
    }
    match wire {
        VARINT => varint(bytes).map(drop),
        FIXED64 => take(bytes, 8).map(drop),
        LENGTH_DELIMITED => length_delimited(bytes).map(drop),
        START_GROUP => loop {
            let (inner, inner_wire) = key(bytes)?;
            if inner_wire == END_GROUP {
                if inner != field {
                    return Err("end-group tag does not match its group");
                }
                return Ok(());
            }
            skip(bytes, inner, inner_wire, depth - 1)?;
        },
        END_GROUP => Err("end-group tag outside a group"),
        FIXED32 => take(bytes, 4).map(drop),
        _ => Err("invalid wire type"),
    }
}

/// One field's value, as its wire type carries it.
#[derive(Clone, Copy)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// Fixed-width values and groups, skipped.
    Other,
}

impl<'a> Value<'a> {
    /// The value of a varint field (integers, bools, enums).
    pub(crate) fn varint(self) -> Result<u64> {
        match self {
            Value::Varint(value) => Ok(value),
            _ => Err(WRONG_WIRE_TYPE),
        }
    }

    /// The value of a length-delimited field (bytes, messages).
    pub(crate) fn bytes(self) -> Result<&'a [u8]> {
        match self {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(WRONG_WIRE_TYPE),
        }
    }

    /// The value of a string field, which must be UTF-8.
    pub(crate) fn string(self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "a string is not UTF-8")
    }
}

const WRONG_WIRE_TYPE: &str = "a field has the wrong wire type";

/// Calls `each` with the number and value of every field of the message in
/// `bytes`, read at nesting level `depth`; fixed-width fields and groups
/// are skipped and passed as [`Value::Other`].
#[inline]
pub(crate) fn each_field<'a>(
    mut bytes: &'a [u8],
    depth: u32,
    mut each: impl FnMut(u32, Value<'a>) -> Result<()>,
) -> Result<()> {
    while !bytes.is_empty() {
        let (field, wire) = key(&mut bytes)?;
        let value = match wire {
            VARINT => Value::Varint(varint(&mut bytes)?),
            LENGTH_DELIMITED => Value::Bytes(length_delimited(&mut bytes)?),
            _ => {
                skip(&mut bytes, field, wire, depth)?;
                Value::Other
            }
        };
        each(field, value)?;
    }
    Ok(())
}

/// The fields of the message `value` at level `depth`, which must have
/// levels left for it.
#[inline]
pub(crate) fn each_field_of<'a>(
    value: Value<'a>,
    depth: u32,
    each: impl FnMut(u32, Value<'a>) -> Result<()>,
) -> Result<()> {
    let bytes = value.bytes()?;
    if depth == 0 {
        return Err("nested too deep");
    }
    each_field(bytes, depth - 1, each)
}

/// The two-field entry of a protobuf map at level `depth`, each part
/// absent meaning its default.
pub(crate) fn map_entry<'a, V: Default>(
    value: Value<'a>,
    depth: u32,
    mut read: impl FnMut(Value<'a>) -> Result<V>,
) -> Result<(&'a str, V)> {
    let (mut key, mut val) = ("", V::default());
    each_field_of(value, depth, |field, value| {
        match field {
            1 => key = value.string()?,
            2 => val = read(value)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((key, val))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_take_at_most_ten_bytes_and_sixty_four_bits() {
        let read = |bytes: &[u8]| varint(&mut &bytes[..]);
        assert_eq!(read(&[0x01]), Ok(1));
        assert_eq!(read(&[0xac, 0x02]), Ok(300));
        let max = [&[0xff; 9][..], &[0x01]].concat();
        assert_eq!(read(&max), Ok(u64::MAX));
        let over = [&[0xff; 9][..], &[0x02]].concat();
        assert_eq!(read(&over), Err("varint overflows 64 bits"));
        assert_eq!(read(&[0xff; 11]), Err("varint longer than 10 bytes"));
        assert_eq!(read(&[0x80]), Err("truncated varint"));
    }

    #[test]
    fn keys_groups_and_lengths_follow_prost() {
        assert_eq!(key(&mut &[0x4a][..]), Ok((9, LENGTH_DELIMITED)));
        assert_eq!(key(&mut &[0x00][..]), Err("field number 0"));
        let mut past_32 = &[0x80, 0x80, 0x80, 0x80, 0x10][..];
        assert_eq!(key(&mut past_32), Err("field key beyond 32 bits"));
        // A group of field 14 holding a group of field 15, then a varint.
        let mut bytes = &[0x73, 0x7b, 0x08, 0x01, 0x7c, 0x74, 0x01][..];
        let (field, wire) = key(&mut bytes).unwrap();
        skip(&mut bytes, field, wire, RECURSION_LIMIT).unwrap();
        assert_eq!(bytes, [0x01]);
        let mut nested = &[0x7b, 0x7c, 0x74][..];
        assert_eq!(skip(&mut nested, 14, 3, 1), Err("nested too deep"));
        assert_eq!(
            length_delimited(&mut &[0x05, 0x01][..]),
            Err("field runs past the end of its message")
        );
    }

    #[test]
    fn fields_come_with_their_values() {
        // Field 1 = 150, field 2 = "hi", field 3 fixed32.
        let bytes = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x1d, 1, 2, 3, 4];
        let mut seen = Vec::new();
        each_field(&bytes, RECURSION_LIMIT, |field, value| {
            seen.push(match value {
                Value::Varint(v) => (field, format!("{v}")),
                Value::Bytes(_) => (field, value.string()?.to_owned()),
                Value::Other => (field, "other".to_owned()),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [(1, "150".into()), (2, "hi".into()), (3, "other".into())]
        );
        assert_eq!(Value::Varint(1).string(), Err(WRONG_WIRE_TYPE));
        assert_eq!(
            Value::Bytes(&[0xc3, 0x28]).string(),
            Err("a string is not UTF-8")
        );
    }
}
