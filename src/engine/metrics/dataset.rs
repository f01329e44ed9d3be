//! The photos of a dataset folder and their ground truth, where there is any: an ImageFolder
//! layout (`DIR/<class>/*.jpg`), a labels CSV (`file,label[,x0,y0,x1,y1]`), or eval-loc's
//! `boxes.csv` (docs/report.md): what `camscope report` and the app's gallery read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::error::Error;
use crate::engine::io::labels::Labels;
use crate::engine::io::preprocess::{IMAGE_EXTENSIONS, InputMapping};
use crate::engine::maps::Map;
use crate::engine::metrics::faithfulness::{POINTING_TOLERANCE, mass_outside, pointing_game};
use crate::engine::metrics::localize::BBox;
use crate::engine::metrics::wsol::parse_box;

/// One photo: its path relative to the dataset folder, its class and boxes where known.
#[derive(Clone, Debug)]
pub struct Photo {
    pub file: String,
    pub class: Option<usize>,
    pub boxes: Vec<BBox>,
}

/// A wrong prediction at least this probable is "confident and wrong" (the report's and the
/// gallery's filter).
pub const CONFIDENT: f32 = 0.5;
/// A correct prediction whose map has more than this share of its mass outside the truth
/// boxes is "right for the wrong reason".
pub const WRONG_REASON_OUTSIDE: f32 = 0.5;

/// How one map sits against a photo's ground-truth boxes (docs/report.md); `None` where the
/// photo has no boxes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TruthScores {
    /// The best IoU of the map's box (`map_box`, photo pixels) with a truth box (0 without a
    /// map box).
    pub iou: Option<f32>,
    /// Whether the map's maximum lies in a truth box (15-pixel tolerance).
    pub pointing: Option<bool>,
    /// The map's mass outside every truth box, 0–1: the bias signal.
    pub outside: Option<f32>,
}

/// The scores of `map` (model-input resolution, `mapping` to photo pixels) and its box against
/// the `truth` boxes: what the report and the gallery show.
pub fn truth_scores(
    map: &Map,
    mapping: &InputMapping,
    map_box: Option<&BBox>,
    truth: &[BBox],
) -> TruthScores {
    if truth.is_empty() {
        return TruthScores::default();
    }
    let iou = map_box.map_or(0.0, |b| truth.iter().map(|g| b.iou(g)).fold(0f32, f32::max));
    TruthScores {
        iou: Some(iou),
        pointing: Some(pointing_game(map, mapping, truth, POINTING_TOLERANCE)),
        outside: mass_outside(map, mapping, truth),
    }
}

/// The class `label` names, or a message saying what it is not.
fn class_of(label: &str, labels: Option<&Labels>, num_classes: usize) -> Result<usize, String> {
    let found = match labels {
        Some(l) => l.find(label),
        None => label
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&i| i < num_classes),
    };
    found.ok_or_else(|| {
        format!(
            "{label:?} is neither a class index below {num_classes} nor one of the model's class \
             names{}",
            if num_classes == 1000 {
                " or ImageNet WordNet IDs"
            } else {
                ""
            }
        )
    })
}

/// The photos of `dir`, sorted by path, with their ground truth: from `csv` when given, else
/// from `dir/boxes.csv` when there is one, else from class folders when `dir` holds any, else
/// none.
///
/// Class folders are read as torchvision's ImageFolder: a folder named by a class index, a
/// class name or an ImageNet WordNet ID is that class; when no folder name is any of those and
/// there are exactly as many folders as classes, a folder's class is its position among the
/// sorted folder names — the index ImageFolder gave it when the model was trained.
pub fn photos(
    dir: &Path,
    csv: Option<&Path>,
    labels: Option<&Labels>,
    num_classes: usize,
) -> anyhow::Result<Vec<Photo>> {
    let boxes_csv = dir.join("boxes.csv");
    if let Some(csv) = csv.or(boxes_csv.is_file().then_some(boxes_csv.as_path())) {
        return from_csv(dir, csv, labels, num_classes);
    }
    let mut photos: Vec<Photo> = image_files(dir)?
        .iter()
        .map(|p| Photo {
            file: file_name(p),
            class: None,
            boxes: Vec::new(),
        })
        .collect();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::read(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut classes: Vec<Result<usize, String>> = folders
        .iter()
        .map(|f| class_of(&file_name(f), labels, num_classes))
        .collect();
    if !folders.is_empty() && classes.iter().all(Result::is_err) && folders.len() == num_classes {
        classes = (0..folders.len()).map(Ok).collect();
    }
    for (folder, class) in folders.iter().zip(classes) {
        let inside = image_files(folder)?;
        if inside.is_empty() {
            continue;
        }
        let class = class.map_err(|why| {
            anyhow::anyhow!(
                "{}: a class folder whose name {why} (ImageFolder layout: DIR/<class>/*.jpg; \
                 or give --labels CSV)",
                folder.display()
            )
        })?;
        photos.extend(inside.iter().map(|p| Photo {
            file: format!("{}/{}", file_name(folder), file_name(p)),
            class: Some(class),
            boxes: Vec::new(),
        }));
    }
    photos.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(photos)
}

/// A labels CSV: a header, then `file,label` or `file,label,x0,y0,x1,y1` rows (paths relative
/// to `dir`; several rows of one file are its boxes, all of one class).
fn from_csv(
    dir: &Path,
    csv: &Path,
    labels: Option<&Labels>,
    num_classes: usize,
) -> anyhow::Result<Vec<Photo>> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::read(csv, e))?;
    let mut by_file: BTreeMap<String, Photo> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: String| Error::BadCsv {
            path: csv.to_owned(),
            line: n + 1,
            reason: format!("{why}: {line:?}"),
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 2 && f.len() != 6 {
            return Err(bad("expected file,label or file,label,x0,y0,x1,y1".into()).into());
        }
        let class = class_of(f[1], labels, num_classes).map_err(bad)?;
        let b = if f.len() == 6 {
            Some(parse_box(&f[2..]).map_err(|why| bad(why.to_owned()))?)
        } else {
            None
        };
        let photo = by_file.entry(f[0].to_owned()).or_insert_with(|| Photo {
            file: f[0].to_owned(),
            class: Some(class),
            boxes: Vec::new(),
        });
        if photo.class != Some(class) {
            return Err(bad("a second class for this file".into()).into());
        }
        photo.boxes.extend(b);
    }
    anyhow::ensure!(
        !by_file.is_empty(),
        "{}: no rows after the header",
        csv.display()
    );
    for p in by_file.values() {
        let path = dir.join(&p.file);
        anyhow::ensure!(!path.is_dir(), "{}: a folder, not a photo", path.display());
    }
    Ok(by_file.into_values().collect())
}

/// The image files of `dir`, sorted by name.
pub fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::read(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// A path's last component, as records and summaries name a photo or a model file.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
