//! What the libraries write next to their weights: HuggingFace transformers' `config.json`
//! (`model_type`, `id2label`, ResNet's `downsample_in_bottleneck` …) and
//! `preprocessor_config.json` (`image_mean`, `image_std`, `size`, `crop_pct`, `resample`), and
//! timm's `config.json` (`architecture`, `num_classes`, `label_names`, `pretrained_cfg` with
//! `mean`, `std`, `input_size`, `crop_pct`, `interpolation`).
//!
//! Both files are looked for in the checkpoint's folder, which is how `save_pretrained` and
//! timm's `save_for_hf` / the Hub lay them out. A `config.json` that is neither kind is not
//! ours to read and is ignored; one that is unreadable, malformed or contradicts the weights
//! (another class count) is an error naming it, since its class names or preprocessing would
//! otherwise be silently wrong.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::error::{Error, Result};
use crate::engine::io::preprocess::{CropOffset, Interpolation, Preprocess, ResizeMode};

/// Larger metadata files than this are refused (ImageNet-21k's label list is ~1 MB).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// Which library wrote the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Library {
    Transformers,
    Timm,
}

/// Preprocessing fields found in metadata; each overrides the architecture's default.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PreprocessHints {
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
    pub mode: Option<ResizeMode>,
    pub interpolation: Option<Interpolation>,
    pub crop_offset: Option<CropOffset>,
}

impl PreprocessHints {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `base` with these fields put in.
    pub fn apply(&self, base: Preprocess) -> Preprocess {
        Preprocess {
            mode: self.mode.unwrap_or(base.mode),
            mean: self.mean.unwrap_or(base.mean),
            std: self.std.unwrap_or(base.std),
            interpolation: self.interpolation.unwrap_or(base.interpolation),
            crop_offset: self.crop_offset.unwrap_or(base.crop_offset),
        }
    }
}

/// The metadata of one checkpoint (empty when there is none).
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    /// The files that were read.
    pub files: Vec<PathBuf>,
    pub library: Option<Library>,
    /// timm's `architecture` or transformers' `model_type`.
    pub architecture: Option<String>,
    /// Class names by index (transformers' `id2label`, timm's `label_names`), when real names
    /// are given (transformers' `LABEL_0` placeholders are not).
    pub labels: Option<Vec<String>>,
    /// The class count the metadata states.
    pub num_classes: Option<usize>,
    pub preprocess: PreprocessHints,
    /// transformers' `config.json`, whole, for the builders that need more of it.
    pub hf_config: Option<Value>,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    let bad = |reason: String| Error::BadMetadata {
        path: path.to_owned(),
        reason,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::read(path, e)),
    };
    if meta.len() > MAX_JSON_BYTES {
        return Err(bad(format!(
            "is {} bytes; metadata larger than {MAX_JSON_BYTES} bytes is refused",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| bad(format!("is not valid JSON: {e}")))
}

fn triple(v: &Value) -> Option<[f32; 3]> {
    match v {
        Value::Array(a) if a.len() == 3 => {
            let f: Vec<f32> = a
                .iter()
                .filter_map(|x| x.as_f64().map(|x| x as f32))
                .collect();
            (f.len() == 3).then(|| [f[0], f[1], f[2]])
        }
        // One number for all three channels (some processors store a scalar).
        Value::Number(n) => n.as_f64().map(|x| [x as f32; 3]),
        _ => None,
    }
}

fn as_size(v: Option<&Value>) -> Option<u32> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=8192).contains(n))
}

/// `{"height": n, "width": n}` as `n`; none for a non-square size.
fn square_size(v: &Value) -> Option<u32> {
    let (h, w) = (as_size(v.get("height"))?, as_size(v.get("width"))?);
    (h == w).then_some(h)
}

/// timm's eval transform: `Resize(floor(size / crop_pct))` then `CenterCrop(size)`.
fn crop_mode(size: u32, crop_pct: f64) -> Option<ResizeMode> {
    if !(crop_pct > 0.0 && crop_pct <= 1.0) {
        return None;
    }
    let resize = (size as f64 / crop_pct).floor() as u32;
    Some(ResizeMode::CenterCrop { resize, crop: size })
}

fn interpolation_named(name: &str) -> Option<Interpolation> {
    match name {
        "bilinear" => Some(Interpolation::Bilinear),
        "bicubic" => Some(Interpolation::Bicubic),
        "nearest" => Some(Interpolation::Nearest),
        _ => None,
    }
}

impl Metadata {
    /// Reads `config.json` and `preprocessor_config.json` next to `checkpoint`, if present.
    pub fn next_to(checkpoint: &Path) -> Result<Self> {
        let dir = checkpoint
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut meta = Self::default();
        let config_path = dir.join("config.json");
        if let Some(config) = read_json(&config_path)? {
            let read = if config.get("pretrained_cfg").is_some()
                || config.get("architecture").is_some_and(Value::is_string)
            {
                meta.read_timm(&config, &config_path)?;
                true
            } else if config.get("model_type").is_some_and(Value::is_string) {
                meta.read_transformers(&config, &config_path)?;
                true
            } else {
                false
            };
            if read {
                meta.files.push(config_path);
            }
        }
        let pre_path = dir.join("preprocessor_config.json");
        if let Some(pre) = read_json(&pre_path)? {
            meta.read_hf_preprocessor(&pre, &pre_path)?;
            meta.files.push(pre_path);
        }
        Ok(meta)
    }

    fn read_timm(&mut self, c: &Value, path: &Path) -> Result<()> {
        self.library = Some(Library::Timm);
        self.architecture = c
            .get("architecture")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.num_classes = c
            .get("num_classes")
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        self.labels = match c.get("label_names") {
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect(),
            ),
            Some(Value::Object(_)) => Some(indexed_names(c.get("label_names"), path)?),
            _ => None,
        };
        let Some(p) = c.get("pretrained_cfg") else {
            return Ok(());
        };
        let h = &mut self.preprocess;
        h.mean = p.get("mean").and_then(triple);
        h.std = p.get("std").and_then(triple);
        h.interpolation = p
            .get("interpolation")
            .and_then(Value::as_str)
            .and_then(interpolation_named);
        let size = p.get("input_size").and_then(Value::as_array).and_then(|a| {
            let (hh, ww) = (as_size(a.get(1))?, as_size(a.get(2))?);
            (hh == ww).then_some(hh)
        });
        let crop_pct = p.get("crop_pct").and_then(Value::as_f64).unwrap_or(0.875);
        h.mode = match (size, p.get("crop_mode").and_then(Value::as_str)) {
            (Some(s), Some("squash")) => Some(ResizeMode::Stretch { size: s }),
            (Some(s), _) => crop_mode(s, crop_pct),
            (None, _) => None,
        };
        Ok(())
    }

    fn read_transformers(&mut self, c: &Value, path: &Path) -> Result<()> {
        self.library = Some(Library::Transformers);
        self.architecture = c
            .get("model_type")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if c.get("id2label").is_some() {
            let names = indexed_names(c.get("id2label"), path)?;
            self.num_classes = Some(names.len());
            let placeholder = names
                .iter()
                .enumerate()
                .all(|(i, n)| *n == format!("LABEL_{i}"));
            if !placeholder {
                self.labels = Some(names);
            }
        }
        self.hf_config = Some(c.clone());
        Ok(())
    }

    fn read_hf_preprocessor(&mut self, p: &Value, path: &Path) -> Result<()> {
        let h = &mut self.preprocess;
        h.mean = p.get("image_mean").and_then(triple).or(h.mean);
        h.std = p.get("image_std").and_then(triple).or(h.std);
        // PIL's resample codes: 0 nearest, 2 bilinear, 3 bicubic.
        h.interpolation = match p.get("resample").and_then(Value::as_u64) {
            Some(0) => Some(Interpolation::Nearest),
            Some(2) => Some(Interpolation::Bilinear),
            Some(3) => Some(Interpolation::Bicubic),
            _ => h.interpolation,
        };
        let kind = ["image_processor_type", "feature_extractor_type"]
            .iter()
            .find_map(|k| p.get(*k).and_then(Value::as_str))
            .unwrap_or("");
        let size = p.get("size");
        let shortest = as_size(size).or_else(|| as_size(size.and_then(|s| s.get("shortest_edge"))));
        let square = size.and_then(square_size);
        let crop = p
            .get("crop_size")
            .and_then(|c| as_size(Some(c)).or_else(|| square_size(c)));
        let do_crop = p
            .get("do_center_crop")
            .and_then(Value::as_bool)
            .unwrap_or(crop.is_some());
        let mode = if kind.starts_with("ConvNext") {
            // ConvNextImageProcessor: below 384, resize the shorter side to
            // shortest_edge / crop_pct and crop shortest_edge; else warp to a square.
            let crop_pct = p
                .get("crop_pct")
                .and_then(Value::as_f64)
                .unwrap_or(224.0 / 256.0);
            match shortest {
                Some(s) if s < 384 => crop_mode(s, crop_pct),
                Some(s) => Some(ResizeMode::Stretch { size: s }),
                None => None,
            }
        } else {
            match (shortest, square, crop, do_crop) {
                (Some(s), _, Some(c), true) if c <= s => {
                    Some(ResizeMode::CenterCrop { resize: s, crop: c })
                }
                (_, Some(s), _, _) => Some(ResizeMode::Stretch { size: s }),
                (Some(s), _, _, _) => Some(ResizeMode::CenterCrop { resize: s, crop: s }),
                _ => None,
            }
        };
        if mode.is_none() && size.is_some() {
            return Err(Error::BadMetadata {
                path: path.to_owned(),
                reason: format!(
                    "its size {} is not one camscope can follow (a square input is needed)",
                    size.map(Value::to_string).unwrap_or_default()
                ),
            });
        }
        h.mode = mode.or(h.mode);
        if h.mode.is_some() {
            h.crop_offset = Some(CropOffset::Floor);
        }
        Ok(())
    }

    /// The name of the metadata, for people: `config.json (timm), preprocessor_config.json`.
    pub fn describe(&self) -> Option<String> {
        if self.files.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let lib = match self.library {
            Some(Library::Timm) => " (timm)",
            Some(Library::Transformers) => " (transformers)",
            None => "",
        };
        Some(format!("{}{lib}", names.join(" + ")))
    }

    /// An error unless the metadata agrees with a head of `num_classes` classes.
    pub fn check_classes(&self, num_classes: usize) -> Result<()> {
        let stated = self
            .num_classes
            .or_else(|| self.labels.as_ref().map(Vec::len));
        match (stated, self.files.first()) {
            (Some(n), Some(path)) if n != num_classes => Err(Error::BadMetadata {
                path: path.clone(),
                reason: format!(
                    "describes {} but the checkpoint's classifier has {} — is it the \
                     metadata of another model?",
                    crate::engine::error::classes(n),
                    crate::engine::error::classes(num_classes)
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// `{"0": "tench", "1": "goldfish", …}` as a list; every index from 0 must be there once.
fn indexed_names(v: Option<&Value>, path: &Path) -> Result<Vec<String>> {
    let bad = |reason: String| Error::BadMetadata {
        path: path.to_owned(),
        reason,
    };
    let Some(Value::Object(map)) = v else {
        return Err(bad(
            "its class names are not an index → name object".to_owned()
        ));
    };
    let mut names = vec![None; map.len()];
    for (k, v) in map {
        let i: usize = k
            .parse()
            .ok()
            .filter(|i| *i < map.len())
            .ok_or_else(|| bad(format!("class index {k:?} is not one of 0..{}", map.len())))?;
        names[i] = Some(v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    }
    Ok(names.into_iter().map(Option::unwrap_or_default).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn timm_pretrained_cfg_gives_crop_pct_bicubic_and_labels() {
        let d = dir_with(&[(
            "config.json",
            r#"{"architecture": "resnet50", "num_classes": 2, "label_names": ["cat", "dog"],
               "pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic",
               "crop_pct": 0.95, "crop_mode": "center", "mean": [0.5, 0.5, 0.5],
               "std": [0.25, 0.25, 0.25]}}"#,
        )]);
        let m = Metadata::next_to(&d.path().join("model.safetensors")).unwrap();
        assert_eq!(m.library, Some(Library::Timm));
        assert_eq!(
            m.labels.as_deref(),
            Some(&["cat".to_owned(), "dog".to_owned()][..])
        );
        let p = m.preprocess.apply(Preprocess::imagenet());
        // timm: floor(224 / 0.95) = 235.
        assert_eq!(
            p.mode,
            ResizeMode::CenterCrop {
                resize: 235,
                crop: 224
            }
        );
        assert_eq!(p.interpolation, Interpolation::Bicubic);
        assert_eq!(p.mean, [0.5; 3]);
        assert!(m.check_classes(2).is_ok());
        let e = m.check_classes(10).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("2 classes"), "{e}");
    }

    #[test]
    fn transformers_convnext_processor_and_placeholder_labels() {
        let d = dir_with(&[
            (
                "config.json",
                r#"{"model_type": "resnet", "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}"#,
            ),
            (
                "preprocessor_config.json",
                r#"{"crop_pct": 0.875, "image_processor_type": "ConvNextImageProcessor",
                   "image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2],
                   "resample": 3, "size": {"shortest_edge": 224}}"#,
            ),
        ]);
        let m = Metadata::next_to(&d.path().join("model.safetensors")).unwrap();
        assert_eq!(m.library, Some(Library::Transformers));
        assert_eq!(m.labels, None);
        assert_eq!(m.num_classes, Some(2));
        let p = m.preprocess.apply(Preprocess::imagenet());
        assert_eq!(
            p.mode,
            ResizeMode::CenterCrop {
                resize: 256,
                crop: 224
            }
        );
        assert_eq!(p.mean, [0.4; 3]);
        assert_eq!(p.interpolation, Interpolation::Bicubic);
    }

    #[test]
    fn foreign_config_is_ignored_and_broken_one_is_named() {
        let d = dir_with(&[("config.json", r#"{"learning_rate": 0.1}"#)]);
        let m = Metadata::next_to(&d.path().join("m.safetensors")).unwrap();
        assert!(m.files.is_empty() && m.preprocess.is_empty());
        let d = dir_with(&[("config.json", "{\"model_type\": ")]);
        let e = Metadata::next_to(&d.path().join("m.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.json") && e.contains("not valid JSON"),
            "{e}"
        );
    }
}
