//! The CAM family against pytorch-grad-cam 1.5.7 on the parity models
//! (tests/fixtures/make_method_fixtures.py made the references), at both fixture layers.
//!
//! Raw maps (before ReLU and scaling) within 1e-4 relative (max |ours − ref| / max |ref|);
//! Score-CAM and Ablation-CAM within 1e-3 (their weights come from whole forward passes of
//! masked inputs); Eigen-CAM and every eigen-smoothed map up to sign (an SVD's sign is
//! arbitrary). Final maps of layer fusion (2e-3) and augmentation smoothing (1e-4) as max
//! absolute error against the library's own output, min–max normalized.

use crate::common::*;
use camscope::engine::methods::{Fuse, Options};
use camscope::engine::{Explainer, Map, Method, Model};
use candle_core::Device;

#[derive(serde::Deserialize)]
pub(crate) struct Meta {
    pub class: usize,
    pub layers: Vec<String>,
    pub default_layer: String,
}

const NAMES: [&str; 5] = [
    "resnet_basic",
    "resnet_bottleneck",
    "vgg",
    "vgg_bn",
    "vgg_gap",
];

/// The methods of the library, their tolerance, and whether eigen_smooth changes them.
pub(crate) const METHODS: [(Method, f32, bool); 10] = [
    (Method::GradCam, 1e-4, true),
    (Method::GradCamPlusPlus, 1e-4, true),
    (Method::XGradCam, 1e-4, true),
    (Method::HiResCam, 1e-4, true),
    (Method::GradCamElementWise, 1e-4, true),
    (Method::LayerCam, 1e-4, true),
    (Method::EigenCam, 1e-4, false),
    (Method::EigenGradCam, 1e-4, false),
    (Method::ScoreCam, 1e-3, false),
    (Method::AblationCam, 1e-3, false),
];

pub(crate) fn load(name: &str) -> (Meta, Model, candle_core::Tensor) {
    let meta: Meta = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{name}/meta.json"))).unwrap(),
    )
    .unwrap();
    let model = Model::load(&fixture(&format!("{name}/model.safetensors")), &Device::Cpu)
        .unwrap_or_else(|e| panic!("{e}"));
    (meta, model, npy_tensor(&format!("{name}/input.npy")))
}

/// The smaller of the relative errors of `actual` and `−actual`.
pub(crate) fn rel_err_up_to_sign(actual: &[f32], reference: &[f32]) -> f32 {
    let negated: Vec<f32> = actual.iter().map(|v| -v).collect();
    rel_err(actual, reference).min(rel_err(&negated, reference))
}

pub(crate) fn is_eigen(m: Method) -> bool {
    matches!(m, Method::EigenCam | Method::EigenGradCam)
}

#[test]
fn every_method_matches_pytorch_grad_cam_at_two_layers() {
    let mut worst: Vec<(String, f32)> = Vec::new();
    for name in NAMES {
        let (meta, model, x) = load(name);
        let ex = Explainer::new(&model, &x).unwrap();
        let smooth = Options {
            eigen_smooth: true,
            ..Options::default()
        };
        for layer in &meta.layers {
            for (method, tol, smoothable) in METHODS {
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
                worst.push((what.clone(), err));
                if smoothable {
                    let what = format!("{what} (eigen-smooth)");
                    let e = ex
                        .explain_with(method, Some(layer), meta.class, &smooth)
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let want = npy(&format!("{name}/methods/{method}_{layer}_eigen.npy"));
                    let err = rel_err_up_to_sign(&e.raw.data, &want.data);
                    assert!(err <= tol, "{what}: relative error {err:.3e} > {tol:.0e}");
                }
            }
        }
    }
    worst.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!("largest errors: {:?}", &worst[..3]);
}

/// Several layers at once (`--layer a,b`) and augmentation smoothing, against the library's
/// own final maps (min–max normalized here, as ours are).
#[test]
fn layer_fusion_and_aug_smoothing_follow_the_library() {
    for name in NAMES {
        let (meta, model, x) = load(name);
        let ex = Explainer::new(&model, &x).unwrap();
        let (a, b) = (&meta.layers[0], &meta.layers[1]);
        let fused = ex
            .explain(Method::GradCam, Some(&format!("{a},{b}")), meta.class)
            .unwrap();
        assert_eq!(fused.layer, format!("{a},{b}"));
        let want = npy(&format!("{name}/methods/fused_{a}+{b}.npy"));
        let err = max_abs_normalized(&fused.map.data, &want.data);
        assert!(err <= 2e-3, "{name} fused: {err}");

        let aug = Options {
            aug_smooth: true,
            ..Options::default()
        };
        let e = ex
            .explain_with(Method::GradCam, Some(&meta.default_layer), meta.class, &aug)
            .unwrap();
        let want = npy(&format!("{name}/methods/gradcam_aug.npy"));
        let err = max_abs_normalized(&e.map.data, &want.data);
        assert!(err <= 1e-4, "{name} aug-smooth: {err}");
    }
}

/// max |a − minmax(b)|, both at input resolution.
fn max_abs_normalized(a: &[f32], b: &[f32]) -> f32 {
    let (lo, hi) = b
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - (y - lo) / (hi - lo)).abs())
        .fold(0.0, f32::max)
}

/// Fusing by maximum keeps, at every pixel, the larger of the two layers' maps.
#[test]
fn max_fusion_takes_the_larger_map() {
    let (meta, model, x) = load("resnet_basic");
    let ex = Explainer::new(&model, &x).unwrap();
    let (a, b) = (&meta.layers[0], &meta.layers[1]);
    let max = Options {
        fuse: Fuse::Max,
        ..Options::default()
    };
    let fused = ex
        .explain_with(
            Method::LayerCam,
            Some(&format!("{a},{b}")),
            meta.class,
            &max,
        )
        .unwrap();
    // Each layer as the library scales it: ReLU, min–max at its resolution, upsampled.
    let scaled = |layer: &str| {
        let e = ex
            .explain(Method::LayerCam, Some(layer), meta.class)
            .unwrap();
        let raw = Map::new(e.raw.shape[1], e.raw.shape[0], e.raw.data);
        raw.relu().normalized().resized(e.map.width, e.map.height)
    };
    let (ma, mb) = (scaled(a), scaled(b));
    let want: Vec<f32> = ma
        .data
        .iter()
        .zip(&mb.data)
        .map(|(p, q)| p.max(*q))
        .collect();
    assert_close("max fusion raw", &fused.raw.data, &want, 1e-6);
}

/// HiResCAM equals Grad-CAM at the last block of a GAP + linear head (the gradient is the
/// same at every position there), and so does the element-wise sum of Layer-CAM when every
/// gradient is positive — checked here for HiResCAM only, the identity the paper proves.
#[test]
fn hirescam_equals_gradcam_on_gap_heads() {
    for name in ["resnet_basic", "resnet_bottleneck", "vgg_gap"] {
        let (meta, model, x) = load(name);
        let ex = Explainer::new(&model, &x).unwrap();
        for class in [0, meta.class] {
            let g = ex.explain(Method::GradCam, None, class).unwrap();
            let h = ex.explain(Method::HiResCam, None, class).unwrap();
            assert_close(
                &format!("{name} HiResCAM = Grad-CAM"),
                &h.raw.data,
                &g.raw.data,
                1e-5,
            );
        }
    }
}

/// The Grad-CAM paper's counterfactual explanation negates the gradients, so its raw map is
/// the library's Grad-CAM raw map negated (what pytorch-grad-cam gives for the target
/// `−y^c`), within 1e-4.
#[test]
fn counterfactual_is_grad_cam_of_the_negated_score() {
    for name in NAMES {
        let (meta, model, x) = load(name);
        let ex = Explainer::new(&model, &x).unwrap();
        for layer in &meta.layers {
            let what = format!("{name} counterfactual at {layer}");
            let e = ex
                .explain(Method::Counterfactual, Some(layer), meta.class)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let want = npy(&format!("{name}/methods/gradcam_{layer}.npy"));
            let negated: Vec<f32> = want.data.iter().map(|v| -v).collect();
            assert_close(&what, &e.raw.data, &negated, 1e-4);
            // The final map is ReLU of that: blank where Grad-CAM's raw map is nowhere
            // negative, else normalized to a maximum of 1.
            let any_negative = want.data.iter().any(|&v| v < 0.0);
            assert_eq!(e.map.max() == 1.0, any_negative, "{what}");
        }
    }
}

/// Options::top_channels evaluates fewer channels; with all of them it is the exact method.
#[test]
fn top_channels_is_exact_when_it_covers_every_channel() {
    let (meta, model, x) = load("vgg_gap");
    let ex = Explainer::new(&model, &x).unwrap();
    let layer = &meta.default_layer;
    let exact = ex
        .explain(Method::AblationCam, Some(layer), meta.class)
        .unwrap();
    let k = exact.layer_shape[0];
    let all = Options {
        top_channels: Some(k),
        batch_size: 5,
        ..Options::default()
    };
    let same = ex
        .explain_with(Method::AblationCam, Some(layer), meta.class, &all)
        .unwrap();
    assert_close("top_channels = K", &same.raw.data, &exact.raw.data, 1e-6);
    let few = Options {
        top_channels: Some(3),
        ..Options::default()
    };
    let approx = ex
        .explain_with(Method::ScoreCam, Some(layer), meta.class, &few)
        .unwrap();
    assert_eq!(approx.raw.shape, exact.raw.shape);
    assert_ne!(approx.raw.data, exact.raw.data);
}

/// A progress callback sees every channel counted and can stop the work.
#[test]
fn slow_methods_report_progress_and_can_be_cancelled() {
    use std::sync::{Arc, Mutex};
    let (meta, model, x) = load("vgg_gap");
    let ex = Explainer::new(&model, &x).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let options = Options {
        batch_size: 8,
        progress: Some(Arc::new(move |done, total| {
            log.lock().unwrap().push((done, total));
        })),
        ..Options::default()
    };
    ex.explain_with(Method::ScoreCam, None, meta.class, &options)
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let k = model
        .layers()
        .unwrap()
        .iter()
        .find(|l| l.default)
        .unwrap()
        .shape[0];
    assert_eq!(seen.first(), Some(&(0, k)));
    assert_eq!(seen.last(), Some(&(k, k)));
    // Stop after the first layers of the first batch.
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let stop = Options {
        cancel: Some(Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 3
        })),
        ..Options::default()
    };
    let err = ex
        .explain_with(Method::AblationCam, None, meta.class, &stop)
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::Relaxed),
        4,
        "checked between layers"
    );
}
