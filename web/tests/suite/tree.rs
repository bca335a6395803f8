//! `GET /api/v1/profile?format=tree`: decoded here by hand from the layout
//! in web/API.md, and checked against `format=json` for the same request.

use std::collections::BTreeMap;

use augur_profile::{ProfileType, RawFrame, Runtime};
use augur_storage::{BatchWrite, WindowWrite};
use serde_json::Value;

use super::client::get;
use super::fixture::{MINUTE, PERIOD, Server, T0};

/// A `format=tree` answer, decoded.
#[derive(Debug)]
struct Tree {
    header: Value,
    names: Vec<String>,
    self_count: Vec<f64>,
    total: Vec<f64>,
    function_self: Vec<f64>,
    function_total: Vec<f64>,
    parent: Vec<i32>,
    name: Vec<u32>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn decode(bytes: &[u8]) -> Tree {
    assert_eq!(&bytes[..4], b"AUGT", "magic");
    assert_eq!(u32_at(bytes, 4), 1, "version");
    let header_len = u32_at(bytes, 8) as usize;
    let header: Value = serde_json::from_slice(&bytes[12..12 + header_len]).expect("JSON header");
    let nodes = header["nodes"].as_u64().expect("nodes") as usize;
    let names: Vec<String> = header["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().expect("name").to_owned())
        .collect();
    let mut at = (12 + header_len).next_multiple_of(8);
    assert!(
        bytes[12 + header_len..at].iter().all(|&b| b == 0),
        "padding"
    );
    assert_eq!(
        bytes.len(),
        at + nodes * 24 + names.len() * 16,
        "the arrays fill the rest exactly"
    );
    let mut f64s = |len: usize| -> Vec<f64> {
        let out = (0..len)
            .map(|i| f64::from_le_bytes(bytes[at + 8 * i..at + 8 * i + 8].try_into().unwrap()))
            .collect();
        at += 8 * len;
        out
    };
    let self_count = f64s(nodes);
    let total = f64s(nodes);
    let function_self = f64s(names.len());
    let function_total = f64s(names.len());
    let parent = (0..nodes)
        .map(|i| u32_at(bytes, at + 4 * i) as i32)
        .collect();
    at += 4 * nodes;
    let name = (0..nodes).map(|i| u32_at(bytes, at + 4 * i)).collect();
    Tree {
        header,
        names,
        self_count,
        total,
        function_self,
        function_total,
        parent,
        name,
    }
}

/// Both answers for one query string.
async fn both(server: &Server, query: &str) -> (Value, Tree) {
    let json = get(server.address, &format!("/api/v1/profile?{query}")).await;
    assert_eq!(json.status, 200, "{}", json.text());
    let tree = get(
        server.address,
        &format!("/api/v1/profile?{query}&format=tree"),
    )
    .await;
    assert_eq!(
        tree.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&tree.body)
    );
    assert_eq!(tree.content_type(), "application/vnd.augur.tree");
    (json.json(), decode(&tree.body))
}

/// Checks the tree against the JSON answer: header fields, every stack
/// with its count, every function's self and total in the same order, and
/// the tree's own invariants.
fn assert_same_profile(json: &Value, tree: &Tree) {
    for key in [
        "service",
        "labels",
        "profile_type",
        "period",
        "from",
        "to",
        "total_samples",
    ] {
        assert_eq!(tree.header[key], json[key], "header field {key}");
    }
    let n = tree.parent.len();
    assert!(n >= 1, "the root is always there");
    assert_eq!(tree.parent[0], -1);
    assert_eq!(tree.name[0], u32::MAX);
    assert_eq!(tree.total[0], json["total_samples"].as_f64().unwrap());

    // Breadth-first, children consecutive and heaviest first; totals add up.
    let mut children_total = vec![0.0; n];
    for i in 1..n {
        let p = tree.parent[i];
        assert!(
            p >= 0 && (p as usize) < i,
            "node {i}: parent {p} comes first"
        );
        assert!(
            tree.parent[i - 1] <= p,
            "node {i}: siblings are consecutive"
        );
        if tree.parent[i - 1] == p {
            assert!(
                tree.total[i - 1] >= tree.total[i],
                "node {i}: heaviest first"
            );
        }
        assert!((tree.name[i] as usize) < tree.names.len(), "node {i}: name");
        children_total[p as usize] += tree.total[i];
    }
    for (i, children) in children_total.iter().enumerate() {
        assert_eq!(
            tree.total[i],
            tree.self_count[i] + children,
            "node {i}: total is self plus children"
        );
    }

    // Stacks: the root-first path of every node with self samples.
    let mut from_tree: BTreeMap<Vec<String>, f64> = BTreeMap::new();
    for i in 0..n {
        if tree.self_count[i] == 0.0 {
            continue;
        }
        let mut path = Vec::new();
        let mut node = i as i32;
        while node > 0 {
            path.push(tree.names[tree.name[node as usize] as usize].clone());
            node = tree.parent[node as usize];
        }
        path.reverse();
        assert!(
            from_tree.insert(path, tree.self_count[i]).is_none(),
            "one node per stack"
        );
    }
    let from_json: BTreeMap<Vec<String>, f64> = json["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let frames = s["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (frames, s["count"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(from_tree, from_json, "stacks");

    // Functions: the names table is top_functions, in its order.
    let functions: Vec<(String, f64, f64)> = tree
        .names
        .iter()
        .zip(&tree.function_self)
        .zip(&tree.function_total)
        .map(|((name, &s), &t)| (name.clone(), s, t))
        .collect();
    let top: Vec<(String, f64, f64)> = json["top_functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["self"].as_f64().unwrap(),
                f["total"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(functions, top, "functions");
}

#[tokio::test]
async fn tree_matches_json_on_the_fixture() {
    let server = Server::start().await;
    let (json, tree) = both(
        &server,
        "service=checkout&from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z",
    )
    .await;
    assert_eq!(json["total_samples"], 11);
    assert_same_profile(&json, &tree);
    // root, main, caller, cold, [shop+0x1234], hot.
    assert_eq!(tree.parent.len(), 6);
    assert_eq!(tree.names[0], "hot");
    let main = tree.names.iter().position(|n| n == "main").unwrap();
    assert_eq!(tree.name[1] as usize, main, "main is the root's only child");
    assert_eq!(tree.total[1], 11.0);
    assert_eq!(
        (tree.function_self[main], tree.function_total[main]),
        (0.0, 11.0)
    );
}

#[tokio::test]
async fn tree_of_nothing_is_a_bare_root() {
    let server = Server::start().await;
    let (json, tree) = both(
        &server,
        "service=nobody&from=2026-11-24T14:00:00Z&to=2026-11-24T15:00:00Z",
    )
    .await;
    assert_same_profile(&json, &tree);
    assert_eq!(tree.parent, vec![-1]);
    assert_eq!(tree.total, vec![0.0]);
    assert!(tree.names.is_empty());
}

/// A deterministic pseudo-random stack over a small alphabet, so stacks
/// share prefixes, recurse (`a` calling `a`) and end anywhere.
fn stack(seed: u64) -> Vec<RawFrame> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let depth = 1 + next() % 9;
    let mut frames: Vec<RawFrame> = (0..depth)
        .map(|_| RawFrame::Kernel {
            function: ["a", "b", "c", "d", "e", "f"][(next() % 6) as usize].to_owned(),
            module: None,
        })
        .collect();
    // Leaf first, under one root.
    frames.push(RawFrame::Kernel {
        function: "main".to_owned(),
        module: None,
    });
    frames
}

#[tokio::test]
async fn tree_matches_json_with_recursion_labels_and_windows() {
    let server = Server::start().await;
    let windows = (0..3)
        .flat_map(|w: u64| {
            ["web-1", "web-2"].into_iter().map(move |host| WindowWrite {
                service: "deep".into(),
                labels: BTreeMap::from([("host".to_owned(), host.to_owned())]),
                profile_type: ProfileType::cpu(),
                period: PERIOD,
                window_start_unix_nanos: T0 + w as i64 * MINUTE,
                stacks: (0..300)
                    .map(|i| (stack(w * 1000 + i).into(), 1 + (i * 7 + w) % 13))
                    .collect(),
            })
        })
        .collect();
    server
        .store
        .write_batch(&BatchWrite {
            batch_id: "deep".into(),
            received_unix_nanos: T0,
            binaries: vec![],
            windows,
        })
        .unwrap();
    let range = "from=2026-11-24T14:00:00Z&to=2026-11-24T14:03:00Z";
    let (json, tree) = both(&server, &format!("service=deep&{range}")).await;
    assert!(
        tree.parent.len() > 300,
        "a real tree: {} nodes",
        tree.parent.len()
    );
    assert_same_profile(&json, &tree);
    // Recursion is counted once per sample in a function's total.
    let a = tree.names.iter().position(|n| n == "a").unwrap();
    assert!(tree.function_total[a] <= tree.total[0]);

    let (json, tree) = both(&server, &format!("service=deep&{range}&labels=host=web-2")).await;
    assert_eq!(tree.header["labels"], serde_json::json!({"host": "web-2"}));
    assert_same_profile(&json, &tree);
}

#[tokio::test]
async fn unknown_formats_name_tree() {
    let server = Server::start().await;
    let response = get(
        server.address,
        "/api/v1/profile?service=checkout&format=trees",
    )
    .await;
    assert_eq!(response.status, 400);
    assert!(response.error_message().contains("json, tree, pprof"));
}

#[tokio::test]
async fn runtime_frames_carry_their_language_and_source_in_both_formats() {
    let server = Server::start().await;
    let runtime = |runtime, function: &str, file: &str, line, inlined| RawFrame::Runtime {
        runtime,
        function: function.into(),
        file: file.into(),
        line,
        inlined,
    };
    let main = RawFrame::Kernel {
        function: "main".into(),
        module: None,
    };
    let handle = runtime(Runtime::Python, "Server.handle", "server.py", 42, false);
    let module = runtime(Runtime::Python, "<module>", "", 0, false);
    let hash = runtime(
        Runtime::Java,
        "java.util.HashMap.hash",
        "HashMap.java",
        339,
        true,
    );
    let get_ = runtime(Runtime::Java, "com.shop.Cache.get", "Cache.java", 88, false);
    // The same function at another line: one node, one name.
    let handle_later = runtime(Runtime::Python, "Server.handle", "server.py", 57, false);
    server
        .store
        .write_batch(&BatchWrite {
            batch_id: "runtime".into(),
            received_unix_nanos: T0,
            binaries: vec![],
            windows: vec![WindowWrite {
                service: "polyglot".into(),
                labels: BTreeMap::new(),
                profile_type: ProfileType::cpu(),
                period: PERIOD,
                window_start_unix_nanos: T0,
                stacks: vec![
                    (vec![handle, module.clone(), main.clone()].into(), 5),
                    (vec![handle_later, module, main.clone()].into(), 1),
                    (vec![hash, get_, main].into(), 3),
                ],
            }],
        })
        .unwrap();
    let range = "from=2026-11-24T14:00:00Z&to=2026-11-24T14:01:00Z";
    let (json, tree) = both(&server, &format!("service=polyglot&{range}")).await;
    assert_same_profile(&json, &tree);
    // root, main, <module>, Server.handle, Cache.get, HashMap.hash.
    assert_eq!(tree.parent.len(), 6);

    let header = &tree.header;
    let languages: Vec<&str> = header["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let language_of = |name: &str| {
        let i = tree.names.iter().position(|n| n == name).unwrap();
        languages[header["name_languages"][i].as_u64().unwrap() as usize]
    };
    assert_eq!(language_of("Server.handle"), "python");
    assert_eq!(language_of("<module>"), "python");
    assert_eq!(language_of("java.util.HashMap.hash"), "java");
    assert_eq!(language_of("main"), "kernel");
    let sources: Vec<(String, String, u64)> = header["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                tree.names[s["name"].as_u64().unwrap() as usize].clone(),
                s["file"].as_str().unwrap().to_owned(),
                s["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut sources = sources;
    sources.sort();
    assert_eq!(
        sources,
        [
            ("Server.handle".into(), "server.py".into(), 42),
            ("com.shop.Cache.get".into(), "Cache.java".into(), 88),
            ("java.util.HashMap.hash".into(), "HashMap.java".into(), 339),
        ]
    );

    // The JSON answer says the same of its top functions.
    let top = json["top_functions"].as_array().unwrap();
    let entry = |name: &str| top.iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(
        entry("Server.handle"),
        serde_json::json!({"name": "Server.handle", "self": 6, "total": 6,
                           "language": "python", "file": "server.py", "line": 42})
    );
    assert_eq!(
        entry("<module>"),
        serde_json::json!({"name": "<module>", "self": 0, "total": 6, "language": "python"})
    );
    assert_eq!(entry("java.util.HashMap.hash")["language"], "java");
}
