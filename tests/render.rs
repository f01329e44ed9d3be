//! Pictures: overlays against pytorch-grad-cam's show_cam_on_image, exports, batch, eval-loc.

mod common;

use camscope::engine::render::{caption_height, overlay_on_photo, show_cam_on_image};
use camscope::engine::{Colormap, InputMapping, Map, OverlayStyle};
use common::*;
use serde_json::Value;

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

#[test]
fn explain_out_writes_the_photo_size_plus_caption() {
    let dir = temp_dir();
    let out = dir.path().join("a.png");
    let (ok, stdout, err) = camscope(&[
        "explain",
        "--image",
        asset("rocket.jpg").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threshold",
        "0.3",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["threshold"], 0.3);
    let photo = image::open(asset("rocket.jpg")).unwrap();
    let png = image::open(&out).unwrap();
    assert_eq!(
        (png.width(), png.height()),
        (
            photo.width(),
            photo.height() + caption_height(photo.width())
        )
    );
    // The box is in photo pixels, inside the photo.
    let b: Vec<i64> = serde_json::from_value(v["boxes"][0].clone()).unwrap();
    assert!(b[0] < b[2] && b[1] < b[3]);
    assert!(b[2] <= photo.width() as i64 && b[3] <= photo.height() as i64);
    // No temporary files left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn compare_writes_one_pane_per_method_and_explains_missing_cam() {
    let dir = temp_dir();
    let out = dir.path().join("grid.png");
    let vgg = fixture("vgg/model.safetensors");
    let (ok, stdout, err) = camscope(&[
        "compare",
        "--model",
        vgg.to_str().unwrap(),
        "--image",
        asset("coffee.png").to_str().unwrap(),
        "--methods",
        "cam,gradcam,guided-gradcam",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("cam: CAM is not available"), "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let panes = v["panes"].as_array().unwrap();
    assert_eq!(panes.len(), 3);
    assert!(
        panes[0]["error"]
            .as_str()
            .unwrap()
            .contains("fully connected")
    );
    assert!(panes[1]["boxes"].is_array());
    let png = image::open(&out).unwrap();
    let photo = image::open(asset("coffee.png")).unwrap();
    // Three photo-sized panes side by side with gaps, under titles, above a caption.
    let w = photo.width();
    assert!(
        png.width() > 3 * w && png.width() < 3 * w + 40,
        "{}",
        png.width()
    );
    assert!(png.height() > photo.height() + caption_height(photo.width()));
}

#[test]
fn batch_carries_on_past_a_corrupt_file() {
    let dir = temp_dir();
    let images = dir.path().join("in");
    std::fs::create_dir(&images).unwrap();
    std::fs::copy(asset("chelsea.png"), images.join("cat.png")).unwrap();
    std::fs::copy(asset("coffee.png"), images.join("cup.png")).unwrap();
    std::fs::write(
        images.join("broken.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    std::fs::write(images.join("notes.txt"), b"ignored: not an image extension").unwrap();
    let out = dir.path().join("out");
    let (ok, _, err) = camscope(&[
        "batch",
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "a failed file makes the exit code non-zero");
    assert!(
        err.contains("[1/3]") && err.contains("broken.jpg: FAILED"),
        "{err}"
    );
    assert!(err.contains("2 explained, 1 failed"), "{err}");
    assert!(!err.contains("panicked"));
    for f in [
        "cat.gradcam.png",
        "cup.gradcam.png",
        "summary.csv",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "file,class,label,probability,x0,y0,x1,y1,output");
    assert_eq!(lines.len(), 3);
    assert!(
        lines[2].starts_with("cup.png,967,espresso,"),
        "{}",
        lines[2]
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["results"].as_array().unwrap().len(), 2);
    assert!(
        json["failed"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("broken.jpg")
    );
    let png = image::open(out.join("cat.gradcam.png")).unwrap();
    assert_eq!(png.width(), 451);
}

#[test]
fn eval_loc_reports_every_metric() {
    let dir = temp_dir();
    let ds = dir.path();
    std::fs::copy(asset("chelsea.png"), ds.join("chelsea.png")).unwrap();
    std::fs::copy(asset("coffee.png"), ds.join("coffee.png")).unwrap();
    // Hand-drawn boxes: the cat's head; the cup (two rows: two boxes for one image).
    std::fs::write(
        ds.join("boxes.csv"),
        "file,class,x0,y0,x1,y1\nchelsea.png,281,120,20,400,300\ncoffee.png,967,60,40,520,360\ncoffee.png,967,0,0,10,10\n",
    )
    .unwrap();
    let (ok, stdout, err) = camscope(&["eval-loc", "--dataset", ds.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    for m in ["cam", "gradcam"] {
        let r = &v["metrics"][m];
        assert_eq!(r["images"], 2);
        let f = |k: &str| r[k].as_f64().unwrap();
        // coffee is right (967); chelsea's top-1 is a cat class but not necessarily 281.
        assert!(f("accuracy") >= 50.0);
        assert!(f("top1_loc") <= f("gt_known_loc"));
        assert!(f("gt_known_loc") <= 100.0);
        assert!(
            f("max_box_acc") >= f("gt_known_loc"),
            "{m}: the sweep includes τ = 0.2"
        );
        assert!((0.0..=100.0).contains(&f("max_box_acc_v2")));
    }
    let (ok, table, _) = camscope(&["eval-loc", "--dataset", ds.to_str().unwrap()]);
    assert!(ok);
    assert!(table.contains("MaxBoxAccV2") && table.contains("gradcam"));
}
