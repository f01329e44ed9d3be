//! The binary as scripts use it: the CLI contract, every error path, what the commands write.
//! One test binary (each `tests/*.rs` file links the whole crate again).

#[path = "../common/mod.rs"]
mod common;

mod contract;
mod corpus;
mod errors;
mod exports;
mod formats;
mod report;
mod scale;
