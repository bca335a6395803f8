//! pprof encoding (being written).
