//! Integration tests of the symbolizer on fixtures compiled at test time.

mod suite;
