//! Parity with PyTorch and pytorch-grad-cam on small torchvision-layout models with random
//! weights and non-trivial BatchNorm (tests/fixtures/make_fixtures.py made the references).
//!
//! Tolerance: 1e-4 relative, measured as max |camscope − reference| / max |reference|.

use crate::common::*;
use camscope::engine::{Explainer, Method, Model};
use candle_core::Device;

const TOL: f32 = 1e-4;

#[derive(serde::Deserialize)]
struct Meta {
    class: usize,
    layers: Vec<String>,
    default_layer: String,
}

pub(crate) fn check(name: &str) {
    let meta: Meta = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{name}/meta.json"))).unwrap(),
    )
    .unwrap();
    let model = Model::load(&fixture(&format!("{name}/model.safetensors")), &Device::Cpu)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        model.default_layer(),
        meta.default_layer,
        "{name}: default layer"
    );
    let x = npy_tensor(&format!("{name}/input.npy"));
    let ex = Explainer::new(&model, &x).unwrap();
    assert_close(
        &format!("{name} logits"),
        &ex.logits().unwrap(),
        &npy(&format!("{name}/logits.npy")).data,
        TOL,
    );
    for layer in &meta.layers {
        let e = ex
            .explain(Method::GradCam, Some(layer), meta.class)
            .unwrap();
        let raw = npy(&format!("{name}/gradcam_raw_{layer}.npy"));
        assert_eq!(e.raw.shape, raw.shape, "{name} {layer} raw shape");
        assert_close(
            &format!("{name} Grad-CAM raw at {layer}"),
            &e.raw.data,
            &raw.data,
            TOL,
        );
        let map = npy(&format!("{name}/gradcam_map_{layer}.npy"));
        assert_close(
            &format!("{name} Grad-CAM map at {layer}"),
            &e.map.data,
            &map.data,
            TOL,
        );
    }
    let gb = ex
        .explain(Method::GuidedBackprop, None, meta.class)
        .unwrap();
    let want = npy(&format!("{name}/gb.npy"));
    assert_eq!(gb.raw.shape, want.shape);
    assert_close(
        &format!("{name} guided backprop"),
        &gb.raw.data,
        &want.data,
        TOL,
    );
    let ggc = ex.explain(Method::GuidedGradCam, None, meta.class).unwrap();
    assert_close(
        &format!("{name} guided Grad-CAM"),
        &ggc.raw.data,
        &npy(&format!("{name}/ggc.npy")).data,
        TOL,
    );
}

#[test]
fn resnet_basic_block_f16_matches_pytorch() {
    check("resnet_basic");
}

#[test]
fn resnet_bottleneck_grouped_matches_pytorch() {
    check("resnet_bottleneck");
}

#[test]
fn vgg_matches_pytorch() {
    check("vgg");
}

#[test]
fn vgg_bn_bf16_matches_pytorch() {
    check("vgg_bn");
}

#[test]
fn vgg_gap_matches_pytorch() {
    check("vgg_gap");
}

/// timm and transformers layouts (tests/fixtures/make_format_fixtures.py), same checks.
#[test]
fn timm_resnet_d_deep_stem_and_avg_pool_shortcuts_match_timm() {
    check("timm_resnet_d");
}

#[test]
fn timm_seresnet_squeeze_excitation_matches_timm() {
    check("timm_seresnet");
}

#[test]
fn timm_vgg_conv_mlp_head_matches_timm() {
    check("timm_vgg");
}

#[test]
fn timm_resnetv2_pre_activation_matches_timm() {
    check("timm_resnetv2");
}

#[test]
fn timm_resnetv2_d_basic_blocks_match_timm() {
    check("timm_resnetv2_d");
}

#[test]
fn transformers_resnet_bottleneck_matches_transformers() {
    check("hf_resnet");
}

#[test]
fn transformers_resnet_basic_f16_matches_transformers() {
    check("hf_resnet_basic");
}

/// The CAM paper's identities on GAP + linear heads: mean(M^c) = y^c − b^c, and at the last
/// block Grad-CAM's raw map is CAM / Z (α = w / Z). Tolerance 1e-5 relative.
#[test]
fn cam_identities_hold_on_gap_linear_models() {
    for name in [
        "resnet_basic",
        "resnet_bottleneck",
        "vgg_gap",
        "timm_resnet_d",
        "timm_seresnet",
        "timm_resnetv2",
        "hf_resnet",
    ] {
        let model =
            Model::load(&fixture(&format!("{name}/model.safetensors")), &Device::Cpu).unwrap();
        let x = npy_tensor(&format!("{name}/input.npy"));
        let ex = Explainer::new(&model, &x).unwrap();
        let logits = ex.logits().unwrap();
        let bias = model.cam_head().unwrap().bias.to_vec1::<f32>().unwrap();
        for class in [0, 3, model.num_classes() - 1] {
            let cam = ex.explain(Method::Cam, None, class).unwrap();
            let mean =
                cam.raw.data.iter().map(|&v| v as f64).sum::<f64>() / cam.raw.data.len() as f64;
            let want = (logits[class] - bias[class]) as f64;
            assert!(
                (mean - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{name} class {class}: mean(CAM) {mean} vs y - b {want}"
            );
            let gc = ex.explain(Method::GradCam, None, class).unwrap();
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

/// An input too small for a model's pooling windows is refused with the layer named, on the
/// taped and the untaped pass (the output size `(n − k) / s + 1` would be negative: a panic in
/// debug builds, an absurd allocation in release ones).
#[test]
fn input_smaller_than_a_window_is_refused_naming_the_layer() {
    let model = Model::load(&fixture("vgg/model.safetensors"), &Device::Cpu).unwrap();
    let x =
        candle_core::Tensor::zeros((1, 3, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    let taped = Explainer::new(&model, &x)
        .err()
        .expect("a 2×2 input is refused");
    let untaped = model
        .logits_from(None, &x)
        .expect_err("refused untaped too");
    for e in [taped.to_string(), untaped.to_string()] {
        assert!(
            e.contains("at layer features.") && e.contains("too small for this model"),
            "{e}"
        );
    }
}
