//! Golden files: one fixed profile rendered to every download format the
//! web API offers (pprof, folded stacks, an SVG flame graph, speedscope
//! JSON) through the same library calls `GET /api/profile` makes, each
//! compared byte for byte with its file under `tests/golden/`. A change of
//! output shows up as a diff in review, not as a surprise for a user.
//!
//! `AUGUR_BLESS=1 cargo test -p augur-tests --test integration -- suite::golden`
//! rewrites the files from the current code instead of comparing.
//!
//! What is pinned rather than compared: pprof is stored inflated, since the
//! gzip stream depends on the compressor's version, not on our encoding
//! (the test checks that the download inflates to it). The flame graph's
//! colours come from a hash of each function's name, the same on any
//! thread; the SVG is drawn on a thread of its own all the same, as the
//! web server draws it on its blocking pool.

use std::io::Read;
use std::path::PathBuf;

use augur_profile::{FileId, Location, Profile, ProfileType, RawFrame, Sample, Symbol};
use augur_web::format_rfc3339;

/// The fixture's type as a request names it (`type=cpu`).
const PROFILE_TYPE: &str = "cpu";

/// The environment variable that turns comparing into rewriting.
const BLESS: &str = "AUGUR_BLESS";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Compares `actual` with the golden file `name`, or rewrites it when
/// blessing.
fn check(name: &str, actual: &[u8]) {
    let path = golden_dir().join(name);
    if std::env::var_os(BLESS).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(golden_dir()).expect("creating tests/golden");
        std::fs::write(&path, actual).expect("writing a golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run with {BLESS}=1 to write it",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let first_difference = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let line = actual[..first_difference]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    panic!(
        "{} differs from this rendering ({} bytes expected, {} rendered, first difference at \
         byte {first_difference}, line {line}); if the change is intended, run with {BLESS}=1 \
         and commit the file",
        path.display(),
        expected.len(),
        actual.len()
    );
}

/// A small profile touching every kind of frame: symbolized user frames
/// (one with an inlined call), an unsymbolized one, kernel, JIT and
/// unknown frames. Fixed range, fixed counts.
fn fixture() -> Profile {
    let exe = FileId::parse_hex("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a").expect("hex");
    let libc = FileId::parse_hex("c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1").expect("hex");
    let symbol = |function: &str, file: &str, line: u32| Symbol {
        function: function.into(),
        file: Some(file.into()),
        line: Some(line),
    };
    let user = |id: &FileId, offset: u64, path: &str, symbols: Vec<Symbol>| {
        Location::new(
            RawFrame::User {
                build_id: id.clone(),
                file_offset: offset,
            },
            Some(path.into()),
            symbols,
        )
    };
    const EXE: &str = "/usr/local/bin/checkout-api";
    const LIBC: &str = "/usr/lib/x86_64-linux-gnu/libc.so.6";
    let main = user(&exe, 0x1100, EXE, vec![symbol("main", "src/main.rs", 12)]);
    let serve = user(
        &exe,
        0x2200,
        EXE,
        vec![symbol("checkout::serve", "src/serve.rs", 40)],
    );
    // Innermost first: `parse` inlined into `handle`.
    let handle = user(
        &exe,
        0x3300,
        EXE,
        vec![
            symbol("checkout::parse", "src/parse.rs", 7),
            symbol("checkout::handle", "src/handle.rs", 88),
        ],
    );
    let price = user(
        &exe,
        0x4400,
        EXE,
        vec![symbol("checkout::price<f64>", "src/price.rs", 3)],
    );
    let memcpy = user(
        &libc,
        0x9a0,
        LIBC,
        vec![symbol("__memcpy_avx_unaligned", "", 0)],
    );
    let stripped = user(&libc, 0x1234, LIBC, Vec::new());
    let kernel = |function: &str| {
        Location::new(
            RawFrame::Kernel {
                function: function.into(),
                module: None,
            },
            None,
            Vec::new(),
        )
    };
    let jit = Location::new(
        RawFrame::Named {
            function: "LJava/Checkout;::total".into(),
            origin: "jit".into(),
        },
        None,
        Vec::new(),
    );
    let unknown = Location::new(
        RawFrame::Unknown {
            reason: "anonymous memory".into(),
        },
        None,
        Vec::new(),
    );
    // Leaf first, as pprof orders locations.
    let stack = |locations: &[&Location], count: u64| Sample {
        locations: locations.iter().map(|l| (*l).clone()).collect(),
        count,
    };
    Profile {
        service: "checkout-api".into(),
        profile_type: ProfileType::cpu(),
        period: 52_631_578,
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_000_600_000_000_000,
        samples: vec![
            stack(&[&price, &handle, &serve, &main], 120),
            stack(&[&memcpy, &handle, &serve, &main], 45),
            stack(
                &[
                    &kernel("tcp_recvmsg"),
                    &kernel("do_syscall_64"),
                    &stripped,
                    &serve,
                    &main,
                ],
                30,
            ),
            stack(&[&jit, &serve, &main], 12),
            stack(&[&unknown, &main], 3),
            stack(&[&handle, &serve, &main], 9),
        ],
    }
}

/// The range as the API prints it in titles and names.
fn range(profile: &Profile) -> (String, String) {
    (
        format_rfc3339(profile.start_unix_nanos),
        format_rfc3339(profile.end_unix_nanos),
    )
}

#[test]
fn pprof_download_matches_its_golden_file() {
    let profile = fixture();
    let gzipped = augur_wire::pprof::encode(&profile).expect("encoding pprof");
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_end(&mut inflated)
        .expect("the download is gzip");
    check("profile.pb", &inflated);
    // And it reads back as the same stacks.
    let decoded = augur_wire::pprof::decode(&gzipped, 1 << 20).expect("decoding pprof");
    assert_eq!(decoded.folded_stacks(), profile.folded_stacks());
}

#[test]
fn folded_download_matches_its_golden_file() {
    check(
        "profile.folded",
        augur_profile::render::folded(&fixture()).as_bytes(),
    );
}

#[test]
fn svg_flame_graph_matches_its_golden_file() {
    let profile = fixture();
    let (from, to) = range(&profile);
    // As the API titles it: service (type), from to to.
    let title = format!("{} ({PROFILE_TYPE}), {from} to {to}", profile.service);
    let svg = std::thread::spawn(move || augur_profile::render::svg(&profile, &title))
        .join()
        .expect("the renderer's thread")
        .expect("rendering the flame graph");
    check("flame.svg", &svg);
}

#[test]
fn speedscope_download_matches_its_golden_file() {
    let profile = fixture();
    let (from, to) = range(&profile);
    // As the API names and weighs it: CPU samples in nanoseconds.
    let name = format!("{} {PROFILE_TYPE} {from} to {to}", profile.service);
    let speedscope = augur_profile::render::speedscope(
        "augur",
        &name,
        "nanoseconds",
        &profile.folded_stacks(),
        profile.period,
    );
    let json = serde_json::to_vec(&speedscope).expect("serializing speedscope");
    check("profile.speedscope.json", &json);
}
