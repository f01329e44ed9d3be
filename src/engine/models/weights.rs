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

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
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
        Err(Error::UnknownLayout {
            path: self.path.clone(),
            reason: format!(
                "read as {assumed}, but {} of its tensors are not part of that network: {}{} — \
                 the checkpoint has parts camscope does not model, and its maps would be wrong",
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
