//! Every error path gives a message naming the file / tensor / layer, a non-zero exit, no panic.

use std::collections::HashMap;

use crate::common::*;
use candle_core::{DType, Device, Tensor};

fn fixture_tensors(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(&format!("{name}/model.safetensors")), &Device::Cpu)
        .unwrap()
}

fn save(dir: &tempfile::TempDir, file: &str, t: &HashMap<String, Tensor>) -> String {
    let p = dir.path().join(file);
    candle_core::safetensors::save(t, &p).unwrap();
    p.display().to_string()
}

/// Runs the CLI, expects failure, and returns stderr after checking it is a clean message.
fn fails(args: &[&str]) -> String {
    let (ok, stdout, stderr) = camscope(args);
    assert!(!ok, "expected failure: {args:?}\nstdout: {stdout}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.starts_with("camscope: error: "), "{stderr}");
    stderr
}

fn input(name: &str) -> String {
    fixture(&format!("{name}/input.npy")).display().to_string()
}

#[test]
fn missing_tensor_is_named() {
    let dir = temp_dir();
    let mut t = fixture_tensors("resnet_basic");
    t.remove("layer2.0.bn1.running_var");
    let m = save(&dir, "m.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(
        err.contains("m.safetensors: missing tensor layer2.0.bn1.running_var"),
        "{err}"
    );
}

#[test]
fn wrong_shape_names_expected_and_found() {
    let dir = temp_dir();
    let mut t = fixture_tensors("resnet_basic");
    t.insert(
        "layer3.0.conv2.weight".into(),
        Tensor::zeros((24, 12, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    let m = save(&dir, "m.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(
        err.contains("layer3.0.conv2.weight: expected [24, 24, 3, 3], found [24, 12, 3, 3]"),
        "{err}"
    );
}

#[test]
fn unknown_layout_lists_what_it_found() {
    let dir = temp_dir();
    let mut t = HashMap::new();
    t.insert(
        "encoder.weight".to_owned(),
        Tensor::zeros((4, 4), DType::F32, &Device::Cpu).unwrap(),
    );
    let m = save(&dir, "odd.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(
        err.contains("odd.safetensors: unknown model layout"),
        "{err}"
    );
    assert!(err.contains("encoder.weight"), "{err}");
}

#[test]
fn not_a_safetensors_file() {
    let dir = temp_dir();
    let p = dir.path().join("junk.safetensors");
    std::fs::write(&p, b"definitely not safetensors").unwrap();
    let err = fails(&["layers", "--model", p.to_str().unwrap()]);
    assert!(
        err.contains("junk.safetensors: not a valid .safetensors file"),
        "{err}"
    );
    let err = fails(&["layers", "--model", "/nonexistent/model.safetensors"]);
    assert!(
        err.contains("/nonexistent/model.safetensors: cannot read"),
        "{err}"
    );
}

#[test]
fn unknown_layer_lists_the_layers() {
    let m = fixture("resnet_basic/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        &input("resnet_basic"),
        "--layer",
        "layer9",
    ]);
    assert!(err.contains("unknown layer \"layer9\""), "{err}");
    assert!(err.contains("layer4.0"), "{err}");
}

#[test]
fn class_out_of_range() {
    let m = fixture("resnet_basic/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        &input("resnet_basic"),
        "--class",
        "10",
    ]);
    assert!(
        err.contains("class 10 is out of range: the model has 10 classes"),
        "{err}"
    );
}

#[test]
fn cam_on_fully_connected_head_says_why() {
    let m = fixture("vgg/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        &input("vgg"),
        "--method",
        "cam",
    ]);
    assert!(err.contains("CAM is not available"), "{err}");
    assert!(err.contains("fully connected"), "{err}");
}

#[test]
fn cam_at_another_layer_points_to_grad_cam() {
    let m = fixture("resnet_basic/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        &input("resnet_basic"),
        "--method",
        "cam",
        "--layer",
        "layer3",
    ]);
    assert!(err.contains("not at layer3"), "{err}");
}

#[test]
fn unreadable_and_truncated_images() {
    let dir = temp_dir();
    let err = fails(&["explain", "--image", "/nonexistent/photo.jpg"]);
    assert!(err.contains("/nonexistent/photo.jpg: cannot read"), "{err}");

    let junk = dir.path().join("notes.png");
    std::fs::write(&junk, b"hello, this is text").unwrap();
    let err = fails(&["explain", "--image", junk.to_str().unwrap()]);
    assert!(err.contains("notes.png: cannot decode"), "{err}");

    let noext = dir.path().join("notes");
    std::fs::write(&noext, b"hello, this is text").unwrap();
    let err = fails(&["explain", "--image", noext.to_str().unwrap()]);
    assert!(err.contains("notes: not a supported image"), "{err}");

    let png = std::fs::read(asset("chelsea.png")).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &png[..png.len() / 2]).unwrap();
    let err = fails(&["explain", "--image", cut.to_str().unwrap()]);
    assert!(err.contains("cut.png: cannot decode"), "{err}");
}

#[test]
fn malformed_npy() {
    let dir = temp_dir();
    let p = dir.path().join("x.npy");
    std::fs::write(&p, b"\x93NUMPY\x01\x00garbage").unwrap();
    let m = fixture("resnet_basic/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        p.to_str().unwrap(),
    ]);
    assert!(err.contains("x.npy: not a usable .npy file"), "{err}");

    // Well-formed, wrong shape.
    camscope::engine::Array::new(vec![2, 2], vec![0.; 4])
        .write_npy(&p)
        .unwrap();
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        p.to_str().unwrap(),
    ]);
    assert!(
        err.contains("expected shape (1, 3, H, W) or (3, H, W), found [2, 2]"),
        "{err}"
    );
}

#[test]
fn labels_file_must_match_the_head() {
    let dir = temp_dir();
    let p = dir.path().join("labels.txt");
    std::fs::write(&p, "a\nb\n").unwrap();
    let m = fixture("resnet_basic/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        &input("resnet_basic"),
        "--labels",
        p.to_str().unwrap(),
    ]);
    assert!(
        err.contains("labels.txt: has 2 names, the model has 10 classes"),
        "{err}"
    );
}

/// Regression: `explain --image in.png --out in.png` replaced the photo with the render; the
/// same for `--save-map` naming the `--input-npy`, `compare --out` naming the image, and two
/// outputs naming one file. Now refused before anything is read or written.
#[test]
fn no_command_writes_over_its_own_input() {
    let dir = temp_dir();
    let photo = dir.path().join("in.png");
    std::fs::copy(asset("coffee.png"), &photo).unwrap();
    let before = std::fs::read(&photo).unwrap();
    let p = photo.to_str().unwrap();
    let err = fails(&["explain", "--image", p, "--out", p]);
    assert!(
        err.contains("--out names the same file as --image"),
        "{err}"
    );
    // Through another spelling of the same path.
    let other = format!("{}/./in.png", dir.path().display());
    let err = fails(&["compare", "--image", p, "--out", &other]);
    assert!(err.contains("refusing to write over an input"), "{err}");
    assert_eq!(
        std::fs::read(&photo).unwrap(),
        before,
        "the photo is untouched"
    );

    let x = dir.path().join("x.npy");
    std::fs::copy(fixture("resnet_basic/input.npy"), &x).unwrap();
    let xs = x.to_str().unwrap();
    let m = fixture("resnet_basic/model.safetensors");
    let ms = m.to_str().unwrap();
    let err = fails(&[
        "explain",
        "--model",
        ms,
        "--input-npy",
        xs,
        "--save-map",
        xs,
    ]);
    assert!(
        err.contains("--save-map names the same file as --input-npy"),
        "{err}"
    );
    let err = fails(&[
        "explain",
        "--model",
        ms,
        "--input-npy",
        xs,
        "--save-raw",
        ms,
    ]);
    assert!(
        err.contains("--save-raw names the same file as --model"),
        "{err}"
    );
    let y = dir.path().join("y.npy");
    let ys = y.to_str().unwrap();
    let err = fails(&[
        "explain",
        "--model",
        ms,
        "--input-npy",
        xs,
        "--save-raw",
        ys,
        "--save-map",
        ys,
    ]);
    assert!(
        err.contains("--save-raw and --save-map name the same file"),
        "{err}"
    );
    assert!(!y.exists());
}

/// batch into its own image folder never replaces an input: an image already named like an
/// output is skipped with a message, the others are processed.
#[test]
fn batch_into_the_image_folder_keeps_every_input() {
    let dir = temp_dir();
    std::fs::copy(asset("coffee.png"), dir.path().join("cup.png")).unwrap();
    std::fs::copy(asset("chelsea.png"), dir.path().join("cup.gradcam.png")).unwrap();
    let before = std::fs::read(dir.path().join("cup.gradcam.png")).unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, _, err) = camscope_code(&["batch", "--images", d, "--out", d]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("would replace an input image"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("cup.gradcam.png")).unwrap(),
        before
    );
    assert!(dir.path().join("cup.gradcam.gradcam.png").is_file());
}

/// Regression: a head with 0 classes loaded, then explain / compare / batch panicked on an
/// empty prediction list.
#[test]
fn a_head_without_classes_is_refused() {
    let dir = temp_dir();
    let mut t = fixture_tensors("resnet_basic");
    t.insert(
        "fc.weight".into(),
        Tensor::zeros((0, 32), DType::F32, &Device::Cpu).unwrap(),
    );
    t.insert(
        "fc.bias".into(),
        Tensor::zeros(0, DType::F32, &Device::Cpu).unwrap(),
    );
    let m = save(&dir, "empty.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(
        err.contains("empty.safetensors") && err.contains("no classes"),
        "{err}"
    );
    let err = fails(&[
        "explain",
        "--model",
        &m,
        "--input-npy",
        &input("resnet_basic"),
    ]);
    assert!(err.contains("no classes"), "{err}");
}

/// Regression: a `.npy` header whose shape product overflows panicked ("capacity overflow").
#[test]
fn npy_shape_that_overflows_is_an_error() {
    let dir = temp_dir();
    let p = dir.path().join("huge.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let text = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend((text.len() as u16).to_le_bytes());
    bytes.extend(text.as_bytes());
    bytes.extend([0u8; 16]);
    std::fs::write(&p, bytes).unwrap();
    let m = fixture("resnet_basic/model.safetensors");
    let err = fails(&[
        "explain",
        "--model",
        m.to_str().unwrap(),
        "--input-npy",
        p.to_str().unwrap(),
    ]);
    assert!(
        err.contains("huge.npy") && err.contains("too large"),
        "{err}"
    );
}

/// Regression: a NaN logit (a NaN bias here) was ranked top-1 above finite logits.
#[test]
fn a_nan_logit_is_ranked_last() {
    let dir = temp_dir();
    let mut t = fixture_tensors("resnet_basic");
    let mut bias = t["fc.bias"]
        .to_dtype(DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    bias[4] = f32::NAN;
    let n = bias.len();
    t.insert(
        "fc.bias".into(),
        Tensor::from_vec(bias, n, &Device::Cpu).unwrap(),
    );
    let m = save(&dir, "nan.safetensors", &t);
    let (ok, out, err) = camscope(&[
        "explain",
        "--model",
        &m,
        "--input-npy",
        &input("resnet_basic"),
        "--top-k",
        "10",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_ne!(v["class"], 4, "the NaN class is not top-1");
    let top = v["top_k"].as_array().unwrap();
    assert_eq!(top.last().unwrap()["class"], 4, "the NaN class comes last");
}

/// Regression: `--class -1` and `--threshold -1` got clap's "unexpected argument '-1'"
/// instead of saying what a valid value is.
#[test]
fn negative_numbers_get_the_range_message() {
    let x = input("resnet_basic");
    let m = fixture("resnet_basic/model.safetensors");
    let m = m.to_str().unwrap();
    let (ok, _, err) = camscope(&["explain", "--model", m, "--input-npy", &x, "--class", "-1"]);
    assert!(!ok && err.contains("not a class index"), "{err}");
    let err = fails(&[
        "explain",
        "--model",
        m,
        "--input-npy",
        &x,
        "--threshold",
        "-1",
    ]);
    assert!(
        err.contains("--threshold must be in [0, 1], got -1"),
        "{err}"
    );
}

/// Regression: eval-loc accepted inverted, negative and NaN boxes and `--threshold 2`.
#[test]
fn eval_loc_validates_boxes_and_threshold_naming_the_line() {
    let dir = temp_dir();
    std::fs::copy(asset("coffee.png"), dir.path().join("cup.png")).unwrap();
    let d = dir.path().to_str().unwrap();
    for (row, why) in [
        ("cup.png,967,300,20,100,200", "empty or inverted"),
        ("cup.png,967,-5,20,100,200", "negative"),
        ("cup.png,967,NaN,20,100,200", "not finite"),
    ] {
        std::fs::write(
            dir.path().join("boxes.csv"),
            format!("file,class,x0,y0,x1,y1\n{row}\n"),
        )
        .unwrap();
        let err = fails(&["eval-loc", "--dataset", d]);
        assert!(err.contains("boxes.csv:2:") && err.contains(why), "{err}");
    }
    let err = fails(&["eval-loc", "--dataset", d, "--threshold", "2"]);
    assert!(
        err.contains("--threshold must be in [0, 1], got 2"),
        "{err}"
    );
}

/// `camscope view` (and `camscope IMG`) opens the app on a photo; a missing file is an
/// error naming it, before any window opens.
#[test]
fn view_names_a_missing_file() {
    let err = fails(&["view", "no-such-photo.png"]);
    assert!(err.contains("no-such-photo.png: no such file"), "{err}");
    let err = fails(&["view", "--model", "gone.safetensors"]);
    assert!(err.contains("gone.safetensors: no such file"), "{err}");
}

/// Regression: a checkpoint with tensors the assumed network lacks loaded anyway and explained
/// with exit 0 — a timm SE-ResNet as a plain ResNet (its `se.fc1/fc2` ignored, logits far off
/// PyTorch's; SE is modelled now, ECA stands in for an unknown part), a ResNet missing a block's `conv1.weight` as a smaller network, and the same
/// tensor stored as an integer. Now every tensor is used or the checkpoint is refused.
#[test]
fn a_checkpoint_is_used_whole_or_refused() {
    let dir = temp_dir();
    let mut t = fixture_tensors("resnet_basic");
    // ECA attention (timm's ecaresnet*: a 1-D convolution across channels) is not modelled;
    // squeeze-and-excitation (se.fc1/fc2) is, since the formats issue.
    for name in ["layer1.0.se.conv.weight", "layer2.0.se.conv.weight"] {
        t.insert(
            name.into(),
            Tensor::zeros((1, 1, 3), DType::F32, &Device::Cpu).unwrap(),
        );
    }
    let m = save(&dir, "eca.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(
        err.contains("eca.safetensors")
            && err.contains("2 of its tensors are not part of that network")
            && err.contains("layer1.0.se.conv.weight"),
        "{err}"
    );
    // Half of an SE module is a missing tensor, named.
    let mut t = fixture_tensors("resnet_basic");
    t.insert(
        "layer1.0.se.fc1.weight".into(),
        Tensor::zeros((8, 8, 1, 1), DType::F32, &Device::Cpu).unwrap(),
    );
    let m = save(&dir, "half_se.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(err.contains("missing tensor layer1.0.se.fc1.bias"), "{err}");

    // This fixture's stages have [2, 1, 2, 1] blocks: without its conv1, layer3.1 would
    // vanish and the network would silently shrink to [2, 1, 1, 1].
    let mut t = fixture_tensors("resnet_basic");
    t.remove("layer3.1.conv1.weight");
    let m = save(&dir, "partial.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(err.contains("layer3.1.bn1.bias"), "{err}");

    let mut t = fixture_tensors("resnet_basic");
    let w = t["layer3.1.conv1.weight"].clone();
    t.insert(
        "layer3.1.conv1.weight".into(),
        w.to_dtype(DType::U8).unwrap(),
    );
    let m = save(&dir, "int.safetensors", &t);
    let err = fails(&["layers", "--model", &m]);
    assert!(
        err.contains("layer3.1.conv1.weight: stored as U8, expected a float tensor"),
        "{err}"
    );
}

/// Regression: NaN weights gave `null` logits, a NaN class on top and a box drawn from
/// garbage; now a warning on stderr and in the JSON, and no box from a non-finite map.
#[test]
fn non_finite_weights_warn_and_draw_no_box() {
    let dir = temp_dir();
    let mut t = fixture_tensors("resnet_basic");
    let w = t["fc.weight"].to_dtype(DType::F32).unwrap();
    let nan = (w * f64::NAN).unwrap();
    t.insert("fc.weight".into(), nan);
    let m = save(&dir, "nan-fc.safetensors", &t);
    let (ok, out, err) = camscope(&[
        "explain",
        "--model",
        &m,
        "--input-npy",
        &input("resnet_basic"),
        "--method",
        "cam",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("camscope: warning:") && err.contains("NaN"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert!(warnings.len() >= 2, "{warnings:?}");
    assert_eq!(
        v["boxes"].as_array().unwrap().len(),
        0,
        "no box from a NaN map"
    );
}

/// Regression: a truncated JPEG was accepted silently (the decoder fills the missing part and
/// the box changes). It still opens, with a warning on stderr and in the JSON.
#[test]
fn a_truncated_jpeg_is_explained_with_a_warning() {
    let dir = temp_dir();
    let photo = image::open(asset("coffee.png")).unwrap().to_rgb8();
    let full = dir.path().join("full.jpg");
    photo.save(&full).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (ok, stdout, stderr) = camscope(&["explain", "--image", cut.to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("camscope: warning: ") && stderr.contains("cut.jpg: the JPEG ends early"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        v["warnings"][0].as_str().unwrap().contains("ends early"),
        "{v}"
    );
    let (ok, _, stderr) = camscope(&["explain", "--image", full.to_str().unwrap()]);
    assert!(ok && !stderr.contains("warning"), "{stderr}");
}
