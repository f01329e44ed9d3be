//! eval-loc's `boxes.csv` reader.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camscope::engine::fuzz::boxes_csv(data));
