//! Faithfulness metrics on the built-in model: the curves' end points are the input's and the
//! baseline's own probabilities (computed here by separate forward passes), deletion of a good
//! map falls faster than insertion rises from the baseline, and the multiplied-input measure
//! is the identity for an all-ones map. Tolerance 1e-5 absolute on probabilities.

use camscope::engine::faithfulness::{
    Baseline, CurveSettings, baseline, confidence, deletion_insertion,
};
use camscope::engine::{Explainer, Map, Method, Model, builtin, input};
use candle_core::{Device, Tensor};

use crate::common::*;

fn setup() -> (Model, camscope::engine::input::Loaded) {
    let model = builtin::model(&Device::Cpu).unwrap();
    let loaded =
        input::load_photo(&model, &asset("chelsea.png"), input::PhotoFit::CenterCrop).unwrap();
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
