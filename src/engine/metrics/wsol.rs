//! Localization metrics of the weakly-supervised object localization (WSOL) literature.
//!
//! Following Choe et al. 2020, "Evaluating Weakly Supervised Object Localization Methods
//! Right" (the wsolevaluation code): maps are those of the ground-truth class; a threshold
//! sweep τ ∈ {0.00, 0.01, …, 0.99};
//! - BoxAcc(τ, δ): the share of images whose best estimated box has IoU ≥ δ with a
//!   ground-truth box;
//! - MaxBoxAcc: max over τ of BoxAcc(τ, 0.5), the largest component's box only;
//! - MaxBoxAccV2: the mean over δ ∈ {0.3, 0.5, 0.7} of max over τ of BoxAcc(τ, δ), with every
//!   component's box (the best one counts);
//! - Top-1 Loc (at the chosen τ): the top-1 class is right and IoU ≥ 0.5;
//! - GT-known Loc (at the chosen τ): IoU ≥ 0.5 for the ground-truth class's map.
//!
//! Differences from wsolevaluation, on purpose: the threshold is on the float map (≥ τ·max)
//! rather than a uint8 copy, component size is a pixel count rather than a contour's polygon
//! area, and IoU is computed on continuous pixel-edge boxes in original-photo coordinates.
//! All figures are percentages.

use std::path::Path;

use crate::engine::error::{Error, Result};
use crate::engine::maps::Map;
use crate::engine::metrics::localize::{BBox, components};

/// One image of an eval-loc dataset with its ground truth.
#[derive(Debug)]
pub struct Item {
    pub file: String,
    pub class: usize,
    pub boxes: Vec<BBox>,
}

/// A ground-truth box from its four CSV fields `x0,y0,x1,y1` (photo pixels, pixel edges), or
/// why they are not one: shared by eval-loc's `boxes.csv` and the report's labels CSV.
pub fn parse_box(fields: &[&str]) -> std::result::Result<BBox, &'static str> {
    let c: Vec<f32> = fields
        .iter()
        .map(|v| v.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| "a coordinate is not a number")?;
    let [x0, y0, x1, y1] = c[..] else {
        return Err("expected four coordinates x0,y0,x1,y1");
    };
    if c.iter().any(|v| !v.is_finite()) {
        return Err("a coordinate is not finite");
    }
    if c.iter().any(|&v| v < 0.0) {
        return Err("a coordinate is negative");
    }
    if x1 <= x0 || y1 <= y0 {
        return Err("the box is empty or inverted: expected x0 < x1 and y0 < y1");
    }
    Ok(BBox::new(x0, y0, x1, y1))
}

/// Parses `boxes.csv` (docs/eval-loc.md): a header, then `file,class,x0,y0,x1,y1` rows; the
/// rows of one file are its boxes (all of one class). `path` names the file in messages, each
/// with its line number.
pub fn parse_boxes_csv(text: &str, path: &Path) -> Result<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for (n, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| Error::BadCsv {
            path: path.to_owned(),
            line: n + 1,
            reason: format!("{why}: {line:?}"),
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 6 {
            return Err(bad("expected 6 fields file,class,x0,y0,x1,y1"));
        }
        let class: usize = f[1].parse().map_err(|_| bad("class is not a number"))?;
        let b = parse_box(&f[2..]).map_err(bad)?;
        match index.get(f[0]) {
            Some(&i) if items[i].class != class => {
                return Err(bad("a second class for this file"));
            }
            Some(&i) => items[i].boxes.push(b),
            None => {
                index.insert(f[0].to_owned(), items.len());
                items.push(Item {
                    file: f[0].to_owned(),
                    class,
                    boxes: vec![b],
                });
            }
        }
    }
    if items.is_empty() {
        return Err(Error::BadCsv {
            path: path.to_owned(),
            line: text.lines().count().max(1),
            reason: "no rows after the header".to_owned(),
        });
    }
    Ok(items)
}

pub const DELTAS_V2: [f32; 3] = [0.3, 0.5, 0.7];

/// Accumulates localization results image by image.
pub struct LocEvaluator {
    tau: f32,
    thresholds: Vec<f32>,
    images: usize,
    correct_class: usize,
    top1_loc: usize,
    gt_known_loc: usize,
    /// Per τ: images with IoU ≥ 0.5 for the largest component.
    v1: Vec<usize>,
    /// Per δ, per τ: images with IoU ≥ δ for the best of all components.
    v2: [Vec<usize>; 3],
    /// Images whose map's maximum is within the pointing game's tolerance of a box.
    pointing_hits: usize,
}

/// One image's outcome for one method: what [`LocEvaluator`] counts. The per-threshold hits
/// are written as strings of `0` / `1` (one character per τ) in a run's log.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageLoc {
    /// The top-1 class is the ground truth's.
    pub correct: bool,
    /// IoU ≥ 0.5 at the chosen τ (GT-known Loc; Top-1 Loc when also `correct`).
    pub gt_known: bool,
    /// Per τ: the largest component's IoU ≥ 0.5.
    #[serde(with = "bits")]
    pub v1: Vec<bool>,
    /// Per δ of [`DELTAS_V2`], per τ: the best component's IoU ≥ δ.
    #[serde(with = "bits_3")]
    pub v2: [Vec<bool>; 3],
    /// The pointing game's hit.
    pub pointing: bool,
}

mod bits {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn to_string(v: &[bool]) -> String {
        v.iter().map(|&b| if b { '1' } else { '0' }).collect()
    }

    pub fn from_str(s: &str) -> Option<Vec<bool>> {
        s.chars()
            .map(|c| match c {
                '0' => Some(false),
                '1' => Some(true),
                _ => None,
            })
            .collect()
    }

    pub fn serialize<S: Serializer>(v: &[bool], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_string(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<bool>, D::Error> {
        let s = String::deserialize(d)?;
        from_str(&s).ok_or_else(|| D::Error::custom("expected a string of 0 and 1"))
    }
}

mod bits_3 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeTuple};

    pub fn serialize<S: Serializer>(v: &[Vec<bool>; 3], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(3)?;
        for bits in v {
            t.serialize_element(&super::bits::to_string(bits))?;
        }
        t.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Vec<bool>; 3], D::Error> {
        let [a, b, c] = <[String; 3]>::deserialize(d)?;
        let parse =
            |s: &str| super::bits::from_str(s).ok_or_else(|| D::Error::custom("expected 0 and 1"));
        Ok([parse(&a)?, parse(&b)?, parse(&c)?])
    }
}

/// The figures for one method, in percent.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LocMetrics {
    pub images: usize,
    pub threshold: f32,
    pub accuracy: f32,
    pub top1_loc: f32,
    pub gt_known_loc: f32,
    pub max_box_acc: f32,
    /// The τ at which MaxBoxAcc is reached.
    pub max_box_acc_threshold: f32,
    pub max_box_acc_v2: f32,
    /// The pointing game (Zhang et al. 2018): the share of images whose map's maximum lies
    /// within 15 pixels of a ground-truth box (docs/metrics.md).
    pub pointing_game: f32,
}

impl LocEvaluator {
    /// `tau`: the threshold for Top-1 Loc and GT-known Loc.
    pub fn new(tau: f32) -> Self {
        Self::with_thresholds(tau, (0..100).map(|i| i as f32 / 100.0).collect())
    }

    pub fn with_thresholds(tau: f32, thresholds: Vec<f32>) -> Self {
        let n = thresholds.len();
        Self {
            tau,
            thresholds,
            images: 0,
            correct_class: 0,
            top1_loc: 0,
            gt_known_loc: 0,
            v1: vec![0; n],
            v2: [vec![0; n], vec![0; n], vec![0; n]],
            pointing_hits: 0,
        }
    }

    /// Records the pointing game's outcome for the image just added
    /// ([`crate::engine::metrics::faithfulness::pointing_game`]).
    pub fn add_pointing(&mut self, hit: bool) {
        self.pointing_hits += hit as usize;
    }

    /// Adds one image: its top-1 class, the ground truth, and the ground-truth class's map;
    /// `to_gt` maps a box in map pixels to the ground truth's coordinates.
    pub fn add(
        &mut self,
        predicted: usize,
        gt_class: usize,
        gt_boxes: &[BBox],
        map: &Map,
        to_gt: impl Fn(&BBox) -> BBox,
    ) {
        let one = self.measure(predicted, gt_class, gt_boxes, map, to_gt);
        self.add_image(&one);
    }

    /// One image's outcome at every threshold, without adding it: what [`Self::add_image`]
    /// counts. A dataset's shards record these, and merging them counts them.
    pub fn measure(
        &self,
        predicted: usize,
        gt_class: usize,
        gt_boxes: &[BBox],
        map: &Map,
        to_gt: impl Fn(&BBox) -> BBox,
    ) -> ImageLoc {
        let best_iou = |boxes: &[BBox]| {
            boxes
                .iter()
                .map(&to_gt)
                .flat_map(|b| gt_boxes.iter().map(move |g| b.iou(g)))
                .fold(0f32, f32::max)
        };
        let at_tau = components(&map.data, map.width, map.height, self.tau);
        let iou = best_iou(
            &at_tau
                .first()
                .map(|c| c.bbox)
                .into_iter()
                .collect::<Vec<_>>(),
        );
        let n = self.thresholds.len();
        let mut one = ImageLoc {
            correct: predicted == gt_class,
            gt_known: iou >= 0.5,
            v1: vec![false; n],
            v2: [vec![false; n], vec![false; n], vec![false; n]],
            pointing: false,
        };
        for (i, &t) in self.thresholds.iter().enumerate() {
            let comps = components(&map.data, map.width, map.height, t);
            let boxes: Vec<BBox> = comps.iter().map(|c| c.bbox).collect();
            one.v1[i] = best_iou(&boxes[..boxes.len().min(1)]) >= 0.5;
            let all = best_iou(&boxes);
            for (d, &delta) in DELTAS_V2.iter().enumerate() {
                one.v2[d][i] = all >= delta;
            }
        }
        one
    }

    /// Whether `one` was measured at this evaluator's thresholds (a record read back from a
    /// log is checked before it is counted).
    pub fn fits(&self, one: &ImageLoc) -> bool {
        let n = self.thresholds.len();
        one.v1.len() == n && one.v2.iter().all(|v| v.len() == n)
    }

    /// Counts one image measured by [`Self::measure`] (its pointing game included).
    pub fn add_image(&mut self, one: &ImageLoc) {
        debug_assert!(self.fits(one));
        self.images += 1;
        self.correct_class += one.correct as usize;
        if one.gt_known {
            self.gt_known_loc += 1;
            self.top1_loc += one.correct as usize;
        }
        for (count, &hit) in self.v1.iter_mut().zip(&one.v1) {
            *count += hit as usize;
        }
        for (counts, hits) in self.v2.iter_mut().zip(&one.v2) {
            for (count, &hit) in counts.iter_mut().zip(hits) {
                *count += hit as usize;
            }
        }
        self.pointing_hits += one.pointing as usize;
    }

    pub fn metrics(&self) -> LocMetrics {
        let pct = |n: usize| {
            if self.images == 0 {
                0.0
            } else {
                100.0 * n as f32 / self.images as f32
            }
        };
        // The first τ reaching the maximum.
        let (best_i, best) =
            self.v1.iter().enumerate().fold(
                (0, 0),
                |(bi, b), (i, &n)| if n > b { (i, n) } else { (bi, b) },
            );
        let v2 = self
            .v2
            .iter()
            .map(|counts| pct(counts.iter().copied().max().unwrap_or(0)))
            .sum::<f32>()
            / DELTAS_V2.len() as f32;
        LocMetrics {
            images: self.images,
            threshold: self.tau,
            accuracy: pct(self.correct_class),
            top1_loc: pct(self.top1_loc),
            gt_known_loc: pct(self.gt_known_loc),
            max_box_acc: pct(best),
            max_box_acc_threshold: self.thresholds.get(best_i).copied().unwrap_or(0.0),
            max_box_acc_v2: v2,
            pointing_game: pct(self.pointing_hits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10×10 map with a strong 4×4 blob at (1..5, 1..5) of value 1.0 and a weak 3×3 blob
    /// at (6..9, 6..9) of value 0.4.
    fn two_blobs() -> Map {
        let mut d = vec![0f32; 100];
        for y in 1..5 {
            for x in 1..5 {
                d[y * 10 + x] = 1.0;
            }
        }
        for y in 6..9 {
            for x in 6..9 {
                d[y * 10 + x] = 0.4;
            }
        }
        Map::new(10, 10, d)
    }

    fn id(b: &BBox) -> BBox {
        *b
    }

    #[test]
    fn sweep_by_hand() {
        // Ground truth: the weak blob. Thresholds 0.0, 0.3, 0.5.
        //  τ=0.0: one component, the whole map (IoU 9/100 = 0.09);
        //  τ=0.3: two components; largest = strong blob (IoU 0), all → weak blob IoU 1;
        //  τ=0.5: the strong blob only (IoU 0).
        let gt = [BBox::new(6., 6., 9., 9.)];
        let mut e = LocEvaluator::with_thresholds(0.3, vec![0.0, 0.3, 0.5]);
        e.add(4, 4, &gt, &two_blobs(), id);
        let m = e.metrics();
        assert_eq!(m.accuracy, 100.0);
        assert_eq!(m.gt_known_loc, 0.0); // largest component at τ=0.3 is the strong blob
        assert_eq!(m.top1_loc, 0.0);
        assert_eq!(m.max_box_acc, 0.0);
        // V2: all components at τ=0.3 reach IoU 1 ≥ every δ.
        assert_eq!(m.max_box_acc_v2, 100.0);

        // Ground truth: the strong blob, a second image, wrong class.
        let gt = [BBox::new(1., 1., 5., 5.)];
        e.add(3, 4, &gt, &two_blobs(), id);
        let m = e.metrics();
        assert_eq!(m.images, 2);
        assert_eq!(m.accuracy, 50.0);
        assert_eq!(m.gt_known_loc, 50.0);
        assert_eq!(m.top1_loc, 0.0); // localized, but the class was wrong
        assert_eq!(m.max_box_acc, 50.0);
        assert_eq!(m.max_box_acc_threshold, 0.3);
        assert_eq!(m.max_box_acc_v2, 100.0);
    }

    /// A dataset's shards record each image's outcome and merge counts them: counting the
    /// records read back from their JSON gives the figures of counting the images directly.
    #[test]
    fn measured_images_read_back_count_the_same() {
        let mut direct = LocEvaluator::with_thresholds(0.3, vec![0.0, 0.3, 0.5]);
        let mut merged = LocEvaluator::with_thresholds(0.3, vec![0.0, 0.3, 0.5]);
        for (gt, predicted) in [
            (BBox::new(6., 6., 9., 9.), 4),
            (BBox::new(1., 1., 5., 5.), 3),
        ] {
            direct.add(predicted, 4, &[gt], &two_blobs(), id);
            let one = merged.measure(predicted, 4, &[gt], &two_blobs(), id);
            let text = serde_json::to_string(&one).unwrap();
            assert!(text.contains(r#""v1":"#), "{text}");
            let back: ImageLoc = serde_json::from_str(&text).unwrap();
            assert_eq!(back, one);
            assert!(merged.fits(&back));
            merged.add_image(&back);
        }
        assert_eq!(direct.metrics(), merged.metrics());
        assert!(!merged.fits(&LocEvaluator::new(0.2).measure(0, 0, &[], &two_blobs(), id)));
        assert!(
            serde_json::from_str::<ImageLoc>(
                r#"{"correct":true,"gt_known":true,"v1":"01x","v2":["0","0","0"],"pointing":false}"#
            )
            .is_err()
        );
    }

    #[test]
    fn v2_averages_over_deltas() {
        // Estimated box = the strong blob (4×4); the ground truth is 4×8 and contains it:
        // IoU 16/32 = 0.5 → passes δ 0.3 and 0.5, fails 0.7.
        let mut e = LocEvaluator::with_thresholds(0.5, vec![0.5]);
        e.add(0, 0, &[BBox::new(1., 1., 5., 9.)], &two_blobs(), id);
        let m = e.metrics();
        assert_eq!(m.max_box_acc, 100.0);
        assert!((m.max_box_acc_v2 - 200.0 / 3.0).abs() < 1e-4);
    }
}
