//! Ablation-CAM (Desai & Ramaswamy 2020), as pytorch-grad-cam computes it: `s_k` is the class
//! score with channel k of the layer set to 0 — or, when `min(A) ≠ 0` (layers with negative
//! values: Hardswish, SiLU, GELU, BatchNorm outputs), to a very negative value — running only
//! the network after the layer; `w_k = (y^c − s_k) / y^c`. With `top_channels`, the other
//! channels get weight 0 (as the library gives the channels it skips).
//!
//! The very negative value follows the library exactly: its `AblationLayer` reads the minimum
//! of the whole batch again before each ablation, after the previous one lowered it, so the
//! i-th channel of each batch of 32 (its default batch size) is set to
//! `min(A) − (i + 1)·1e7` (in f32 steps of 1e7), not to `min(A) − 1e7`.

use candle_core::Tensor;

use super::{Explainer, Target, Technique, perturb};
use crate::engine::error::Result;

pub struct AblationCam;

/// What the library subtracts from the minimum when activations can be negative.
const ABLATION_VALUE: f32 = 1e7;

/// pytorch-grad-cam's default batch size, over which its ablation value drifts.
const LIBRARY_BATCH: usize = 32;

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
        // The value for the i-th ablation of a library batch (see the module's doc).
        let values: Vec<f32> = (0..LIBRARY_BATCH)
            .scan(min, |m, _| {
                if min != 0.0 {
                    *m -= ABLATION_VALUE;
                }
                Some(*m)
            })
            .collect();
        let y = cx.logits()?[target.class];
        let channels = perturb::channels(&a, target.options.top_channels)?;
        let mut position = vec![0; k];
        for (i, &c) in channels.iter().enumerate() {
            position[c] = i;
        }
        let plane = h * w;
        let scores = perturb::scores(cx, target, &channels, Some(layer), |chunk| {
            let mut batch = Vec::with_capacity(chunk.len() * data.len());
            for &c in chunk {
                let start = batch.len();
                batch.extend_from_slice(&data);
                let value = values[position[c] % LIBRARY_BATCH];
                batch[start + c * plane..start + (c + 1) * plane].fill(value);
            }
            Ok(Tensor::from_vec(batch, (chunk.len(), k, h, w), a.device())?)
        })?;
        let weights: Vec<f32> = scores.iter().map(|s| (y - s) / y).collect();
        perturb::scatter(k, &channels, &weights, &a)
    }
}
