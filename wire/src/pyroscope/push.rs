//! A `push.v1.PushRequest` read straight from its protobuf bytes: series,
//! their labels and their raw profiles, borrowed from the request, within
//! bounds on how many there are. Field numbers are those of
//! `wire/proto/pyroscope.proto` (Pyroscope's published API); the generated
//! types of that file serve clients and tests that build requests.

use crate::protobuf::{self, RECURSION_LIMIT, Value};

use super::TranslateError;
use super::names::MAX_SERIES_LABELS;

/// Most series one push may carry.
pub const MAX_SERIES: usize = 10_000;
/// Most profiles one push may carry, over all its series.
pub const MAX_PROFILES: usize = 10_000;

/// One series of a push: its labels and its pprof profiles, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Series<'a> {
    /// Label names and values, in the order sent.
    pub labels: Vec<(&'a str, &'a str)>,
    /// Raw profiles (pprof, gzipped or not).
    pub profiles: Vec<&'a [u8]>,
}

/// Reads a `PushRequest`.
pub fn decode_push(bytes: &[u8]) -> Result<Vec<Series<'_>>, TranslateError> {
    let mut series = Vec::new();
    let mut profiles = 0usize;
    protobuf::each_field(bytes, RECURSION_LIMIT, |field, value| {
        if field != 1 {
            return Ok(());
        }
        if series.len() == MAX_SERIES {
            return Err("more than 10000 series in one push");
        }
        let one = decode_series(value.bytes()?, &mut profiles)?;
        series.push(one);
        Ok(())
    })
    .map_err(TranslateError::Push)?;
    Ok(series)
}

fn decode_series<'a>(bytes: &'a [u8], profiles: &mut usize) -> protobuf::Result<Series<'a>> {
    let mut series = Series::default();
    protobuf::each_field(bytes, RECURSION_LIMIT - 1, |field, value| {
        match field {
            1 => {
                if series.labels.len() == MAX_SERIES_LABELS {
                    return Err("a series carries more than 256 labels");
                }
                series.labels.push(decode_label(value.bytes()?)?);
            }
            2 => {
                if *profiles == MAX_PROFILES {
                    return Err("more than 10000 profiles in one push");
                }
                *profiles += 1;
                series.profiles.push(decode_sample(value.bytes()?)?);
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(series)
}

fn decode_label(bytes: &[u8]) -> protobuf::Result<(&str, &str)> {
    let (mut name, mut value) = ("", "");
    protobuf::each_field(bytes, RECURSION_LIMIT - 2, |field, v: Value<'_>| {
        match field {
            1 => name = v.string()?,
            2 => value = v.string()?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((name, value))
}

fn decode_sample(bytes: &[u8]) -> protobuf::Result<&[u8]> {
    let mut raw: &[u8] = &[];
    protobuf::each_field(bytes, RECURSION_LIMIT - 2, |field, v| {
        if field == 1 {
            raw = v.bytes()?;
        } else if field == 2 {
            // The id must still be a string, as prost would insist.
            v.string()?;
        }
        Ok(())
    })?;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::pyroscope_proto as pb;

    #[test]
    fn reads_what_prost_writes() {
        let request = pb::PushRequest {
            series: vec![pb::RawProfileSeries {
                labels: vec![
                    pb::LabelPair {
                        name: "__name__".into(),
                        value: "process_cpu".into(),
                    },
                    pb::LabelPair {
                        name: "service_name".into(),
                        value: "app".into(),
                    },
                ],
                samples: vec![pb::RawSample {
                    raw_profile: vec![1, 2, 3],
                    id: "x".into(),
                }],
            }],
        };
        let bytes = request.encode_to_vec();
        let series = decode_push(&bytes).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(
            series[0].labels,
            vec![("__name__", "process_cpu"), ("service_name", "app")]
        );
        assert_eq!(series[0].profiles, vec![&[1u8, 2, 3][..]]);
        // Truncated and mistyped bytes are refused, not panicked on.
        assert!(decode_push(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_push(&[0x08, 0x01]).is_err());
        assert!(decode_push(&[0xff; 12]).is_err());
    }
}
