//! The storage crate's integration tests, against real SQLite files in
//! temporary directories. The cases live in `suite/`.

mod suite;
