//! Integration tests of `augur-web`: a real SQLite store in a temporary
//! directory, the real server on a loopback port, and plain HTTP/1.1 requests
//! against every endpoint. The cases live in `suite/`.

mod suite;
