//! Pyroscope's query API, generated from `proto/pyroscope/`: what Grafana's
//! Pyroscope data source sends and expects back. Each message has protobuf
//! (prost) and protojson (pbjson serde) codecs; [`crate::connect`] picks one
//! per request.
//!
//! The modules nest as the proto packages do (`querier.v1` refers to
//! `types.v1` and `google.v1` by relative path).

/// `types.v1`: labels, series, points and the label requests.
pub mod types {
    /// Version 1.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/types.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/types.v1.serde.rs"));
    }
}

/// `google.v1`: pprof's profile under the name the querier uses.
pub mod google {
    /// Version 1.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/google.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/google.v1.serde.rs"));
    }
}

/// `querier.v1`: the requests and answers of `QuerierService`.
pub mod querier {
    /// Version 1.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, clippy::pedantic)]
        include!(concat!(env!("OUT_DIR"), "/querier.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/querier.v1.serde.rs"));
    }
}

/// `profile` (pprof, as [`crate::pprof`] writes it) as a `google.v1`
/// message: the two protos are field for field the same.
pub fn google_profile(profile: &augur_profile::Profile) -> google::v1::Profile {
    let bytes = crate::pprof::encode_message(profile);
    prost::Message::decode(bytes.as_slice())
        .expect("perftools.profiles and google.v1 share one wire format")
}

#[cfg(test)]
mod tests {
    use super::querier::v1 as q;

    #[test]
    fn json_uses_protojson_names_and_int64_strings() {
        let request = q::SelectMergeStacktracesRequest {
            profile_type_id: "process_cpu:cpu:nanoseconds:cpu:nanoseconds".into(),
            label_selector: "{}".into(),
            start: 1_700_000_000_000,
            end: 1_700_000_060_000,
            max_nodes: Some(16384),
            ..Default::default()
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json["profileTypeID"],
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(json["labelSelector"], "{}");
        assert_eq!(json["start"], "1700000000000");
        assert_eq!(json["maxNodes"], "16384");
        // Numbers are accepted too, as protojson readers must.
        let back: q::SelectMergeStacktracesRequest = serde_json::from_str(
            r#"{"profileTypeID":"a:b:c:d:e","start":5,"end":"6","maxNodes":7}"#,
        )
        .unwrap();
        assert_eq!((back.start, back.end, back.max_nodes), (5, 6, Some(7)));
        // Fields from a newer client are skipped, as in protobuf.
        let newer: q::SelectMergeStacktracesRequest =
            serde_json::from_str(r#"{"profileTypeID":"a:b:c:d:e","futureField":{"x":1}}"#).unwrap();
        assert_eq!(newer.profile_type_id, "a:b:c:d:e");
    }
}
