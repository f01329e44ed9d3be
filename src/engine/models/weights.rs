//! Loading `.safetensors` checkpoints with torchvision key names.
//!
//! The file is memory-mapped and only its header is read up front: names, dtypes and shapes
//! decide the layout, and a tensor is converted to f32 (from f16 / bf16 / f64) only when the
//! model builder asks for it — so a checkpoint of unknown layout is refused without reading its
//! data, and a known one peaks at its f32 size plus the pages of the file that were read.
//! Non-float tensors are kept only as names so that asking for one gives a clear error. A
//! checkpoint is used whole or refused: the builder's reads are recorded, and
//! [`Weights::check_all_used`] names whatever it left out (BatchNorm's `num_batches_tracked`
//! counters are the one harmless extra).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::metadata::Metadata;
use crate::engine::error::{Error, Result};

/// The bytes of a checkpoint: mapped from its file, or held in memory.
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// Where one float tensor sits in the file.
struct Info {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    range: std::ops::Range<usize>,
}

/// All float tensors of one checkpoint, by full key, converted on demand.
pub struct Weights {
    path: PathBuf,
    bytes: Bytes,
    tensors: HashMap<String, Info>,
    /// Keys of tensors that are not floats, with their stored dtype.
    non_float: HashMap<String, String>,
    /// Keys the model builder has read.
    used: std::cell::RefCell<std::collections::HashSet<String>>,
    /// What the library wrote next to the weights.
    metadata: Metadata,
}

impl Weights {
    /// Maps a `.safetensors` file and reads its header, and the metadata next to it
    /// ([`Metadata::next_to`]).
    pub fn load(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
        // SAFETY: the map is read-only and lives as long as these weights, which are dropped
        // once the model is built; a file truncated by another process meanwhile would fault,
        // as with any memory-mapped reader (candle's and safetensors' own included).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::read(path, e))?;
        let metadata = Metadata::next_to(path)?;
        Ok(Self::parse(Bytes::Mapped(map), path)?.with_metadata(metadata))
    }

    /// Parses a `.safetensors` image held in memory; `path` is only used in messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        Self::parse(Bytes::Owned(bytes.to_vec()), path)
    }

    fn parse(bytes: Bytes, path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::BadSafetensors {
            path: path.to_owned(),
            reason,
        };
        // Validates the header and every tensor's byte range against the file.
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let (header, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let data_start = 8 + header;
        let mut tensors = HashMap::new();
        let mut non_float = HashMap::new();
        for (name, info) in meta.tensors() {
            use safetensors::Dtype as D;
            match info.dtype {
                D::F32 | D::F16 | D::BF16 | D::F64 => {
                    let (a, b) = info.data_offsets;
                    tensors.insert(
                        name,
                        Info {
                            dtype: info.dtype,
                            shape: info.shape.clone(),
                            range: data_start + a..data_start + b,
                        },
                    );
                }
                other => {
                    non_float.insert(name, format!("{other:?}"));
                }
            }
        }
        Ok(Self {
            path: path.to_owned(),
            bytes,
            tensors,
            non_float,
            used: Default::default(),
            metadata: Metadata::default(),
        })
    }

    /// These weights with `metadata` (class names, preprocessing, builder options).
    pub fn with_metadata(self, metadata: Metadata) -> Self {
        Self { metadata, ..self }
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All float tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The shape of the float tensor `name`, if there is one (for `detect`).
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|i| i.shape.as_slice())
    }

    /// Whether the checkpoint has a tensor `name`, of any dtype: a non-float one is refused by
    /// name when a builder reads it, not mistaken for a missing one.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.non_float.contains_key(name)
    }

    /// For unread tensors under a numbered module (`layer2.1.bn1.weight`): the tensors a
    /// sibling module has (`layer2.2.conv1.weight`) that this one lacks — the likely missing or
    /// misnamed ones, which stopped the builder early. At most `max`.
    fn missing_beside(&self, unused: &[&str], max: usize) -> Vec<String> {
        let all = self.names();
        let rests = |prefix: &str| -> std::collections::BTreeSet<&str> {
            let start = format!("{prefix}.");
            all.iter()
                .filter_map(|n| n.strip_prefix(start.as_str()))
                .collect()
        };
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for u in unused {
            let parts: Vec<&str> = u.split('.').collect();
            // The deepest numbered module whose sibling has tensors this one lacks
            // (`layer2.1.bn1` and `layer2.1.bn2` hold the same names; `layer2.1` and
            // `layer2.2` differ by the missing one).
            for i in (0..parts.len()).rev() {
                let Some((stem, index)) = split_index(parts[i]) else {
                    continue;
                };
                let prefix = parts[..=i].join(".");
                let sibling = |j: usize| {
                    let mut p = parts[..i].to_vec();
                    let name = format!("{stem}{j}");
                    p.push(&name);
                    let r = rests(&p.join("."));
                    (!r.is_empty()).then_some(r)
                };
                // A later sibling first: a stage's first block is the odd one (it downsamples).
                let Some(reference) =
                    sibling(index + 1).or_else(|| index.checked_sub(1).and_then(sibling))
                else {
                    continue;
                };
                let mine = rests(&prefix);
                let lacking: Vec<String> = reference
                    .difference(&mine)
                    .filter(|r| !r.ends_with("num_batches_tracked"))
                    .map(|r| format!("{prefix}.{r}"))
                    .collect();
                if lacking.is_empty() {
                    continue;
                }
                if seen.insert(prefix) {
                    out.extend(lacking);
                }
                break;
            }
            if out.len() >= max {
                out.truncate(max);
                break;
            }
        }
        out
    }

    /// An error naming the tensors the builder did not read (other than BatchNorm's step
    /// counters): a checkpoint with parts the assumed architecture lacks (squeeze-and-excitation,
    /// a block missing a tensor) would otherwise give silently wrong numbers.
    pub fn check_all_used(&self, assumed: &str) -> Result<()> {
        let used = self.used.borrow();
        // A non-float tensor in a place a float belongs: say so first.
        let mut odd: Vec<(&String, &String)> = self
            .non_float
            .iter()
            .filter(|(k, _)| !k.ends_with("num_batches_tracked"))
            .collect();
        odd.sort();
        if let Some((name, dtype)) = odd.first() {
            return Err(Error::BadDtype {
                path: self.path.clone(),
                name: (*name).clone(),
                dtype: (*dtype).clone(),
            });
        }
        let mut unused: Vec<&str> = self
            .tensors
            .keys()
            .filter(|k| !used.contains(*k))
            .map(String::as_str)
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        unused.sort_unstable();
        let shown: Vec<&str> = unused.iter().take(6).copied().collect();
        let missing = self.missing_beside(&unused, 4);
        let hint = if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; missing or misnamed, judging by the modules beside them: {}",
                missing.join(", ")
            )
        };
        Err(Error::UnknownLayout {
            path: self.path.clone(),
            reason: format!(
                "read as {assumed}, but {} of its tensors are not part of that network: {}{} — \
                 the checkpoint has parts camscope does not model, and its maps would be \
                 wrong{hint}",
                unused.len(),
                shown.join(", "),
                if unused.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        })
    }

    /// Number of scalar parameters stored as floats.
    pub fn parameter_count(&self) -> usize {
        self.tensors
            .values()
            .map(|t| t.shape.iter().product::<usize>())
            .sum()
    }

    /// The root view, handing out tensors on `device`: `w.root(d).pp("layer1").pp(0)` for
    /// `layer1.0.*`.
    pub fn root<'a>(&'a self, device: &'a Device) -> Vb<'a> {
        Vb {
            weights: self,
            device,
            prefix: String::new(),
        }
    }

    fn info(&self, name: &str) -> Result<&Info> {
        self.tensors
            .get(name)
            .ok_or_else(|| match self.non_float.get(name) {
                Some(dtype) => Error::BadDtype {
                    path: self.path.clone(),
                    name: name.to_owned(),
                    dtype: dtype.clone(),
                },
                None => Error::MissingTensor {
                    path: self.path.clone(),
                    name: name.to_owned(),
                },
            })
    }

    /// Converts one tensor to f32 on the CPU.
    fn convert(&self, name: &str, info: &Info) -> Result<Tensor> {
        use candle_core::safetensors::Load as _;
        let view = safetensors::tensor::TensorView::new(
            info.dtype,
            info.shape.clone(),
            &self.bytes[info.range.clone()],
        )
        .map_err(|e| Error::BadSafetensors {
            path: self.path.clone(),
            reason: format!("{name}: {e}"),
        })?;
        view.load(&Device::Cpu)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| Error::BadSafetensors {
                path: self.path.clone(),
                reason: format!("{name}: {e}"),
            })
    }
}

/// A path component's trailing index: `3` → `("", 3)`, `denselayer2` → `("denselayer", 2)`,
/// `block1-0` → `("block1-", 0)`.
fn split_index(part: &str) -> Option<(&str, usize)> {
    let digits = part.len() - part.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (stem, n) = part.split_at(part.len() - digits);
    Some((stem, n.parse().ok()?))
}

/// A prefix into [`Weights`], in the style of candle-nn's `VarBuilder`: tensors come out on
/// the device the model is built for.
#[derive(Clone)]
pub struct Vb<'a> {
    weights: &'a Weights,
    device: &'a Device,
    prefix: String,
}

impl<'a> Vb<'a> {
    pub fn pp(&self, part: impl ToString) -> Vb<'a> {
        let part = part.to_string();
        let prefix = if self.prefix.is_empty() {
            part
        } else {
            format!("{}.{part}", self.prefix)
        };
        Vb {
            weights: self.weights,
            device: self.device,
            prefix,
        }
    }

    /// The device the model is built on.
    pub fn device(&self) -> &Device {
        self.device
    }

    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The checkpoint's metadata (transformers' `config.json`, timm's `pretrained_cfg`).
    pub fn metadata(&self) -> &Metadata {
        &self.weights.metadata
    }

    pub fn contains(&self, name: &str) -> bool {
        self.weights.contains(&self.key(name))
    }

    /// The numeric children of this prefix (`features.0`, `features.3`, … → `[0, 3, …]`), sorted.
    pub fn child_indices(&self) -> Vec<usize> {
        let start = format!("{}.", self.prefix);
        let mut v: Vec<usize> = self
            .weights
            .tensors
            .keys()
            .filter_map(|k| k.strip_prefix(&start)?.split('.').next()?.parse().ok())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The tensor `name`, which must have exactly `shape`, on the model's device.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let key = self.key(name);
        let info = self.weights.info(&key)?;
        self.weights.used.borrow_mut().insert(key.clone());
        if info.shape != shape {
            return Err(Error::ShapeMismatch {
                path: self.weights.path.clone(),
                name: key,
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        Ok(self.weights.convert(&key, info)?.to_device(self.device)?)
    }

    /// Reads every tensor under this prefix and drops it: for parts of a checkpoint that the
    /// evaluation pass does not use (GoogLeNet's auxiliary classifiers, which PyTorch also runs
    /// only in training), so that they are checked and counted as read, not silently skipped.
    /// Returns how many there were.
    pub fn read_unused_part(&self) -> Result<usize> {
        let start = format!("{}.", self.prefix);
        let mut names: Vec<(String, Vec<usize>)> = self
            .weights
            .tensors
            .iter()
            .filter(|(k, _)| k.starts_with(&start))
            .map(|(k, i)| (k[self.prefix.len() + 1..].to_owned(), i.shape.clone()))
            .collect();
        names.sort();
        for (name, shape) in &names {
            self.get(name, shape)?;
        }
        Ok(names.len())
    }

    /// The shape of `name`, for inferring an architecture.
    pub fn dims(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self.weights.info(&self.key(name))?.shape.clone())
    }

    /// The shape of `name`, which must have `rank` dimensions.
    pub fn dims_n(&self, name: &str, rank: usize) -> Result<Vec<usize>> {
        let dims = self.dims(name)?;
        if dims.len() != rank {
            return Err(Error::UnknownLayout {
                path: self.weights.path.clone(),
                reason: format!(
                    "{} should have {rank} dimensions, found shape {dims:?}",
                    self.key(name)
                ),
            });
        }
        Ok(dims)
    }

    pub fn layout_error(&self, reason: impl Into<String>) -> Error {
        Error::UnknownLayout {
            path: self.weights.path.clone(),
            reason: reason.into(),
        }
    }
}
