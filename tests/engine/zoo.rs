//! The CNN zoo beyond ResNet and VGG — torchvision DenseNet, MobileNet-V2 / V3, EfficientNet
//! (B-series, V2), RegNet-X / Y, ConvNeXt, GoogLeNet, Inception-v3, ShuffleNet-V2, SqueezeNet,
//! AlexNet; timm's DenseNet, EfficientNet (B0, tf_B0, V2), MobileNet-V3 and RegNet-Y; timm's and
//! transformers' ConvNeXt — against
//! PyTorch and pytorch-grad-cam (tests/fixtures/make_zoo_fixtures.py made the references).
//!
//! Tolerances as in parity.rs and methods.rs: logits, Grad-CAM raw and final maps, guided
//! backprop and guided Grad-CAM within 1e-4 relative; every other method's raw map at the
//! default layer within 1e-4 (Score-CAM and Ablation-CAM 1e-3, Eigen-CAM up to sign).

use crate::common::*;
use crate::methods::{METHODS, is_eigen, load, rel_err_up_to_sign};
use crate::parity::check;
use camscope::engine::{Explainer, Method, Model};
use candle_core::Device;

/// Every zoo fixture, and whether its head is global average pool + one linear layer.
const ZOO: [(&str, bool); 24] = [
    ("tv_densenet", true),
    ("tv_mobilenet_v2", true),
    ("tv_mobilenet_v3_large", false),
    ("tv_mobilenet_v3_small", false),
    ("tv_efficientnet_b0", true),
    ("tv_efficientnet_v2", true),
    ("tv_regnet_y", true),
    ("tv_regnet_x", true),
    ("tv_convnext", false),
    ("timm_convnext", false),
    ("hf_convnext", false),
    ("tv_googlenet", true),
    ("tv_shufflenet", true),
    ("tv_squeezenet1_0", true),
    ("tv_squeezenet1_1", true),
    ("tv_alexnet", false),
    ("tv_inception_v3", true),
    ("timm_densenet", true),
    ("timm_efficientnet_b0", true),
    ("timm_tf_efficientnet_b0", true),
    ("timm_efficientnetv2", true),
    ("timm_mobilenetv3_large", false),
    ("timm_mobilenetv3_small", false),
    ("timm_regnety", true),
];

#[test]
fn zoo_logits_gradcam_and_guided_backprop_match_pytorch() {
    for (name, _) in ZOO {
        check(name);
    }
}

#[test]
fn zoo_every_method_matches_pytorch_grad_cam_at_the_default_layer() {
    for (name, _) in ZOO {
        let (meta, model, x) = load(name);
        let ex = Explainer::new(&model, &x).unwrap();
        let layer = &meta.default_layer;
        for (method, tol, _) in METHODS {
            let what = format!("{name} {method} at {layer}");
            let e = ex
                .explain(method, Some(layer), meta.class)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let want = npy(&format!("{name}/methods/{method}_{layer}.npy"));
            assert_eq!(e.raw.shape, want.shape, "{what}: raw shape");
            let err = if is_eigen(method) {
                rel_err_up_to_sign(&e.raw.data, &want.data)
            } else {
                rel_err(&e.raw.data, &want.data)
            };
            assert!(err <= tol, "{what}: relative error {err:.3e} > {tol:.0e}");
        }
    }
}

/// CAM where the head is GAP + linear (mean(M^c) = y^c − b^c, Grad-CAM = CAM / Z at the
/// default layer, 1e-5 relative), and a refusal that says why elsewhere.
#[test]
fn zoo_cam_exists_exactly_on_gap_linear_heads() {
    for (name, gap) in ZOO {
        let model =
            Model::load(&fixture(&format!("{name}/model.safetensors")), &Device::Cpu).unwrap();
        let x = npy_tensor(&format!("{name}/input.npy"));
        let ex = Explainer::new(&model, &x).unwrap();
        if !gap {
            let err = ex.explain(Method::Cam, None, 0).unwrap_err().to_string();
            assert!(
                err.contains("not a weighted sum of channel means")
                    || err.contains("fully connected"),
                "{name}: {err}"
            );
            continue;
        }
        let logits = ex.logits().unwrap();
        let bias = model.cam_head().unwrap().bias.to_vec1::<f32>().unwrap();
        for class in [0, 4, model.num_classes() - 1] {
            let cam = ex.explain(Method::Cam, None, class).unwrap();
            let mean =
                cam.raw.data.iter().map(|&v| v as f64).sum::<f64>() / cam.raw.data.len() as f64;
            let want = (logits[class] - bias[class]) as f64;
            assert!(
                (mean - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{name} class {class}: mean(CAM) {mean} vs y - b {want}"
            );
            let head = model
                .display_name(model.cam_head().unwrap().layer)
                .to_owned();
            let gc = ex.explain(Method::GradCam, Some(&head), class).unwrap();
            let z = cam.raw.data.len() as f32;
            let scaled: Vec<f32> = cam.raw.data.iter().map(|v| v / z).collect();
            assert_close(
                &format!("{name} Grad-CAM = CAM / Z"),
                &gc.raw.data,
                &scaled,
                1e-5,
            );
        }
    }
}

/// The default layer is the peers' documented one, and the model names its family.
#[test]
fn zoo_default_layers_and_names() {
    for (name, layer, arch) in [
        ("tv_densenet", "features", "densenet"),
        ("tv_mobilenet_v2", "features", "mobilenet_v2"),
        ("tv_mobilenet_v3_large", "features", "mobilenet_v3_large"),
        ("tv_mobilenet_v3_small", "features", "mobilenet_v3_small"),
        ("tv_efficientnet_b0", "features", "efficientnet ("),
        ("tv_efficientnet_v2", "features", "efficientnet_v2"),
        ("tv_regnet_y", "trunk_output", "regnet_y"),
        ("tv_regnet_x", "trunk_output", "regnet_x"),
        ("tv_convnext", "features", "convnext"),
        ("timm_convnext", "stages.3", "convnext"),
        ("hf_convnext", "convnext.encoder.stages.3", "convnext"),
        ("tv_googlenet", "inception5b", "googlenet"),
        ("tv_shufflenet", "conv5", "shufflenet_v2"),
        ("tv_squeezenet1_0", "features", "squeezenet1_0"),
        ("tv_squeezenet1_1", "features", "squeezenet1_1"),
        ("tv_alexnet", "features", "alexnet"),
        ("tv_inception_v3", "Mixed_7c", "inception_v3"),
        ("timm_densenet", "features", "densenet"),
        ("timm_efficientnet_b0", "bn2", "efficientnet_b0"),
        ("timm_tf_efficientnet_b0", "bn2", "tf_efficientnet_b0"),
        ("timm_efficientnetv2", "bn2", "efficientnetv2_s"),
        ("timm_mobilenetv3_large", "blocks", "mobilenetv3_large_100"),
        ("timm_mobilenetv3_small", "blocks", "mobilenetv3_small"),
        ("timm_regnety", "s4", "regnet_y"),
    ] {
        let model =
            Model::load(&fixture(&format!("{name}/model.safetensors")), &Device::Cpu).unwrap();
        assert_eq!(model.default_layer(), layer, "{name}");
        assert!(
            model.architecture.starts_with(arch),
            "{name}: {}",
            model.architecture
        );
        assert!(model.layers().unwrap().len() > 8, "{name}: layers listed");
    }
}

/// `name`'s fixture checkpoint rewritten by `edit` (which may drop a tensor, or give a new
/// dtype and bytes), loaded: the error message.
fn load_edited(
    name: &str,
    edit: impl Fn(&str) -> Option<Option<(safetensors::Dtype, Vec<u8>)>>,
) -> String {
    let bytes = std::fs::read(fixture(&format!("{name}/model.safetensors"))).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (k, v) in st.tensors() {
        match edit(&k) {
            None => owned.push((k, v.dtype(), v.shape().to_vec(), v.data().to_vec())),
            Some(None) => {}
            Some(Some((dtype, data))) => owned.push((k, dtype, v.shape().to_vec(), data)),
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(k, d, s, b)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let dir = temp_dir();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    match Model::load(&path, &Device::Cpu) {
        Ok(_) => panic!("{name}: the edited checkpoint loaded"),
        Err(e) => e.to_string(),
    }
}

/// A checkpoint is used whole or refused, naming the tensor: a missing one (the builder stops
/// early and the rest of the module is left over: the message names what its siblings have),
/// and one stored as int8 (refused by name, not as an unknown layout).
#[test]
fn a_missing_or_mistyped_tensor_is_named() {
    let missing = "features.denseblock2.denselayer2.conv1.weight";
    let err = load_edited("tv_densenet", |k| (k == missing).then_some(None));
    assert!(err.contains(missing), "{err}");
    let missing = "layer3.1.conv1.weight";
    let err = load_edited("resnet_bottleneck", |k| (k == missing).then_some(None));
    assert!(
        err.contains("missing or misnamed") && err.contains(missing),
        "{err}"
    );
    let err = load_edited("resnet_basic", |k| {
        (k == "conv1.weight").then(|| Some((safetensors::Dtype::I8, vec![0; 8 * 3 * 7 * 7])))
    });
    assert!(err.contains("conv1.weight") && err.contains("I8"), "{err}");
    assert!(!err.contains("unknown model layout"), "{err}");
}

/// What timm's checkpoint does not store (strides, activations) comes from its config.json's
/// architecture name: a name camscope does not read is refused by name, not guessed; without a
/// config.json the tensors decide, and timm's own preprocessing comes with the name.
#[test]
fn timm_efficientnet_family_follows_or_refuses_its_config() {
    let dir = temp_dir();
    std::fs::copy(
        fixture("timm_efficientnet_b0/model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let config = std::fs::read_to_string(fixture("timm_efficientnet_b0/config.json")).unwrap();
    let renamed = config.replace("\"efficientnet_b0\"", "\"mnasnet_100\"");
    assert_ne!(renamed, config);
    std::fs::write(dir.path().join("config.json"), renamed).unwrap();
    let err = Model::load(&dir.path().join("model.safetensors"), &Device::Cpu)
        .err()
        .expect("an unknown timm architecture is refused")
        .to_string();
    assert!(
        err.contains("mnasnet_100") && err.contains("does not read"),
        "{err}"
    );
    // Without the config.json: inferred (SE → SiLU) and still PyTorch's logits.
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let model = Model::load(&dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(
        model.architecture.starts_with("efficientnet"),
        "{}",
        model.architecture
    );
    let x = npy_tensor("timm_efficientnet_b0/input.npy");
    let got = Explainer::new(&model, &x).unwrap().logits().unwrap();
    assert_close(
        "inferred efficientnet_b0 logits",
        &got,
        &npy("timm_efficientnet_b0/logits.npy").data,
        1e-4,
    );
    // With it, timm's pretrained_cfg sets the eval transform (bicubic, crop_pct 0.875).
    let model = Model::load(
        &fixture("timm_efficientnet_b0/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let pre = model.preprocess_info();
    assert!(pre.source.contains("config.json"), "{}", pre.source);
}

/// The batched pass that Score-CAM, Ablation-CAM and the faithfulness metrics use gives every
/// family the logits of its one-at-a-time pass (1e-4 relative): three perturbed inputs at once.
#[test]
fn zoo_batched_logits_match_one_at_a_time() {
    for (name, _) in ZOO {
        let (_, model, x) = load(name);
        let xs = [x.clone(), (&x * 0.5).unwrap(), x.neg().unwrap()];
        let batch = candle_core::Tensor::cat(&xs, 0).unwrap();
        let got = model.logits_from(None, &batch).unwrap();
        for (i, xi) in xs.iter().enumerate() {
            let want = model.logits_from(None, xi).unwrap();
            let row = got.get(i).unwrap().to_vec1::<f32>().unwrap();
            let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_close(&format!("{name} batch row {i}"), &row, &want, 1e-4);
        }
    }
}
