//! What decoding an export request would allocate, estimated from its
//! encoded bytes before prost decodes it. A request is a few megabytes on
//! the wire, but two bytes of an empty table entry become a struct of a
//! hundred once decoded; a million of them must be refused here, not
//! discovered in the allocator. The walk knows which fields are messages
//! (so it can count what they hold) and which are packed numbers (which
//! decode to up to eight times their encoded size).

use crate::protobuf::{RECURSION_LIMIT, Value, each_field};

/// Bytes charged for every decoded message: its struct and the vector slot
/// holding it, rounded up.
const MESSAGE_BYTES: u64 = 96;
/// Bytes charged for a string or bytes field beyond its content.
const FIELD_BYTES: u64 = 24;
/// Decoded bytes per encoded byte of a packed list (an `int64` can be one
/// byte on the wire and eight in memory).
const PACKED_FACTOR: u64 = 8;

/// The messages of the export request, as far as the estimate needs them.
#[derive(Clone, Copy)]
enum Kind {
    Request,
    ResourceProfiles,
    Resource,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
    ScopeProfiles,
    Scope,
    Profile,
    Sample,
    Dictionary,
    Mapping,
    Location,
    Stack,
    KeyValueAndUnit,
    /// A message without nested messages or packed lists.
    Leaf,
}

/// What field `field` of a `kind` message is: a nested message, a packed
/// list, or (`None`) a scalar, string or bytes.
fn field_kind(kind: Kind, field: u32) -> Option<Result<Kind, Packed>> {
    use Kind::*;
    let nested = match (kind, field) {
        (Request, 1) => ResourceProfiles,
        (Request, 2) => Dictionary,
        (ResourceProfiles, 1) => Resource,
        (ResourceProfiles, 2) => ScopeProfiles,
        (Resource, 1) | (KeyValueList, 1) | (Scope, 3) => KeyValue,
        (Resource, 3) => Leaf,
        (KeyValue, 2) | (ArrayValue, 1) | (KeyValueAndUnit, 2) => AnyValue,
        (AnyValue, 5) => ArrayValue,
        (AnyValue, 6) => KeyValueList,
        (ScopeProfiles, 1) => Scope,
        (ScopeProfiles, 2) => Profile,
        (Profile, 1) | (Profile, 5) => Leaf,
        (Profile, 2) => Sample,
        (Dictionary, 1) => Mapping,
        (Dictionary, 2) => Location,
        (Dictionary, 3) | (Dictionary, 4) => Leaf,
        (Dictionary, 6) => KeyValueAndUnit,
        (Dictionary, 7) => Stack,
        (Location, 3) => Leaf,
        (Profile, 11)
        | (Sample, 2)
        | (Sample, 4)
        | (Sample, 5)
        | (Mapping, 5)
        | (Stack, 1)
        | (Location, 4) => return Some(Err(Packed)),
        _ => return None,
    };
    Some(Ok(nested))
}

/// Marks a packed list of numbers.
struct Packed;

/// Why a request was refused before decoding.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ScanError {
    /// Not protobuf; the text says where it broke.
    Malformed(&'static str),
    /// Would decode into more than the limit, in bytes.
    TooLarge(u64),
}

/// Checks that `request` would decode into at most `limit` bytes; returns
/// the estimate.
pub(super) fn estimate(request: &[u8], limit: u64) -> Result<u64, ScanError> {
    let mut total = MESSAGE_BYTES;
    walk(request, Kind::Request, RECURSION_LIMIT, &mut total, limit)?;
    Ok(total)
}

fn walk(
    bytes: &[u8],
    kind: Kind,
    depth: u32,
    total: &mut u64,
    limit: u64,
) -> Result<(), ScanError> {
    // Errors of the closure are recorded here, so the protobuf reader's own
    // `&'static str` errors stay what they are.
    let mut too_large = false;
    let result = each_field(bytes, depth, |field, value| {
        let charge = match (field_kind(kind, field), value) {
            (Some(Ok(nested)), Value::Bytes(inner)) => {
                if depth == 0 {
                    return Err("nested too deep");
                }
                *total = total.saturating_add(MESSAGE_BYTES);
                if *total > limit {
                    too_large = true;
                    return Err("too large");
                }
                match walk(inner, nested, depth - 1, total, limit) {
                    Ok(()) => 0,
                    Err(ScanError::Malformed(why)) => return Err(why),
                    Err(ScanError::TooLarge(_)) => {
                        too_large = true;
                        return Err("too large");
                    }
                }
            }
            (Some(Err(Packed)), Value::Bytes(inner)) => {
                FIELD_BYTES + (inner.len() as u64).saturating_mul(PACKED_FACTOR)
            }
            (_, Value::Bytes(inner)) => FIELD_BYTES + inner.len() as u64,
            // One unpacked element of a repeated number, or a scalar.
            _ => 8,
        };
        *total = total.saturating_add(charge);
        if *total > limit {
            too_large = true;
            return Err("too large");
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(()),
        Err(_) if too_large => Err(ScanError::TooLarge(*total)),
        Err(why) => Err(ScanError::Malformed(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field `field` holding `bytes`, length-delimited.
    fn delimited(field: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![field << 3 | 2];
        let mut len = bytes.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_million_empty_table_entries_cost_more_than_their_bytes() {
        // Dictionary { attribute_table: [{}; 1_000_000] }: 2 MB on the wire.
        let entries = [0x32u8, 0x00].repeat(1_000_000);
        let request = delimited(2, &entries);
        match estimate(&request, 64 << 20) {
            Err(ScanError::TooLarge(n)) => assert!(n > 64 << 20),
            other => panic!("a million entries fit: {other:?}"),
        }
        assert!(estimate(&request, 200 << 20).unwrap() >= 96_000_000);
        // A small request is charged little.
        let small = delimited(2, &[0x32, 0x00].repeat(10));
        assert!(estimate(&small, 64 << 20).unwrap() < 2_000);
    }

    #[test]
    fn garbage_is_malformed_and_nesting_is_bounded() {
        assert!(matches!(
            estimate(&[0xff, 0xff, 0xff], 1 << 20),
            Err(ScanError::Malformed(_))
        ));
        // KeyValueAndUnit { value: AnyValue { array_value: ArrayValue {
        // values: AnyValue { ... } } } }, far deeper than prost allows.
        let mut value = Vec::new();
        for _ in 0..150 {
            value = delimited(5, &delimited(1, &value));
        }
        let request = delimited(2, &delimited(6, &delimited(2, &value)));
        assert!(matches!(
            estimate(&request, 1 << 30),
            Err(ScanError::Malformed(_))
        ));
        assert_eq!(estimate(&[], 1 << 20).unwrap(), MESSAGE_BYTES);
    }
}
