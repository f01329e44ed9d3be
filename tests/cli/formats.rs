//! Checkpoints from timm and transformers with the metadata their libraries write: class names
//! and preprocessing from it, overrides from the command line, refusals that name the file.

use crate::common::*;

fn json(args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = camscope(args);
    assert!(ok, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn model(name: &str) -> String {
    fixture(&format!("{name}/model.safetensors"))
        .display()
        .to_string()
}

/// Copies a fixture's weights (and the named metadata files) into a fresh folder.
fn copy_of(name: &str, files: &[&str]) -> (tempfile::TempDir, String) {
    let dir = temp_dir();
    for f in ["model.safetensors"].iter().chain(files) {
        std::fs::copy(fixture(&format!("{name}/{f}")), dir.path().join(f)).unwrap();
    }
    let m = dir.path().join("model.safetensors").display().to_string();
    (dir, m)
}

#[test]
fn native_layer_names_and_default_layers() {
    for (name, default, present) in [
        ("timm_resnet_d", "layer4", "conv1.5"),
        ("timm_seresnet", "layer4", "layer2.0"),
        ("timm_vgg", "features.14", "pre_logits"),
        ("timm_resnetv2", "norm", "stages.3"),
        ("hf_resnet", "resnet.encoder.stages.3", "resnet.embedder"),
    ] {
        let out = json(&["layers", "--model", &model(name), "--json"]);
        assert_eq!(out["default_layer"], default, "{name}");
        let names: Vec<&str> = out["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&present), "{name}: {names:?}");
    }
}

#[test]
fn architecture_names_follow_the_libraries() {
    for (name, want) in [
        ("timm_resnet_d", "resnetd"),
        ("timm_seresnet", "seresnet"),
        ("timm_vgg", "(timm)"),
        ("timm_resnetv2_d", "resnetv2d"),
        ("hf_resnet", "transformers ResNet"),
    ] {
        let out = json(&["layers", "--model", &model(name), "--json"]);
        let arch = out["architecture"].as_str().unwrap();
        assert!(arch.contains(want), "{name}: {arch}");
    }
}

#[test]
fn class_names_and_preprocessing_come_from_the_metadata() {
    let img = fixture("preprocess_photo.png").display().to_string();
    let out = json(&[
        "explain",
        "--model",
        &model("hf_resnet"),
        "--image",
        &img,
        "--json",
    ]);
    let label = out["label"].as_str().unwrap();
    let names = [
        "tench",
        "goldfish",
        "shark",
        "tiger shark",
        "hammerhead",
        "ray",
        "stingray",
        "cock",
        "hen",
        "ostrich",
    ];
    assert!(names.contains(&label), "label {label}");
    let pre = &out["preprocess"];
    assert_eq!(pre["interpolation"], "bicubic");
    assert_eq!(pre["crop_offset"], "floor");
    assert_eq!(pre["mean"][1].as_f64().unwrap() as f32, 0.45);
    assert_eq!(pre["mode"]["center-crop"]["resize"], 256);
    assert!(
        pre["source"]
            .as_str()
            .unwrap()
            .contains("preprocessor_config.json"),
        "{pre}"
    );

    let out = json(&["layers", "--model", &model("timm_seresnet"), "--json"]);
    let pre = &out["preprocess"];
    assert_eq!(
        pre["mode"]["center-crop"]["resize"], 235,
        "floor(224 / 0.95)"
    );
    assert_eq!(pre["interpolation"], "bicubic");
    assert!(pre["source"].as_str().unwrap().contains("timm"), "{pre}");
}

#[test]
fn without_metadata_the_defaults_apply() {
    let (_dir, m) = copy_of("hf_resnet_basic", &[]);
    let out = json(&["layers", "--model", &m, "--json"]);
    let pre = &out["preprocess"];
    assert_eq!(pre["interpolation"], "bilinear");
    assert_eq!(pre["mode"]["center-crop"]["resize"], 256);
    assert!(pre["metadata"].as_array().unwrap().is_empty());
}

#[test]
fn command_line_overrides_win() {
    let out = json(&[
        "layers",
        "--model",
        &model("timm_seresnet"),
        "--json",
        "--mean",
        "0.5,0.5,0.5",
        "--std",
        "0.25,0.25,0.25",
        "--size",
        "160",
        "--crop-pct",
        "1",
    ]);
    let pre = &out["preprocess"];
    assert_eq!(pre["mean"], serde_json::json!([0.5, 0.5, 0.5]));
    assert_eq!(pre["std"], serde_json::json!([0.25, 0.25, 0.25]));
    assert_eq!(
        pre["mode"]["center-crop"],
        serde_json::json!({"resize": 160, "crop": 160})
    );
    assert_eq!(out["input_shape"], serde_json::json!([1, 3, 160, 160]));
    let source = pre["source"].as_str().unwrap();
    assert!(
        source.starts_with("--mean, --std, --size, --crop-pct over config.json"),
        "{source}"
    );

    let (_, _, err) = camscope(&["layers", "--std", "0,1,1"]);
    assert!(
        err.contains("a standard deviation must be positive"),
        "{err}"
    );
    let (_, _, err) = camscope(&["layers", "--crop-pct", "1.5"]);
    assert!(err.contains("must be in (0, 1]"), "{err}");
}

#[test]
fn metadata_of_another_model_is_refused_naming_it() {
    let (dir, m) = copy_of("hf_resnet_basic", &[]);
    std::fs::copy(
        fixture("timm_seresnet/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    // timm_seresnet's config says 10 classes too: make it say 3.
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut v = v;
    v["num_classes"] = 3.into();
    v["label_names"] = serde_json::json!(["a", "b", "c"]);
    std::fs::write(dir.path().join("config.json"), v.to_string()).unwrap();
    let (ok, _, err) = camscope(&["layers", "--model", &m]);
    assert!(!ok);
    assert!(
        err.contains("config.json") && err.contains("3 classes") && err.contains("10 classes"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("config.json"),
        "{\"model_type\": \"resnet\",",
    )
    .unwrap();
    let (ok, _, err) = camscope(&["layers", "--model", &m]);
    assert!(
        !ok && err.contains("config.json") && err.contains("not valid JSON"),
        "{err}"
    );
}

#[test]
fn transformers_flags_in_config_change_the_network() {
    // hf_resnet was saved with downsample_in_bottleneck = true; without its config.json the
    // stride moves to the 3×3 convolution and the logits change.
    let x = fixture("hf_resnet/input.npy").display().to_string();
    let with = json(&[
        "explain",
        "--model",
        &model("hf_resnet"),
        "--input-npy",
        &x,
        "--json",
    ]);
    let (_dir, m) = copy_of("hf_resnet", &[]);
    let without = json(&["explain", "--model", &m, "--input-npy", &x, "--json"]);
    let logit = |v: &serde_json::Value| v["top_k"][0]["logit"].as_f64().unwrap();
    assert_ne!(logit(&with), logit(&without));
    let want = npy("hf_resnet/logits.npy").data;
    let top = with["top_k"][0]["class"].as_u64().unwrap() as usize;
    assert!((logit(&with) as f32 - want[top]).abs() < 1e-4 * want[top].abs().max(1.0));
}

#[test]
fn refused_layouts_say_why() {
    // BiT's GroupNorm ResNetV2: norm1 without running statistics.
    let dir = temp_dir();
    let mut t = candle_core::safetensors::load(
        fixture("timm_resnetv2/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    t.retain(|k, _| !k.ends_with("running_mean") && !k.ends_with("running_var"));
    let p = dir.path().join("bit.safetensors");
    candle_core::safetensors::save(&t, &p).unwrap();
    let (ok, _, err) = camscope(&["layers", "--model", &p.display().to_string()]);
    assert!(!ok && err.contains("GroupNorm"), "{err}");

    // transformers' ResNetModel without the classification head.
    let mut t = candle_core::safetensors::load(
        fixture("hf_resnet_basic/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    t.retain(|k, _| !k.starts_with("classifier"));
    let p = dir.path().join("backbone.safetensors");
    candle_core::safetensors::save(&t, &p).unwrap();
    let (ok, _, err) = camscope(&["layers", "--model", &p.display().to_string()]);
    assert!(!ok && err.contains("ResNetForImageClassification"), "{err}");
}
