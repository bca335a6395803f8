//! Agent benchmark (being written).
fn main() {}
