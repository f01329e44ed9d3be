//! Class names: the 1000 ImageNet classes built in, or one name per line from a file.

use std::path::Path;

use crate::engine::error::{Error, Result};

const IMAGENET: &str = include_str!("../../../assets/imagenet_classes.txt");
/// ImageNet's WordNet IDs in class order: the folder names of its ImageFolder layout.
const IMAGENET_SYNSETS: &str = include_str!("../../../assets/imagenet_synsets.txt");

/// Class names indexed by class.
#[derive(Clone, Debug)]
pub struct Labels(Vec<String>);

impl Labels {
    /// torchvision's ImageNet-1k category names.
    pub fn imagenet() -> Self {
        Self(IMAGENET.lines().map(str::to_owned).collect())
    }

    /// Reads one name per line; the file must name exactly `num_classes` classes.
    pub fn from_file(path: &Path, num_classes: usize) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
        let names: Vec<String> = text
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        if names.len() != num_classes {
            return Err(Error::BadLabels {
                path: path.to_owned(),
                reason: format!(
                    "has {} names, the model has {}",
                    names.len(),
                    crate::engine::error::classes(num_classes)
                ),
            });
        }
        Ok(Self(names))
    }

    /// The built-in names when they fit the model, else none.
    pub fn for_classes(num_classes: usize) -> Option<Self> {
        (num_classes == 1000).then(Self::imagenet)
    }

    /// The names the checkpoint's metadata gives (transformers' `id2label`, timm's
    /// `label_names`), else the built-in ImageNet names for 1000-class heads.
    pub fn for_model(model: &crate::engine::Model) -> Option<Self> {
        match model.class_names() {
            Some(names) => Some(Self(names.to_vec())),
            None => Self::for_classes(model.num_classes()),
        }
    }

    pub fn name(&self, class: usize) -> Option<&str> {
        self.0.get(class).map(String::as_str)
    }

    /// The class a ground-truth label names: its index (`281`), one of these names compared
    /// without case and with `_` as a space (`tiger cat`, `Tiger_Cat`), or — for 1000
    /// classes — an ImageNet WordNet ID (`n02123159`, an ImageNet folder's name).
    pub fn find(&self, label: &str) -> Option<usize> {
        let label = label.trim();
        if let Ok(i) = label.parse::<usize>() {
            return (i < self.0.len()).then_some(i);
        }
        let norm = |s: &str| s.trim().replace('_', " ").to_lowercase();
        let wanted = norm(label);
        self.0.iter().position(|n| norm(n) == wanted).or_else(|| {
            (self.0.len() == 1000)
                .then(|| IMAGENET_SYNSETS.lines().position(|w| w == label))
                .flatten()
        })
    }
}

/// The name of `class`, or `class N` without labels.
pub fn label_of(labels: Option<&Labels>, class: usize) -> String {
    labels
        .and_then(|l| l.name(class))
        .map_or_else(|| format!("class {class}"), str::to_owned)
}
