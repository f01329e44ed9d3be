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
