//! Pictures: overlays against pytorch-grad-cam's show_cam_on_image, the crop's dimming.

use crate::common::*;
use camscope::engine::render::{overlay_on_photo, show_cam_on_image};
use camscope::engine::{Colormap, InputMapping, Map, OverlayStyle};

fn golden_inputs() -> (image::RgbImage, Map) {
    let photo = image::open(fixture("overlay/photo.png")).unwrap().to_rgb8();
    let m = npy("overlay/mask.npy");
    (photo, Map::new(m.shape[1], m.shape[0], m.data))
}

/// Largest per-channel difference between two images of one size.
fn max_diff(a: &image::RgbImage, b: &image::RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

/// Golden images from pytorch-grad-cam 1.5.7 (make_fixtures.py, `overlay_golden`): equal up to
/// one level where float rounding lands on the other side of a uint8 truncation.
#[test]
fn overlay_matches_show_cam_on_image() {
    let (photo, mask) = golden_inputs();
    for w in [0.5, 0.3] {
        let golden = image::open(fixture(&format!("overlay/show_cam_on_image_{w}.png")))
            .unwrap()
            .to_rgb8();
        let ours = show_cam_on_image(&photo, &mask, Colormap::Jet, w);
        assert!(max_diff(&ours, &golden) <= 1, "weight {w}");
        // Drawing on the photo through an identity mapping is the same picture.
        let mapping = InputMapping::identity(photo.width(), photo.height());
        let style = OverlayStyle {
            image_weight: w,
            ..OverlayStyle::default()
        };
        let on_photo = overlay_on_photo(&photo, &mask, &mapping, &style);
        assert!(max_diff(&on_photo, &golden) <= 1, "on photo, weight {w}");
    }
}

#[test]
fn outside_the_crop_is_dimmed() {
    let (photo, mask) = golden_inputs();
    // The map covers the central 64×64 of the 128×96 photo (no scaling).
    let mapping = InputMapping {
        original: (128, 96),
        resized: (128, 96),
        crop_origin: (32, 16),
        input: (64, 64),
    };
    let small = mask.resized(64, 64);
    let out = overlay_on_photo(&photo, &small, &mapping, &OverlayStyle::default());
    let p = photo.get_pixel(5, 5).0;
    let o = out.get_pixel(5, 5).0;
    for c in 0..3 {
        assert_eq!(o[c], (p[c] as f32 / 255.0 * 0.35 * 255.0) as u8);
    }
    assert_ne!(out.get_pixel(64, 48), photo.get_pixel(64, 48));
}
