//! Maps combined from several: over layers (`layer4,layer3`) and over augmented inputs
//! (`aug_smooth`). Both give an `H × W` raw map at input resolution — the combination before
//! the last min–max — and the final map as usual (docs/methods.md).

use candle_core::Tensor;

use super::{Explainer, Explanation, Fuse, Method, Options, Produces};
use crate::engine::error::{Error, Result};
use crate::engine::io::npy::Array;
use crate::engine::maps::Map;

impl Explainer<'_> {
    /// [`Self::explain`] with options: smoothing, several layers (`layer4,layer3`), batch size
    /// and progress of the slow methods.
    pub fn explain_with(
        &self,
        method: Method,
        layer: Option<&str>,
        class: usize,
        options: &Options,
    ) -> Result<Explanation> {
        self.model().check_class(class)?;
        if options.aug_smooth {
            return augmented(self, method, layer, class, options);
        }
        let names: Vec<&str> = layer
            .map(|l| {
                l.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if method.uses_layer() && names.len() > 1 {
            return fused(self, method, &names, class, options);
        }
        self.explain_one(method, names.first().copied(), class, options)
    }
}

/// pytorch-grad-cam's augmentations (ttach): horizontal flip × multiplying the input by these.
const SCALES: [f64; 3] = [0.9, 1.0, 1.1];

/// One method at several layers, in pytorch-grad-cam's order: each layer's map after ReLU is
/// min–max normalized at the layer's resolution and upsampled to the input; the maps are fused
/// by their mean (pytorch-grad-cam) or maximum (torchcam), then min–max normalized again.
pub fn fused(
    cx: &Explainer<'_>,
    method: Method,
    layers: &[&str],
    class: usize,
    options: &Options,
) -> Result<Explanation> {
    if method.produces() != Produces::LayerMap {
        return Err(Error::MethodNotApplicable {
            method: format!("{} at several layers", method.title()),
            reason: "only methods that produce a layer map can fuse layers; pick one layer".into(),
        });
    }
    let mut maps = Vec::with_capacity(layers.len());
    let mut first_shape = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let e = cx.explain_one(method, Some(layer), class, options)?;
        if i == 0 {
            first_shape = e.layer_shape.clone();
        }
        let raw = Map::new(e.raw.shape[1], e.raw.shape[0], e.raw.data);
        let raw = if method.technique().relu() {
            raw.relu()
        } else {
            raw
        };
        maps.push(raw.normalized().resized(e.map.width, e.map.height));
    }
    let (w, h) = (maps[0].width, maps[0].height);
    let n = maps.len() as f32;
    let data = (0..w * h)
        .map(|i| match options.fuse {
            Fuse::Mean => maps.iter().map(|m| m.data[i]).sum::<f32>() / n,
            Fuse::Max => maps.iter().map(|m| m.data[i]).fold(f32::MIN, f32::max),
        })
        .collect();
    Ok(combined(
        method,
        layers.join(","),
        first_shape,
        class,
        Map::new(w, h, data),
    ))
}

/// The mean of the maps of the six augmented inputs (flip × scale), each mapped back to the
/// photo's orientation: pytorch-grad-cam's `aug_smooth`. Each augmented input gets its own
/// forward pass (the unaugmented one reuses `cx`'s).
pub fn augmented(
    cx: &Explainer<'_>,
    method: Method,
    layer: Option<&str>,
    class: usize,
    options: &Options,
) -> Result<Explanation> {
    if method.produces() != Produces::LayerMap {
        return Err(Error::MethodNotApplicable {
            method: format!("{} with augmentation smoothing", method.title()),
            reason: "it applies to methods that produce a layer map".into(),
        });
    }
    let plain = Options {
        aug_smooth: false,
        ..options.clone()
    };
    let input = &cx.forward().input;
    let mut maps = Vec::with_capacity(2 * SCALES.len());
    let mut names = None;
    for flip in [false, true] {
        for scale in SCALES {
            let e = if !flip && scale == 1.0 {
                cx.explain_with(method, layer, class, &plain)?
            } else {
                let x = if flip {
                    input.flip(&[3])?
                } else {
                    input.clone()
                };
                let x: Tensor = (x * scale)?;
                Explainer::new(cx.model(), &x)?.explain_with(method, layer, class, &plain)?
            };
            maps.push(if flip { e.map.flipped() } else { e.map });
            names.get_or_insert((e.layer, e.layer_shape));
        }
    }
    let (name, shape) = names.unwrap_or_default();
    let (w, h) = (maps[0].width, maps[0].height);
    let n = maps.len() as f32;
    let mean = (0..w * h)
        .map(|i| maps.iter().map(|m| m.data[i]).sum::<f32>() / n)
        .collect();
    Ok(combined(method, name, shape, class, Map::new(w, h, mean)))
}

/// An explanation whose raw map is `combined` (input resolution, before the last min–max).
fn combined(
    method: Method,
    layer: String,
    layer_shape: Vec<usize>,
    class: usize,
    combined: Map,
) -> Explanation {
    let map = combined.displayed(false, combined.width, combined.height);
    Explanation {
        method,
        layer,
        layer_shape,
        class,
        raw: Array::new(vec![combined.height, combined.width], combined.data),
        localization: map.clone(),
        map,
    }
}
