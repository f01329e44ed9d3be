//! Image bytes → decode (any supported format, EXIF orientation) → ImageNet preprocessing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camscope::engine::fuzz::image_preprocess(data));
