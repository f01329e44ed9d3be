//! The engine against independent references: PyTorch and pytorch-grad-cam parity, the
//! built-in model, preprocessing, rendering. One test binary (each `tests/*.rs` file links
//! the whole crate again).

#[path = "../common/mod.rs"]
mod common;

mod builtin;
mod faithfulness;
mod fuzz_regressions;
mod methods;
mod parity;
mod preprocess;
mod render;
mod zoo;
