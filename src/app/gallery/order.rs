//! Which photos the gallery shows, and in what order: the same filters as the report's page
//! (docs/report.md), and a sort by any of the figures.

use super::{Computed, GalleryView};
use crate::engine::metrics::dataset::{CONFIDENT, Photo, WRONG_REASON_OUTSIDE};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    File,
    Confidence,
    Iou,
    Pointing,
    Outside,
    DeletionAuc,
    InsertionAuc,
    Disagreement,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::File,
        SortKey::Confidence,
        SortKey::Iou,
        SortKey::Pointing,
        SortKey::Outside,
        SortKey::DeletionAuc,
        SortKey::InsertionAuc,
        SortKey::Disagreement,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortKey::File => "file",
            SortKey::Confidence => "confidence",
            SortKey::Iou => "box IoU",
            SortKey::Pointing => "pointing game",
            SortKey::Outside => "map mass outside the box",
            SortKey::DeletionAuc => "deletion AUC",
            SortKey::InsertionAuc => "insertion AUC",
            SortKey::Disagreement => "disagreement of the models",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Filter {
    #[default]
    All,
    Correct,
    Wrong,
    ConfidentWrong,
    WrongReason,
    Disagree,
    Failed,
}

impl Filter {
    pub const ALL: [Filter; 7] = [
        Filter::All,
        Filter::Correct,
        Filter::Wrong,
        Filter::ConfidentWrong,
        Filter::WrongReason,
        Filter::Disagree,
        Filter::Failed,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Filter::All => "all photos",
            Filter::Correct => "correct",
            Filter::Wrong => "wrong",
            Filter::ConfidentWrong => "confident and wrong (≥ 50 %)",
            Filter::WrongReason => "right for the wrong reason (over half the map off the box)",
            Filter::Disagree => "the two models predict differently",
            Filter::Failed => "failed",
        }
    }
}

/// One photo's figures at threshold `tau`, as the grid shows and sorts them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    pub probability: Option<f32>,
    pub correct: Option<bool>,
    pub iou: Option<f32>,
    pub pointing: Option<bool>,
    pub outside: Option<f32>,
    pub deletion: Option<f32>,
    pub insertion: Option<f32>,
    pub disagreement: Option<f32>,
    pub failed: bool,
}

/// The figures of `photo` from `c` (`None`: not computed yet). The IoU is that of the small
/// map's largest box at `tau` with the best-matching truth box.
pub fn figures(photo: &Photo, c: Option<&Computed>, tau: f32) -> Figures {
    let Some(c) = c else {
        return Figures::default();
    };
    let Some(v) = c.verdict() else {
        return Figures {
            failed: true,
            ..Figures::default()
        };
    };
    let iou = (!photo.boxes.is_empty()).then(|| {
        v.map.boxes(&v.mapping, tau).first().map_or(0.0, |b| {
            photo.boxes.iter().map(|g| b.iou(g)).fold(0f32, f32::max)
        })
    });
    Figures {
        probability: Some(v.probability),
        correct: photo.class.map(|t| t == v.predicted),
        iou,
        pointing: v.pointing,
        outside: v.outside,
        deletion: v.auc.map(|a| a.0),
        insertion: v.auc.map(|a| a.1),
        disagreement: c.disagreement(),
        failed: false,
    }
}

fn keep(g: &GalleryView, photo: &Photo, c: Option<&Computed>, f: &Figures) -> bool {
    let v = c.and_then(Computed::verdict);
    if let Some(want) = g.predicted_class
        && v.map(|v| v.predicted) != Some(want)
    {
        return false;
    }
    if let Some(want) = g.true_class
        && photo.class != Some(want)
    {
        return false;
    }
    match g.filter {
        Filter::All => true,
        Filter::Correct => f.correct == Some(true),
        Filter::Wrong => f.correct == Some(false),
        Filter::ConfidentWrong => {
            f.correct == Some(false) && f.probability.is_some_and(|p| p >= CONFIDENT)
        }
        Filter::WrongReason => {
            f.correct == Some(true) && f.outside.is_some_and(|o| o > WRONG_REASON_OUTSIDE)
        }
        Filter::Disagree => f.disagreement.is_some_and(|d| d >= 1.0),
        Filter::Failed => f.failed,
    }
}

/// The value a photo sorts by (hits before misses for the pointing game).
fn value(key: SortKey, f: &Figures) -> Option<f32> {
    match key {
        SortKey::File => Some(0.0),
        SortKey::Confidence => f.probability,
        SortKey::Iou => f.iou,
        SortKey::Pointing => f.pointing.map(|p| p as u8 as f32),
        SortKey::Outside => f.outside,
        SortKey::DeletionAuc => f.deletion,
        SortKey::InsertionAuc => f.insertion,
        SortKey::Disagreement => f.disagreement,
    }
}

/// The indices of the photos the gallery's filters keep, sorted by its key (photos without
/// the figure last, ties by file).
pub fn order(
    photos: &[Photo],
    results: &[Option<std::sync::Arc<Computed>>],
    g: &GalleryView,
    tau: f32,
) -> Vec<usize> {
    let mut shown: Vec<(usize, Option<f32>)> = photos
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let c = results.get(i).and_then(|r| r.as_deref());
            let f = figures(p, c, tau);
            keep(g, p, c, &f).then(|| (i, value(g.sort, &f)))
        })
        .collect();
    let descending = g.descending;
    shown.sort_by(|(i, a), (j, b)| {
        let by_value = match (a, b) {
            (Some(a), Some(b)) if descending => b.total_cmp(a),
            (Some(a), Some(b)) => a.total_cmp(b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let by_file = photos[*i].file.cmp(&photos[*j].file);
        by_value.then(if g.sort == SortKey::File && descending {
            by_file.reverse()
        } else {
            by_file
        })
    });
    shown.into_iter().map(|(i, _)| i).collect()
}
