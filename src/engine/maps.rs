//! 2-D maps: bilinear upsampling with half-pixel centres and min–max normalization.

/// A row-major `height × width` map of f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Map {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Map {
    /// The display convention for a layer map: ReLU (unless the method keeps the sign),
    /// bilinear upsampling with half-pixel centres to `width × height`, min–max.
    pub fn displayed(&self, relu: bool, width: usize, height: usize) -> Map {
        let shown = if relu {
            self.clone().relu()
        } else {
            self.clone()
        };
        shown.resized(width, height).normalized()
    }

    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            width * height,
            "map data must be width × height"
        );
        Self {
            width,
            height,
            data,
        }
    }

    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    pub fn max(&self) -> f32 {
        self.data.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    pub fn min(&self) -> f32 {
        self.data.iter().copied().fold(f32::INFINITY, f32::min)
    }

    pub fn relu(mut self) -> Self {
        for v in &mut self.data {
            *v = v.max(0.0);
        }
        self
    }

    /// `(v − min) / (max − min)`; a constant (or non-finite) map becomes all zeros, never NaN.
    pub fn normalized(mut self) -> Self {
        let (lo, hi) = (self.min(), self.max());
        let range = hi - lo;
        if range > 0.0 && range.is_finite() {
            for v in &mut self.data {
                *v = (*v - lo) / range;
            }
        } else {
            self.data.fill(0.0);
        }
        self
    }

    /// Bilinear sample at map coordinates (pixel centres at integers), clamped at the borders.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.width - 1) as f32);
        let y = y.clamp(0.0, (self.height - 1) as f32);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x1, y0) * fx;
        let bottom = self.at(x0, y1) * (1.0 - fx) + self.at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// A mean filter over `(2r + 1)²` windows, clamped at the borders.
    pub fn box_blurred(&self, r: usize) -> Self {
        let (w, h) = (self.width, self.height);
        let pass = |src: &[f32], stride: usize, n: usize, lines: usize, step: usize| {
            let mut out = vec![0f32; src.len()];
            for l in 0..lines {
                for i in 0..n {
                    let (a, b) = (i.saturating_sub(r), (i + r).min(n - 1));
                    let s: f32 = (a..=b).map(|j| src[l * step + j * stride]).sum();
                    out[l * step + i * stride] = s / (b - a + 1) as f32;
                }
            }
            out
        };
        let rows = pass(&self.data, 1, w, h, w);
        Self::new(w, h, pass(&rows, w, h, w, 1))
    }

    /// Bilinear resampling with half-pixel centres and clamped borders: OpenCV's
    /// `INTER_LINEAR` for upscaling, PyTorch's `interpolate(mode="bilinear",
    /// align_corners=False)`.
    pub fn resized(&self, width: usize, height: usize) -> Self {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        self.resampled(
            &axis_weights(self.width, width),
            &axis_weights(self.height, height),
        )
    }

    /// Bilinear resampling with `align_corners = true`: the corner pixels' centres map onto
    /// each other (torch's `UpsamplingBilinear2d`, which Score-CAM uses for its masks).
    pub fn resized_align_corners(&self, width: usize, height: usize) -> Self {
        self.resampled(
            &axis_weights_corners(self.width, width),
            &axis_weights_corners(self.height, height),
        )
    }

    /// Horizontally mirrored.
    pub fn flipped(&self) -> Self {
        let data = self
            .data
            .chunks(self.width)
            .flat_map(|row| row.iter().rev().copied())
            .collect();
        Self::new(self.width, self.height, data)
    }

    fn resampled(&self, xs: &[(usize, usize, f32)], ys: &[(usize, usize, f32)]) -> Self {
        let (width, height) = (xs.len(), ys.len());
        let mut data = Vec::with_capacity(width * height);
        for &(y0, y1, ly) in ys {
            let r0 = &self.data[y0 * self.width..(y0 + 1) * self.width];
            let r1 = &self.data[y1 * self.width..(y1 + 1) * self.width];
            for &(x0, x1, lx) in xs {
                let top = (1.0 - lx) * r0[x0] + lx * r0[x1];
                let bottom = (1.0 - lx) * r1[x0] + lx * r1[x1];
                data.push((1.0 - ly) * top + ly * bottom);
            }
        }
        Self::new(width, height, data)
    }
}

/// For each output index, with `align_corners = true` (torch's `UpsamplingBilinear2d`): the
/// two source indices and the weight of the second.
fn axis_weights_corners(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = if n_out > 1 {
        (n_in - 1) as f32 / (n_out - 1) as f32
    } else {
        0.0
    };
    (0..n_out)
        .map(|i| {
            let src = i as f32 * scale;
            let i0 = (src as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

/// For each output index: the two source indices and the weight of the second.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|i| {
            let src = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (src as usize).min(n_in - 1);
            let i1 = (i0 + 1).min(n_in - 1);
            (i0, i1, src - i0 as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_map_normalizes_to_zeros() {
        let m = Map::new(2, 2, vec![3.0; 4]).normalized();
        assert_eq!(m.data, vec![0.0; 4]);
    }

    #[test]
    fn align_corners_upsampling_matches_torch() {
        // torch.nn.UpsamplingBilinear2d(size=(3, 3))(torch.tensor([[[[1., 2.], [3., 4.]]]]))
        let m = Map::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).resized_align_corners(3, 3);
        assert_eq!(m.data, [1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0]);
    }

    #[test]
    fn upsampling_matches_torch_bilinear() {
        // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4),
        //     mode="bilinear", align_corners=False)
        let m = Map::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).resized(4, 4);
        let want = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        for (a, b) in m.data.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", m.data);
        }
    }
}
