//! A `.safetensors` file → layout inference → model → one forward pass at its input size.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camscope::engine::fuzz::safetensors_model(data));
