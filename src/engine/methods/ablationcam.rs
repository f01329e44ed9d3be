//! Ablation-CAM (Desai & Ramaswamy 2020), as pytorch-grad-cam computes it: `s_k` is the class
//! score with channel k of the layer set to 0 — or to `min(A) − 1e7` when `min(A) ≠ 0`, as the
//! library does for layers with negative values — running only the network after the layer;
//! `w_k = (y^c − s_k) / y^c`. With `top_channels`, the other channels get weight 0 (as the
//! library gives the channels it skips).

use candle_core::Tensor;

use super::{Explainer, Target, Technique, perturb};
use crate::engine::error::Result;

pub struct AblationCam;

/// What the library subtracts from the minimum when activations can be negative.
const ABLATION_VALUE: f32 = 1e7;

impl Technique for AblationCam {
    fn name(&self) -> &'static str {
        "ablationcam"
    }

    fn title(&self) -> &'static str {
        "Ablation-CAM"
    }

    fn description(&self) -> &'static str {
        "Channels weighted by how much the score drops without each: no gradient, runs only the layers after it"
    }

    fn is_perturbation(&self) -> bool {
        true
    }

    fn channel_weights(&self, cx: &Explainer<'_>, target: &Target<'_>) -> Result<Tensor> {
        let layer = target.layer()?;
        let a = cx.activations(layer)?;
        let (k, h, w) = a.dims3()?;
        let data = a.flatten_all()?.to_vec1::<f32>()?;
        let min = data.iter().copied().fold(f32::INFINITY, f32::min);
        let value = if min == 0.0 {
            0.0
        } else {
            min - ABLATION_VALUE
        };
        let y = cx.logits()?[target.class];
        let channels = perturb::channels(&a, target.options.top_channels)?;
        let plane = h * w;
        let scores = perturb::scores(cx, target, &channels, Some(layer), |chunk| {
            let mut batch = Vec::with_capacity(chunk.len() * data.len());
            for &c in chunk {
                let start = batch.len();
                batch.extend_from_slice(&data);
                batch[start + c * plane..start + (c + 1) * plane].fill(value);
            }
            Ok(Tensor::from_vec(batch, (chunk.len(), k, h, w), a.device())?)
        })?;
        let weights: Vec<f32> = scores.iter().map(|s| (y - s) / y).collect();
        perturb::scatter(k, &channels, &weights, &a)
    }
}
