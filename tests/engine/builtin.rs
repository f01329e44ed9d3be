//! The built-in EfficientNet-Lite0 recognises real photos and matches an independent PyTorch
//! implementation (timm's tf_efficientnet_lite0 with the same f16 weights;
//! tests/fixtures/make_builtin_reference.py).

use crate::common::*;
use camscope::engine::io::preprocess::load_image;
use camscope::engine::methods::Options;
use camscope::engine::{Explainer, Method, builtin};
use candle_core::Device;

fn top1(name: &str) -> (usize, Vec<f32>) {
    let model = builtin::model(&Device::Cpu).unwrap();
    let photo = load_image(&asset(&format!("{name}.png"))).unwrap();
    let (x, _) = model.preprocess.apply(&photo, &Device::Cpu).unwrap();
    let ex = Explainer::new(&model, &x).unwrap();
    (ex.top_k(1).unwrap()[0].class, ex.logits().unwrap())
}

#[test]
fn chelsea_is_a_cat() {
    let (class, _) = top1("chelsea");
    assert!((281..=285).contains(&class), "top-1 {class}");
}

#[test]
fn coffee_is_espresso() {
    let (class, logits) = top1("coffee");
    assert_eq!(class, 967);
    // End to end (our decoding + resize vs PIL's), looser: resizing may differ by one grey level.
    assert_close(
        "coffee logits from the PNG",
        &logits,
        &npy("builtin/coffee_logits.npy").data,
        2e-2,
    );
}

/// The network alone, on PyTorch's own preprocessed input: 1e-3 relative.
#[test]
fn logits_match_pytorch_reference() {
    let model = builtin::model(&Device::Cpu).unwrap();
    for name in ["chelsea", "coffee"] {
        let x = npy_tensor(&format!("builtin/{name}_input.npy"));
        let ex = Explainer::new(&model, &x).unwrap();
        assert_close(
            &format!("{name} logits"),
            &ex.logits().unwrap(),
            &npy(&format!("builtin/{name}_logits.npy")).data,
            1e-3,
        );
    }
}

/// CAM = Grad-CAM · Z at the head activation (the GAP + linear identity), 1e-5 relative.
#[test]
fn cam_equals_grad_cam_times_z() {
    let model = builtin::model(&Device::Cpu).unwrap();
    assert_eq!(model.default_layer(), "_head_act");
    let x = npy_tensor("builtin/chelsea_input.npy");
    let ex = Explainer::new(&model, &x).unwrap();
    let cam = ex.explain(Method::Cam, None, 282).unwrap();
    let gc = ex.explain(Method::GradCam, None, 282).unwrap();
    assert_eq!(cam.layer_shape, [1280, 7, 7]);
    let z = 49.0;
    let scaled: Vec<f32> = gc.raw.data.iter().map(|v| v * z).collect();
    assert_close("CAM vs Grad-CAM·Z", &scaled, &cam.raw.data, 1e-5);
    let logit = ex.logits().unwrap()[282];
    let b = model.cam_head().unwrap().bias.to_vec1::<f32>().unwrap()[282];
    let mean = cam.raw.data.iter().sum::<f32>() / z;
    assert!((mean - (logit - b)).abs() <= 1e-5 * (logit - b).abs().max(1.0));
}

#[test]
fn every_method_runs_on_the_builtin_model() {
    let model = builtin::model(&Device::Cpu).unwrap();
    let x = npy_tensor("builtin/chelsea_input.npy");
    let ex = Explainer::new(&model, &x).unwrap();
    // Score-CAM and Ablation-CAM on 64 of the 1280 channels: the same code, a twentieth of the
    // forward passes (the exact methods are checked against the library in methods.rs).
    let few = Options {
        top_channels: Some(64),
        ..Options::default()
    };
    for m in Method::ALL {
        let e = ex.explain_with(m, None, 285, &few).unwrap();
        assert_eq!((e.map.width, e.map.height), (224, 224));
        // The counterfactual map is blank where no evidence speaks against the class.
        let blank = m == Method::Counterfactual && e.raw.data.iter().all(|&v| v <= 0.0);
        assert!(
            (e.map.max() == 1.0 || blank) && e.map.min() == 0.0,
            "{m}: map not normalized"
        );
    }
    // Another block, Grad-CAM only.
    let e = ex
        .explain(Method::GradCam, Some("_blocks.10"), 285)
        .unwrap();
    assert_eq!(e.layer_shape, [112, 14, 14]);
}
