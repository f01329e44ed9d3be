//! Decoding and torchvision-exact preprocessing.

use crate::common::*;
use camscope::engine::io::preprocess::load_image;
use camscope::engine::{InputMapping, Preprocess};
use candle_core::Device;

/// Against torchvision's Resize(256) → CenterCrop(224) → ToTensor → Normalize on a 301×203
/// photo: within one grey level (1/255/std ≈ 0.0175 after normalization).
#[test]
fn imagenet_preprocessing_matches_torchvision() {
    let photo = load_image(&fixture("preprocess_photo.png")).unwrap();
    let (x, m) = Preprocess::imagenet().apply(&photo, &Device::Cpu).unwrap();
    assert_eq!(x.dims(), [1, 3, 224, 224]);
    assert_eq!(
        m,
        InputMapping {
            original: (301, 203),
            resized: (379, 256),
            crop_origin: (78, 16),
            input: (224, 224),
        }
    );
    let got = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let want = npy("preprocess_reference.npy").data;
    let worst = got
        .iter()
        .zip(&want)
        .fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    assert!(
        worst <= 1.0 / 255.0 / 0.224 + 1e-5,
        "max difference {worst}"
    );
}

#[test]
fn exif_orientation_is_applied() {
    let img = load_image(&fixture("exif_rotated.jpg")).unwrap();
    assert_eq!(img.dimensions(), (20, 40));
    let top = img.get_pixel(10, 5);
    let bottom = img.get_pixel(10, 35);
    assert!(top[0] > 200 && top[2] < 60, "top {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "bottom {bottom:?}");
}

#[test]
fn gray_alpha_and_16_bit_become_rgb8() {
    let dir = temp_dir();
    let gray = image::GrayImage::from_pixel(5, 4, image::Luma([77]));
    let p = dir.path().join("gray.png");
    gray.save(&p).unwrap();
    let rgb = load_image(&p).unwrap();
    assert_eq!(rgb.get_pixel(0, 0).0, [77, 77, 77]);

    let rgba = image::RgbaImage::from_pixel(3, 3, image::Rgba([10, 20, 30, 0]));
    let p = dir.path().join("rgba.png");
    rgba.save(&p).unwrap();
    assert_eq!(load_image(&p).unwrap().get_pixel(1, 1).0, [10, 20, 30]);

    let deep =
        image::ImageBuffer::<image::Rgb<u16>, _>::from_pixel(3, 2, image::Rgb([65535, 0, 32896]));
    let p = dir.path().join("deep.png");
    deep.save(&p).unwrap();
    assert_eq!(load_image(&p).unwrap().get_pixel(2, 1).0, [255, 0, 128]);

    for (name, fmt) in [
        ("a.bmp", image::ImageFormat::Bmp),
        ("a.tiff", image::ImageFormat::Tiff),
        ("a.webp", image::ImageFormat::WebP),
    ] {
        let p = dir.path().join(name);
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
            .save_with_format(&p, fmt)
            .unwrap();
        assert_eq!(load_image(&p).unwrap().dimensions(), (4, 4), "{name}");
    }
}

#[test]
fn stretch_mode_maps_the_whole_photo() {
    let photo = load_image(&asset("rocket.jpg")).unwrap();
    let pre = Preprocess::imagenet().with_mode(camscope::engine::ResizeMode::Stretch { size: 224 });
    let (x, m) = pre.apply(&photo, &Device::Cpu).unwrap();
    assert_eq!(x.dims(), [1, 3, 224, 224]);
    let (w, h) = m.original_from_input(224.0, 224.0);
    assert_eq!((w, h), (photo.width() as f32, photo.height() as f32));
}

/// The worst difference between camscope's preprocessing of preprocess_photo.png for the model
/// in `dir` (with its metadata) and the library's own transform, in grey levels of the
/// narrowest std.
fn metadata_preprocess_error(dir: &str, reference: &str) -> f32 {
    let model =
        camscope::engine::Model::load(&fixture(&format!("{dir}/model.safetensors")), &Device::Cpu)
            .unwrap();
    let photo = load_image(&fixture("preprocess_photo.png")).unwrap();
    let (x, _) = model.preprocess.apply(&photo, &Device::Cpu).unwrap();
    let want = npy(&format!("{dir}/{reference}"));
    assert_eq!(x.dims(), want.shape.as_slice(), "{dir}: input shape");
    let got = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let std = model
        .preprocess
        .std
        .iter()
        .copied()
        .fold(f32::MAX, f32::min);
    got.iter()
        .zip(&want.data)
        .fold(0f32, |a, (g, w)| a.max((g - w).abs()))
        * std
        * 255.0
}

/// timm's eval transform from its `pretrained_cfg` (bicubic, crop_pct 0.95 → resize 235, crop
/// 224) via config.json: within 2 grey levels (PIL's bicubic rounds intermediate rows).
#[test]
fn timm_config_preprocessing_matches_timm_transform() {
    let worst = metadata_preprocess_error("timm_seresnet", "transform_input.npy");
    assert!(worst <= 2.0 + 1e-3, "max difference {worst} grey levels");
}

/// transformers' ConvNextImageProcessor (shortest edge 224 / crop_pct 0.875, bicubic, its own
/// mean and std) via preprocessor_config.json: within 2 grey levels.
#[test]
fn transformers_processor_preprocessing_matches_transformers() {
    let worst = metadata_preprocess_error("hf_resnet", "processor_input.npy");
    assert!(worst <= 2.0 + 1e-3, "max difference {worst} grey levels");
}

/// Only the crop is resampled (a 1 × 30000 photo must not become 256 × 7,680,000 first): the
/// result is byte for byte the whole photo resized, then cropped — for both filters, odd
/// margins and both crop-offset rules.
#[test]
fn resampling_only_the_crop_equals_resize_then_crop() {
    use camscope::engine::io::preprocess::{CropOffset, Interpolation, resize_with};
    let photo = load_image(&fixture("preprocess_photo.png")).unwrap();
    for interpolation in [Interpolation::Bilinear, Interpolation::Bicubic] {
        for crop_offset in [CropOffset::Round, CropOffset::Floor] {
            let pre = Preprocess {
                mode: camscope::engine::ResizeMode::CenterCrop {
                    resize: 173,
                    crop: 151,
                },
                mean: [0.0; 3],
                std: [1.0 / 255.0; 3],
                interpolation,
                crop_offset,
            };
            let (x, m) = pre.apply(&photo, &Device::Cpu).unwrap();
            let full = resize_with(&photo, m.resized.0, m.resized.1, interpolation).unwrap();
            let (x0, y0) = m.crop_origin;
            let (w, h) = m.input;
            let got = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for c in 0..3 {
                for y in 0..h {
                    for xx in 0..w {
                        let want = full.get_pixel(x0 + xx, y0 + y)[c as usize] as f32;
                        let g = got[((c * h + y) * w + xx) as usize];
                        assert!(
                            (g - want).abs() < 1e-3,
                            "{interpolation:?} {crop_offset:?} ({xx}, {y}, {c}): {g} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
