//! What the commands write: annotated PNGs, compare grids, batch folders, eval-loc reports.

use crate::common::*;
use camscope::engine::render::caption_height;
use serde_json::Value;

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
        // The cup's box covers most of its photo: its map's maximum is a hit.
        assert!(f("pointing_game") >= 50.0, "{m}: {r}");
    }
    // --faithfulness adds the mean deletion / insertion AUC per method.
    let (ok, stdout, err) = camscope(&[
        "eval-loc",
        "--dataset",
        ds.to_str().unwrap(),
        "--methods",
        "gradcam",
        "--faithfulness",
        "4",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let f = &v["faithfulness"]["mean"]["gradcam"];
    for k in ["deletion_auc", "insertion_auc"] {
        assert!((0.0..=1.0).contains(&f[k].as_f64().unwrap()), "{v}");
    }
    assert!(v["faithfulness"].is_object() && v["faithfulness"]["steps"] == 4);
    let (ok, table, _) = camscope(&["eval-loc", "--dataset", ds.to_str().unwrap()]);
    assert!(ok);
    assert!(
        table.contains("MaxBoxAccV2") && table.contains("pointing") && table.contains("gradcam")
    );
}

/// A partly failed batch has its own exit code (docs/cli.md), and the failure's message is
/// printed once (it used to be listed twice, once as it happened and once at the end).
#[test]
fn partly_failed_batch_exits_3_and_reports_the_message_once() {
    let dir = temp_dir();
    let images = dir.path().join("in");
    std::fs::create_dir(&images).unwrap();
    std::fs::copy(asset("coffee.png"), images.join("cup.png")).unwrap();
    std::fs::write(images.join("broken.png"), b"not a png").unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = camscope_code(&[
        "batch",
        "--images",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(err.matches("Invalid PNG signature").count(), 1, "{err}");
    assert!(out.join("cup.gradcam.png").is_file());
}

/// eval-loc carries on past an unreadable image and says so with the same exit code.
#[test]
fn eval_loc_with_a_missing_image_exits_3() {
    let dir = temp_dir();
    std::fs::copy(asset("coffee.png"), dir.path().join("cup.png")).unwrap();
    std::fs::write(
        dir.path().join("boxes.csv"),
        "file,class,x0,y0,x1,y1\ncup.png,967,100,20,450,300\ngone.png,967,0,0,10,10\n",
    )
    .unwrap();
    let (code, _, err) = camscope_code(&[
        "eval-loc",
        "--dataset",
        dir.path().to_str().unwrap(),
        "--methods",
        "gradcam",
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("gone.png: FAILED"), "{err}");
}

/// `compare --shared-scale` draws every pane on one colour scale: the grid differs from the
/// one where each pane has its own min–max, and has the same size.
#[test]
fn compare_with_a_shared_colour_scale() {
    let dir = temp_dir();
    let own = dir.path().join("own.png");
    let shared = dir.path().join("shared.png");
    let coffee = asset("coffee.png");
    for (out, flag) in [(&own, None), (&shared, Some("--shared-scale"))] {
        let mut args = vec![
            "compare",
            "--image",
            coffee.to_str().unwrap(),
            "--methods",
            "cam,gradcam,hirescam,guided-backprop",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(flag);
        let (ok, _, err) = camscope(&args);
        assert!(ok, "{err}");
    }
    let (a, b) = (
        image::open(&own).unwrap().to_rgb8(),
        image::open(&shared).unwrap().to_rgb8(),
    );
    assert_eq!(a.dimensions(), b.dimensions());
    assert_ne!(a, b);
}
