//! End-to-end tests: the real `augur` binary, real eBPF, real SQLite files,
//! real gRPC and HTTP, and Go's real pprof.

mod suite;
