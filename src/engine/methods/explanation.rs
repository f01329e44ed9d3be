//! What an explanation hands back: the raw array, the final map, the map boxes come from.

use super::{Method, Produces};
use crate::engine::io::npy::Array;
use crate::engine::maps::Map;

/// One class's score and probability.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub class: usize,
    pub logit: f32,
    pub probability: f32,
}

/// The result of one method for one class at one layer.
#[derive(Clone, Debug)]
pub struct Explanation {
    pub method: Method,
    /// The explained layer's name as asked for (`input` for guided backprop).
    pub layer: String,
    /// `[K, H, W]` of the explained layer (`[3, H, W]` for guided backprop).
    pub layer_shape: Vec<usize>,
    pub class: usize,
    /// Before any ReLU, upsampling or normalization: `[H, W]` at the layer's resolution for
    /// layer maps, `[3, H, W]` at input resolution for input gradients.
    pub raw: Array,
    /// At model-input resolution, in [0, 1].
    pub map: Map,
    /// The map boxes are taken from, at model-input resolution in [0, 1]: `map` for layer maps;
    /// what the input-gradient method says otherwise (docs/methods.md).
    pub localization: Map,
}

impl Explanation {
    /// A warning when the map holds NaN or infinite values (then no box is drawn from it).
    pub fn warning(&self) -> Option<String> {
        self.raw.data.iter().any(|v| !v.is_finite()).then(|| {
            format!(
                "the {} map holds NaN or infinite values: no box is drawn",
                self.method.title()
            )
        })
    }

    /// The map before min–max, at input resolution: a layer map's raw values upsampled (sign
    /// kept, no ReLU), an input gradient's largest magnitude over the colour channels. What a
    /// shared colour scale across methods compares.
    pub fn unnormalized_map(&self) -> Map {
        let (w, h) = (self.map.width, self.map.height);
        match self.method.produces() {
            Produces::LayerMap => {
                Map::new(self.raw.shape[1], self.raw.shape[0], self.raw.data.clone()).resized(w, h)
            }
            Produces::InputGradient => channel_max_abs(&self.raw),
        }
    }

    /// The map with its sign kept, at input resolution, scaled so that 0.5 is zero and 0 / 1
    /// are ∓ the largest magnitude: for diverging colormaps. Layer maps use the raw map (before
    /// ReLU); input gradients sum the colour channels.
    pub fn signed_map(&self) -> Map {
        let (w, h) = (self.map.width, self.map.height);
        let m = match self.method.produces() {
            Produces::InputGradient => {
                let plane = w * h;
                Map::new(
                    w,
                    h,
                    (0..plane)
                        .map(|i| (0..3).map(|c| self.raw.data[c * plane + i]).sum())
                        .collect(),
                )
            }
            Produces::LayerMap => self.unnormalized_map(),
        };
        let scale = m.data.iter().fold(0f32, |a, v| a.max(v.abs()));
        let data = m
            .data
            .iter()
            .map(|v| {
                if scale > 0.0 {
                    0.5 + 0.5 * v / scale
                } else {
                    0.5
                }
            })
            .collect();
        Map::new(w, h, data)
    }
}

/// A `3 × H × W` input gradient as one `H × W` map: the largest magnitude over the colour
/// channels (Simonyan et al. 2014).
pub(super) fn channel_max_abs(raw: &Array) -> Map {
    let (h, w) = (raw.shape[1], raw.shape[2]);
    let plane = h * w;
    let data = (0..plane)
        .map(|i| {
            (0..3)
                .map(|c| raw.data[c * plane + i].abs())
                .fold(0f32, f32::max)
        })
        .collect();
    Map::new(w, h, data)
}
