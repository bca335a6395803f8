//! Series: samples keep the labels of the processes they came from, queries
//! filter by them, and the label values of a service can be listed.

use std::collections::BTreeMap;

use augur_storage::WriteOutcome;

use super::fixtures::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn label_matchers_select_series_and_no_matcher_merges_them_all() {
    let (_dir, _path, store) = temp_store();
    let hot = vec![kernel("hot", None), kernel("main", None)];
    let cold = vec![kernel("cold", None), kernel("main", None)];
    let mut a = window("api", 0, vec![(hot.clone(), 30), (cold.clone(), 5)]);
    a.labels = labels(&[("host", "web-1"), ("version", "1.0")]);
    let mut b = window("api", 0, vec![(hot.clone(), 10)]);
    b.labels = labels(&[("host", "web-2"), ("version", "1.1")]);
    let mut c = window("api", 0, vec![(cold.clone(), 7)]);
    c.labels = labels(&[("host", "web-1"), ("version", "1.1")]);
    let outcome = store.write_batch(&batch("b1", vec![a, b, c])).unwrap();
    assert_eq!(outcome, WriteOutcome::Stored { samples: 52 });

    let total = |matchers: &[(&str, &str)]| {
        let mut query = cpu_all("api");
        query.labels = labels(matchers);
        store
            .query_profile(&query)
            .unwrap()
            .samples
            .iter()
            .map(|s| s.count)
            .sum::<u64>()
    };
    assert_eq!(total(&[]), 52);
    assert_eq!(total(&[("host", "web-1")]), 42);
    assert_eq!(total(&[("version", "1.1")]), 17);
    assert_eq!(total(&[("host", "web-1"), ("version", "1.1")]), 7);
    assert_eq!(total(&[("host", "web-3")]), 0);
    assert_eq!(total(&[("zone", "x")]), 0);

    // Merged across series: one sample per distinct stack.
    let merged = store.query_profile(&cpu_all("api")).unwrap();
    assert_eq!(merged.samples.len(), 2);
    assert_eq!(merged.samples[0].count, 40);
    assert_eq!(merged.samples[1].count, 12);

    let values = store.label_values("api").unwrap();
    assert_eq!(values["host"], ["web-1", "web-2"]);
    assert_eq!(values["version"], ["1.0", "1.1"]);
    assert!(store.label_values("nope").unwrap().is_empty());
    assert_eq!(store.services().unwrap()[0].total_samples, 52);
}

#[test]
fn a_window_naming_service_among_its_labels_is_refused() {
    let (_dir, _path, store) = temp_store();
    let mut w = window("api", 0, vec![(vec![kernel("f", None)], 1)]);
    w.labels = labels(&[("service", "other")]);
    let err = store.write_batch(&batch("b1", vec![w])).unwrap_err();
    assert!(err.to_string().contains("service"), "{err}");
    assert!(store.services().unwrap().is_empty());
}
