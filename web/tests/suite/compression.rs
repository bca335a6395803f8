//! Compressed answers: zstd and gzip by `Accept-Encoding` decode to the
//! very bytes of the uncompressed answer, for the API, the page and its
//! assets; pprof downloads stay as they are (gzip already).

use std::io::Read;

use super::client::request_with;
use super::fixture::Server;

/// What `encoding` makes of `body`, decoded again.
fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        "zstd" => out = zstd::decode_all(body).expect("valid zstd"),
        other => panic!("unexpected encoding {other}"),
    }
    out
}

#[tokio::test]
async fn zstd_and_gzip_answers_decode_to_the_uncompressed_bytes() {
    let server = Server::start().await;
    let targets = [
        "/api/v1/services",
        "/api/v1/profile?service=checkout&from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z",
        "/api/v1/profile?service=checkout&from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z&format=tree",
        "/api/v1/profile?service=checkout&from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z&format=svg",
        "/",
        "/assets/main.js",
        "/assets/style.css",
    ];
    for target in targets {
        let plain = request_with(server.address, "GET", target, &[]).await;
        assert_eq!(plain.status, 200, "{target}: {}", plain.status);
        assert_eq!(plain.header("content-encoding"), None, "{target}");
        assert!(plain.body.len() > 100, "{target}: a body worth compressing");
        for encoding in ["zstd", "gzip"] {
            let packed = request_with(
                server.address,
                "GET",
                target,
                &[("Accept-Encoding", encoding)],
            )
            .await;
            assert_eq!(packed.status, 200, "{target} {encoding}");
            assert_eq!(
                packed.header("content-encoding"),
                Some(encoding),
                "{target}"
            );
            assert!(
                packed.body.len() < plain.body.len(),
                "{target} {encoding}: {} bytes, plain {}",
                packed.body.len(),
                plain.body.len()
            );
            assert_eq!(
                decode(encoding, &packed.body),
                plain.body,
                "{target} {encoding}"
            );
        }
    }
    // A pprof download is gzip already: sent as it is.
    let pprof = request_with(
        server.address,
        "GET",
        "/api/v1/profile?service=checkout&from=2026-11-24T14:00:00Z&to=2026-11-24T14:02:00Z&format=pprof",
        &[("Accept-Encoding", "zstd, gzip")],
    )
    .await;
    assert_eq!(pprof.status, 200);
    assert_eq!(pprof.header("content-encoding"), None);
    assert_eq!(&pprof.body[..2], &[0x1f, 0x8b], "the download is gzip");
    server.stop().await.unwrap();
}
