//! From a map to boxes (the CAM paper's protocol): keep pixels ≥ τ · max, group them into
//! 8-connected components, and take bounding boxes — of the largest component, or of all.

/// An axis-aligned box in pixel-edge coordinates: pixel `x` spans `[x, x + 1)`, so a box
/// holding columns 3..=5 is `x0 = 3, x1 = 6`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self { x0, y0, x1, y1 }
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union; 0 when both are empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let h = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// `[x0, y0, x1, y1]` rounded outward to whole pixels.
    pub fn to_pixels(&self) -> [i64; 4] {
        [
            self.x0.floor() as i64,
            self.y0.floor() as i64,
            self.x1.ceil() as i64,
            self.y1.ceil() as i64,
        ]
    }

    pub fn map(&self, f: impl Fn(f32, f32) -> (f32, f32)) -> BBox {
        let (x0, y0) = f(self.x0, self.y0);
        let (x1, y1) = f(self.x1, self.y1);
        BBox::new(x0, y0, x1, y1)
    }

    pub fn clamp_to(&self, w: f32, h: f32) -> BBox {
        BBox::new(
            self.x0.clamp(0.0, w),
            self.y0.clamp(0.0, h),
            self.x1.clamp(0.0, w),
            self.y1.clamp(0.0, h),
        )
    }
}

/// One 8-connected component of the thresholded map.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Pixels in the component.
    pub area: usize,
    pub bbox: BBox,
}

/// Components of `{v ≥ τ · max}` in a row-major `width × height` map, largest first (ties: the
/// one met first in row-major order). A map whose max is not positive, or with a non-finite
/// value (from NaN or infinite weights or inputs), has none: no box is drawn from garbage.
pub fn components(data: &[f32], width: usize, height: usize, tau: f32) -> Vec<Component> {
    if data.iter().any(|v| !v.is_finite()) {
        return Vec::new();
    }
    let max = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max.is_nan() || max <= 0.0 {
        return Vec::new();
    }
    let cut = tau * max;
    let on: Vec<bool> = data.iter().map(|&v| v >= cut).collect();
    let mut seen = vec![false; on.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..on.len() {
        if !on[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let mut area = 0;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            area += 1;
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if on[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(Component {
            area,
            bbox: BBox::new(x0 as f32, y0 as f32, (x1 + 1) as f32, (y1 + 1) as f32),
        });
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.area));
    out
}

/// Bounding boxes at threshold `tau`: the largest component's only, or every component's
/// (largest first).
pub fn boxes(data: &[f32], width: usize, height: usize, tau: f32, all: bool) -> Vec<BBox> {
    let mut c = components(data, width, height, tau);
    if !all {
        c.truncate(1);
    }
    c.into_iter().map(|c| c.bbox).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rows: &[&str]) -> (Vec<f32>, usize, usize) {
        let w = rows[0].len();
        let data = rows
            .iter()
            .flat_map(|r| r.chars().map(|c| c.to_digit(10).unwrap() as f32 / 9.0))
            .collect();
        (data, w, rows.len())
    }

    #[test]
    fn a_map_with_a_non_finite_value_has_no_box() {
        let (mut d, w, h) = map(&["090", "990"]);
        assert_eq!(boxes(&d, w, h, 0.2, false).len(), 1);
        d[0] = f32::NAN;
        assert!(boxes(&d, w, h, 0.2, true).is_empty());
        d[0] = f32::INFINITY;
        assert!(boxes(&d, w, h, 0.2, true).is_empty());
    }

    #[test]
    fn components_are_8_connected_and_sorted_by_area() {
        let (d, w, h) = map(&[
            "900000", //
            "090000", // diagonal neighbours join
            "000099", "000099", "000099",
        ]);
        let c = components(&d, w, h, 0.5);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].area, 6);
        assert_eq!(c[0].bbox, BBox::new(4., 2., 6., 5.));
        assert_eq!(c[1].area, 2);
        assert_eq!(c[1].bbox, BBox::new(0., 0., 2., 2.));
    }

    #[test]
    fn threshold_is_relative_to_the_max_and_inclusive() {
        let (d, w, h) = map(&["2400", "0000", "0008"]);
        // max 8/9; tau 0.5 keeps >= 4/9: the 4 and the 8.
        let b = boxes(&d, w, h, 0.5, true);
        assert_eq!(
            b,
            vec![BBox::new(1., 0., 2., 1.), BBox::new(3., 2., 4., 3.)]
        );
        // tau 0.25 keeps >= 2/9 too; the 2 and 4 join.
        let b = boxes(&d, w, h, 0.25, false);
        assert_eq!(b, vec![BBox::new(0., 0., 2., 1.)]);
        assert!(boxes(&[0.0; 4], 2, 2, 0.2, true).is_empty());
    }

    #[test]
    fn iou_by_hand() {
        let a = BBox::new(0., 0., 4., 4.);
        let b = BBox::new(2., 2., 6., 6.);
        assert!((a.iou(&b) - 4.0 / 28.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(5., 5., 6., 6.)), 0.0);
    }
}
