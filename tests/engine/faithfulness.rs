//! Faithfulness metrics on the built-in model: the curves' end points are the input's and the
//! baseline's own probabilities (computed here by separate forward passes), deletion of a good
//! map falls faster than insertion rises from the baseline, and the multiplied-input measure
//! is the identity for an all-ones map. Tolerance 1e-5 absolute on probabilities.

use camscope::engine::io::input;
use camscope::engine::metrics::faithfulness::{
    Baseline, CurveSettings, baseline, confidence, deletion_insertion,
};
use camscope::engine::{Explainer, Map, Method, Model, builtin};
use candle_core::{Device, Tensor};

use crate::common::*;

fn setup() -> (Model, camscope::engine::io::input::Loaded) {
    let model = builtin::model(&Device::Cpu).unwrap();
    let loaded = input::load_photo(
        model.preprocess,
        model.device(),
        &asset("chelsea.png"),
        input::PhotoFit::CenterCrop,
    )
    .unwrap();
    (model, loaded)
}

fn probability(model: &Model, x: Tensor, class: usize) -> f32 {
    let ex = Explainer::new(model, &x).unwrap();
    ex.predictions()
        .unwrap()
        .into_iter()
        .find(|p| p.class == class)
        .unwrap()
        .probability
}

#[test]
fn curve_end_points_are_the_input_and_the_baseline() {
    let (model, loaded) = setup();
    let ex = Explainer::new(&model, &loaded.input).unwrap();
    let top = ex.top_k(1).unwrap()[0].class;
    let e = ex.explain(Method::GradCam, None, top).unwrap();
    let (h, w) = (loaded.input.dims()[2], loaded.input.dims()[3]);
    for kind in [Baseline::Blur, Baseline::Zero, Baseline::Mean] {
        let s = CurveSettings {
            class: top,
            steps: 8,
            baseline: kind,
            batch_size: 4,
            check: &|| Ok(()),
            progress: None,
        };
        let (del, ins) = deletion_insertion(&model, &loaded.input, &e.map, &s).unwrap();
        assert_eq!(del.scores.len(), 9);
        let p_in = probability(&model, loaded.input.clone(), top);
        let x = loaded
            .input
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = baseline(&x, (h, w), kind, &model.preprocess);
        let p_base = probability(
            &model,
            Tensor::from_vec(b, (1, 3, h, w), &Device::Cpu).unwrap(),
            top,
        );
        for (got, want, what) in [
            (del.scores[0], p_in, "deletion starts at the input"),
            (del.scores[8], p_base, "deletion ends at the baseline"),
            (ins.scores[0], p_base, "insertion starts at the baseline"),
            (ins.scores[8], p_in, "insertion ends at the input"),
        ] {
            assert!(
                (got - want).abs() < 1e-5,
                "{kind:?}: {what}: {got} vs {want}"
            );
        }
        assert!(
            del.auc < ins.auc,
            "{kind:?}: Grad-CAM of the top class: deletion AUC {} ≥ insertion AUC {}",
            del.auc,
            ins.auc
        );
    }
}

#[test]
fn an_all_ones_map_changes_no_confidence() {
    let (model, loaded) = setup();
    let (h, w) = (loaded.input.dims()[2], loaded.input.dims()[3]);
    let ones = Map::new(w, h, vec![1.0; w * h]);
    let c = confidence(&model, &loaded.input, &ones, 285).unwrap();
    assert!(
        c.change.abs() < 1e-6 && c.average_drop < 1e-4 && !c.increase,
        "{c:?}"
    );
    let zeros = Map::new(w, h, vec![0.0; w * h]);
    let c = confidence(&model, &loaded.input, &zeros, 285).unwrap();
    let p0 = probability(&model, loaded.input.zeros_like().unwrap(), 285);
    assert!((c.masked - p0).abs() < 1e-5, "{c:?} vs {p0}");
    let want_drop = 100.0 * (c.original - c.masked).max(0.0) / c.original;
    assert!((c.average_drop - want_drop).abs() < 1e-3);
}

#[derive(serde::Deserialize)]
struct LibraryMetrics {
    class: usize,
    confidence_change: f32,
    road_morf: Vec<f32>,
    road_lerf: Vec<f32>,
    road_combined: f32,
}

/// Against pytorch-grad-cam 1.5.7's CamMultImageConfidenceChange and ROAD (noise-free
/// imputation) on the built-in model, chelsea and a smooth map
/// (tests/fixtures/make_metric_fixtures.py): within 1e-4 of the probabilities (the library
/// runs timm's EfficientNet-Lite0, whose logits agree with camscope's to ~1e-5).
#[test]
fn confidence_change_and_road_match_pytorch_grad_cam() {
    use camscope::engine::metrics::road::road;
    let want: LibraryMetrics =
        serde_json::from_str(&std::fs::read_to_string(fixture("builtin/metrics.json")).unwrap())
            .unwrap();
    let model = builtin::model(&Device::Cpu).unwrap();
    let x = npy_tensor("builtin/chelsea_input.npy");
    let m = npy("builtin/metric_map.npy");
    let map = Map::new(m.shape[1], m.shape[0], m.data);
    let c = confidence(&model, &x, &map, want.class).unwrap();
    assert!(
        (c.change - want.confidence_change).abs() < 1e-4,
        "confidence change {} vs {}",
        c.change,
        want.confidence_change
    );
    let r = road(&model, &x, &map, want.class, 0.0, 0).unwrap();
    for (what, got, lib) in [
        ("MoRF", &r.morf, &want.road_morf),
        ("LeRF", &r.lerf, &want.road_lerf),
    ] {
        for (i, (g, w)) in got.iter().zip(lib).enumerate() {
            assert!(
                (g - w).abs() < 1e-4,
                "ROAD {what} at {}%: {g} vs {w}",
                10 * (i + 1)
            );
        }
    }
    assert!(
        (r.combined - want.road_combined).abs() < 1e-4,
        "ROAD combined {} vs {}",
        r.combined,
        want.road_combined
    );
}
