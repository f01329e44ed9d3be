//! `.npy` bytes → the float32 array reader.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camscope::engine::fuzz::npy(data));
