//! The CLI contract: subcommand and flag names, JSON fields, .npy outputs.

use crate::common::*;
use camscope::engine::Array;
use serde_json::Value;

fn model(name: &str) -> String {
    fixture(&format!("{name}/model.safetensors"))
        .display()
        .to_string()
}

#[test]
fn layers_json_lists_blocks_stages_and_default() {
    let (ok, out, err) = camscope(&["layers", "--model", &model("resnet_basic"), "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["default_layer"], "layer4");
    let layers = v["layers"].as_array().unwrap();
    let find = |n: &str| layers.iter().find(|l| l["name"] == n).cloned();
    let l4 = find("layer4").expect("layer4 listed");
    assert_eq!(l4["alias_of"], "layer4.0");
    assert_eq!(l4["shape"], serde_json::json!([32, 7, 7]));
    assert_eq!(l4["default"], true);
    assert!(find("layer1.1").is_some() && find("maxpool").is_some());
}

#[test]
fn vgg_layers_are_torchvision_module_paths() {
    let (ok, out, err) = camscope(&["layers", "--model", &model("vgg_bn"), "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["default_layer"], "features.20");
    let names: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    for want in [
        "features.0",
        "features.1",
        "features.21",
        "avgpool",
        "classifier.6",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert_eq!(v["cam"], Value::Null);
}

#[test]
fn explain_json_has_the_contract_fields_and_writes_npy() {
    let dir = temp_dir();
    let raw = dir.path().join("raw.npy");
    let map = dir.path().join("map.npy");
    let input = fixture("resnet_bottleneck/input.npy");
    let (ok, out, err) = camscope(&[
        "explain",
        "--model",
        &model("resnet_bottleneck"),
        "--input-npy",
        input.to_str().unwrap(),
        "--method",
        "gradcam",
        "--layer",
        "layer3",
        "--class",
        "4",
        "--top-k",
        "3",
        "--save-raw",
        raw.to_str().unwrap(),
        "--save-map",
        map.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("exactly one JSON object");
    for key in [
        "architecture",
        "layer",
        "layer_shape",
        "method",
        "class",
        "label",
        "logit",
        "probability",
        "top_k",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["layer"], "layer3");
    assert_eq!(v["method"], "gradcam");
    assert_eq!(v["class"], 4);
    assert_eq!(v["label"], "class 4");
    assert_eq!(v["top_k"].as_array().unwrap().len(), 3);
    let shape: Vec<usize> = serde_json::from_value(v["layer_shape"].clone()).unwrap();
    let raw = Array::read_npy(&raw).unwrap();
    assert_eq!(raw.shape, shape[1..]);
    let map = Array::read_npy(&map).unwrap();
    assert_eq!(map.shape, [112, 112]);
    assert!(map.data.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn explain_defaults_to_top1_and_the_last_block() {
    let input = fixture("resnet_basic/input.npy");
    let logits = npy("resnet_basic/logits.npy").data;
    let top1 = (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap();
    let (ok, out, err) = camscope(&[
        "explain",
        "--model",
        &model("resnet_basic"),
        "--input-npy",
        input.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["class"], top1);
    assert_eq!(v["layer"], "layer4");
    assert_eq!(v["top_k"][0]["class"], top1);
    let p = v["top_k"][0]["probability"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0);
}

#[test]
fn guided_backprop_raw_is_input_sized() {
    let dir = temp_dir();
    let raw = dir.path().join("gb.npy");
    let input = fixture("vgg/input.npy");
    let (ok, out, err) = camscope(&[
        "explain",
        "--model",
        &model("vgg"),
        "--input-npy",
        input.to_str().unwrap(),
        "--method",
        "guided-backprop",
        "--save-raw",
        raw.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["layer"], "input");
    assert_eq!(Array::read_npy(&raw).unwrap().shape, [3, 80, 80]);
}

/// `camscope layers … | head -3`: the reader goes away, camscope stops quietly (no panic,
/// exit 0), as ripgrep does.
#[test]
fn closed_stdout_ends_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_camscope"))
        .args(["layers", "--model", &model("resnet_basic")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the camscope binary runs");
    // Close the read end before camscope writes its first line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
}

/// Every method by its CLI name (a contract), with `--save-raw` writing the map before ReLU:
/// the layer's `(h, w)` for layer maps, `(3, H, W)` for input gradients; the raw map matches
/// the library reference the engine tests use.
#[test]
fn every_method_name_explains_and_saves_its_raw_map() {
    let dir = temp_dir();
    let input = fixture("vgg_gap/input.npy");
    for name in [
        "cam",
        "gradcam",
        "gradcam++",
        "xgradcam",
        "hirescam",
        "gradcam-elementwise",
        "layercam",
        "eigencam",
        "eigen-gradcam",
        "scorecam",
        "ablationcam",
        "guided-backprop",
        "guided-gradcam",
    ] {
        let raw = dir.path().join(format!("{name}.npy"));
        let (ok, out, err) = camscope(&[
            "explain",
            "--model",
            &model("vgg_gap"),
            "--input-npy",
            input.to_str().unwrap(),
            "--method",
            name,
            "--class",
            "2",
            "--save-raw",
            raw.to_str().unwrap(),
            "--json",
        ]);
        assert!(ok, "{name}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["method"], name);
        let raw = Array::read_npy(&raw).unwrap();
        let want_shape: Vec<usize> = if name.starts_with("guided") {
            vec![3, 64, 64]
        } else {
            vec![16, 16]
        };
        assert_eq!(raw.shape, want_shape, "{name}");
        if ![
            "cam",
            "guided-backprop",
            "guided-gradcam",
            "eigencam",
            "eigen-gradcam",
        ]
        .contains(&name)
        {
            let reference = npy(&format!("vgg_gap/methods/{name}_features.11.npy"));
            assert_close(name, &raw.data, &reference.data, 1e-3);
        }
    }
}

/// Several layers, smoothing and the perturbation options are flags of every explaining
/// command; a fused map's raw array is the fusion at input resolution.
#[test]
fn layer_fusion_smoothing_and_batch_flags() {
    let dir = temp_dir();
    let raw = dir.path().join("fused.npy");
    let input = fixture("resnet_basic/input.npy");
    let (ok, out, err) = camscope(&[
        "explain",
        "--model",
        &model("resnet_basic"),
        "--input-npy",
        input.to_str().unwrap(),
        "--method",
        "layercam",
        "--layer",
        "layer4,layer3",
        "--fuse",
        "max",
        "--aug-smooth",
        "--eigen-smooth",
        "--save-raw",
        raw.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["layer"], "layer4,layer3");
    assert_eq!(Array::read_npy(&raw).unwrap().shape, [112, 112]);
    let (ok, _, err) = camscope(&[
        "explain",
        "--model",
        &model("resnet_basic"),
        "--input-npy",
        input.to_str().unwrap(),
        "--method",
        "scorecam",
        "--batch-size",
        "5",
        "--top-channels",
        "7",
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = camscope(&[
        "explain",
        "--model",
        &model("resnet_basic"),
        "--input-npy",
        input.to_str().unwrap(),
        "--top-channels",
        "0",
    ]);
    assert!(!ok && err.contains("--top-channels"), "{err}");
    let (ok, _, err) = camscope(&[
        "explain",
        "--model",
        &model("resnet_basic"),
        "--input-npy",
        input.to_str().unwrap(),
        "--method",
        "guided-gradcam",
        "--layer",
        "layer4,layer3",
    ]);
    assert!(!ok && err.contains("several layers"), "{err}");
}

/// `camscope metrics --json`: one object, a row per method with both curves (steps + 1
/// points, the first deletion point the input's probability of the class) and their areas.
#[test]
fn metrics_json_has_curves_and_areas_per_method() {
    let img = asset("coffee.png").display().to_string();
    let (ok, stdout, stderr) = camscope(&[
        "metrics",
        "--image",
        &img,
        "--methods",
        "gradcam,cam",
        "--steps",
        "4",
        "--baseline",
        "zero",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["class"], 967);
    assert_eq!(v["baseline"], "zero");
    let rows = v["methods"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (_, explain, _) = camscope(&["explain", "--image", &img, "--json"]);
    let p: f64 = serde_json::from_str::<serde_json::Value>(&explain).unwrap()["probability"]
        .as_f64()
        .unwrap();
    for r in rows {
        let del = r["deletion"]["scores"].as_array().unwrap();
        assert_eq!(del.len(), 5);
        assert!((del[0].as_f64().unwrap() - p).abs() < 1e-5, "{r}");
        let ins = r["insertion"]["scores"].as_array().unwrap();
        assert!((ins[4].as_f64().unwrap() - p).abs() < 1e-5, "{r}");
        let a = r["deletion_auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a));
        assert_eq!(r["road"]["morf"].as_array().unwrap().len(), 9);
        assert!(r["road_combined"].as_f64().unwrap().abs() <= 1.0);
    }
    // On a GAP + linear head at the last block, CAM and Grad-CAM give the same map.
    assert_eq!(rows[0]["deletion_auc"], rows[1]["deletion_auc"]);
    let (code, _, err) = camscope_code(&["metrics", "--image", &img, "--steps", "0"]);
    assert_eq!(code, Some(2), "{err}");

    // --plot draws both panels of every method into one PNG, and never over an input.
    let dir = temp_dir();
    let plot = dir.path().join("curves.png");
    let (ok, _, err) = camscope(&[
        "metrics",
        "--image",
        &img,
        "--steps",
        "3",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let png = image::open(&plot).unwrap();
    assert_eq!((png.width(), png.height()), (1040, 408));
    let (ok, _, err) = camscope(&["metrics", "--image", &img, "--plot", &img]);
    assert!(!ok && err.contains("--image"), "{err}");
}
