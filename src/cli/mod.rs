//! Command-line interface. The names of subcommands, flags and JSON fields are a contract that
//! scripts depend on (docs/cli.md).

mod batch;
mod bench;
mod compare;
mod eval_loc;
mod explain;
mod html;
mod input;
mod layers;
mod merge;
mod metrics;
mod report;
mod runlog;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use camscope::engine::{self, BBox, Blend, Colormap, Method, Model, OverlayStyle};

/// Exit code of `batch` and `eval-loc` when some inputs failed and the others were processed
/// (docs/cli.md lists every code).
pub const EXIT_PARTIAL: u8 = 3;

/// 0 when nothing failed, else [`EXIT_PARTIAL`]: the commands that go on past a failed input.
pub fn exit_for(failed: usize) -> ExitCode {
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    }
}

/// The strings of a JSON array (a run's settings list methods so).
pub fn strings(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect()
}

/// `println!` that returns the write error instead of panicking, so that a closed pipe
/// (`camscope layers … | head`) ends the command quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use outln;

#[derive(Parser)]
#[command(
    name = "camscope",
    version,
    about = "Where does a CNN look? CAM, Grad-CAM and Guided Grad-CAM for ResNet / VGG / \
             EfficientNet-Lite from .safetensors"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the layers a model's maps can be taken at, with their output shapes.
    Layers(layers::Args),
    /// Explain one image (or preprocessed input) with one method.
    Explain(explain::Args),
    /// Several methods on one image, side by side in one PNG.
    Compare(compare::Args),
    /// How faithful each method's map is: deletion / insertion AUC, Average Drop, Increase in
    /// Confidence (docs/metrics.md).
    Metrics(metrics::Args),
    /// Explain every image of a folder: annotated PNGs plus summary.csv and summary.json.
    Batch(batch::Args),
    /// Localization metrics (Top-1 Loc, GT-known Loc, MaxBoxAcc, MaxBoxAccV2) on a dataset.
    EvalLoc(eval_loc::Args),
    /// A folder of photos explained into one self-contained, sortable HTML report, with the
    /// ground truth where there is one (docs/report.md).
    Report(report::Args),
    /// Join the results logs of a run's shards (`--shard I/N`) into one run's summaries.
    Merge(merge::Args),
    /// Time each step (load, forward, backward passes, rendering, export) on this machine.
    Bench(bench::Args),
    /// Open the desktop app on a photo, or a folder as its gallery, and/or a model
    /// (`camscope IMG` / `camscope DIR` does the same).
    View(ViewApp),
}

#[derive(clap::Args)]
struct ViewApp {
    /// The photo to open (default: the last one, else the built-in sample), or a folder of
    /// photos to open as the gallery (docs/gallery.md).
    #[arg(value_name = "IMG_OR_DIR")]
    image: Option<PathBuf>,
    /// The .safetensors model to open (default: the last one, else the built-in model).
    #[arg(long, value_name = "M.safetensors")]
    model: Option<PathBuf>,
}

impl ViewApp {
    /// Both files must exist: the window should open on them, not on an error.
    fn check(&self) -> anyhow::Result<()> {
        if let Some(p) = &self.image
            && !p.is_file()
            && !p.is_dir()
        {
            anyhow::bail!("{}: no such file or folder", p.display());
        }
        if let Some(p) = &self.model
            && !p.is_file()
        {
            anyhow::bail!("{}: no such file", p.display());
        }
        Ok(())
    }
}

/// How maps are drawn and boxed.
#[derive(clap::Args, Clone)]
pub struct RenderArgs {
    /// Box threshold τ, as a fraction of the map's maximum.
    #[arg(
        long,
        value_name = "TAU",
        default_value_t = 0.2,
        allow_negative_numbers = true
    )]
    threshold: f32,
    /// jet, turbo, viridis, inferno, magma, gray or rdbu (diverging, shows the map's sign).
    #[arg(long, default_value = "jet", value_parser = parse_colormap)]
    colormap: Colormap,
    /// The photo's weight w in the blend (1 − w)·heat + w·photo.
    #[arg(
        long,
        value_name = "W",
        default_value_t = 0.5,
        allow_negative_numbers = true
    )]
    image_weight: f32,
    /// Make heat transparent where the map is low instead of mixing it everywhere.
    #[arg(long)]
    alpha_by_value: bool,
    /// Draw (and report) a box for every connected component, not only the largest.
    #[arg(long)]
    all_boxes: bool,
}

fn parse_colormap(s: &str) -> Result<Colormap, String> {
    s.parse()
}

impl RenderArgs {
    /// The drawing settings as a run's log records them.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "threshold": json_f32(self.threshold),
            "colormap": self.colormap.to_string(),
            "image_weight": json_f32(self.image_weight),
            "alpha_by_value": self.alpha_by_value,
            "all_boxes": self.all_boxes,
        })
    }

    pub fn style(&self) -> anyhow::Result<OverlayStyle> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.image_weight),
            "--image-weight must be in [0, 1], got {}",
            self.image_weight
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.threshold),
            "--threshold must be in [0, 1], got {}",
            self.threshold
        );
        Ok(OverlayStyle {
            colormap: self.colormap,
            image_weight: self.image_weight,
            blend: if self.alpha_by_value {
                Blend::AlphaByValue
            } else {
                Blend::Mix
            },
            ..OverlayStyle::default()
        })
    }
}

/// A user-given f32 as JSON without float noise (0.2, not 0.20000000298023224).
pub fn json_f32(v: f32) -> f64 {
    (v as f64 * 1e6).round() / 1e6
}

/// A class index: a whole number from 0 (the range is checked against the model).
pub fn parse_class(s: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a class index: expected a whole number from 0"))
}

pub fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

/// A comma-separated list of methods, e.g. `cam,gradcam`.
#[derive(Clone)]
pub struct Methods(pub Vec<Method>);

pub fn parse_methods(s: &str) -> Result<Methods, String> {
    let v: Vec<Method> = s
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err("name at least one method".into());
    }
    Ok(Methods(v))
}

/// `[x0, y0, x1, y1]` in whole photo pixels, as the JSON outputs carry boxes.
pub fn box_json(boxes: &[BBox]) -> Vec<[i64; 4]> {
    boxes.iter().map(BBox::to_pixels).collect()
}

/// Options shared by every subcommand that loads a model.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// A .safetensors checkpoint: torchvision, timm or transformers (docs/models.md); a
    /// config.json / preprocessor_config.json next to it gives class names and preprocessing.
    /// Default: the built-in EfficientNet-Lite0 (ImageNet).
    #[arg(long, value_name = "M.safetensors")]
    pub model: Option<PathBuf>,
    /// Run on the CPU even when a CUDA device is available (builds with the `cuda` feature).
    #[arg(long)]
    cpu: bool,
    /// Normalization mean per channel, on the 0–1 scale (overrides the model's metadata).
    #[arg(long, value_name = "R,G,B", value_parser = parse_triple)]
    mean: Option<[f32; 3]>,
    /// Normalization standard deviation per channel, on the 0–1 scale.
    #[arg(long, value_name = "R,G,B", value_parser = parse_std)]
    std: Option<[f32; 3]>,
    /// The model input's side in pixels (the center crop, or the stretched square).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(16..=4096))]
    size: Option<u32>,
    /// The crop's share of the resized photo, timm's crop_pct: resize the shorter side to
    /// floor(size / crop_pct), then crop size × size (1 crops nothing off).
    #[arg(long, value_name = "F", value_parser = parse_crop_pct)]
    crop_pct: Option<f64>,
}

fn parse_triple(s: &str) -> Result<[f32; 3], String> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{s:?}: {e}"))?;
    match v.as_slice() {
        [a, b, c] if v.iter().all(|x| x.is_finite()) => Ok([*a, *b, *c]),
        [_, _, _] => Err(format!("{s:?}: the values must be finite")),
        _ => Err(format!(
            "{s:?}: three comma-separated numbers are needed (R,G,B)"
        )),
    }
}

fn parse_std(s: &str) -> Result<[f32; 3], String> {
    let v = parse_triple(s)?;
    if v.iter().any(|x| *x <= 0.0) {
        return Err(format!("{s:?}: a standard deviation must be positive"));
    }
    Ok(v)
}

fn parse_crop_pct(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        Ok(_) => Err(format!("{s}: the crop fraction must be in (0, 1]")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<Model> {
        let device = engine::device(self.cpu)?;
        let mut model = match &self.model {
            Some(p) => Model::load(p, &device)?,
            None => engine::models::builtin::model(&device)?,
        };
        self.override_preprocess(&mut model);
        Ok(model)
    }

    /// Puts `--mean/--std/--size/--crop-pct` over what the model came with.
    fn override_preprocess(&self, model: &mut Model) {
        use engine::io::preprocess::ResizeMode;
        let mut given = Vec::new();
        let mut p = model.preprocess;
        if let Some(m) = self.mean {
            p.mean = m;
            given.push("--mean");
        }
        if let Some(s) = self.std {
            p.std = s;
            given.push("--std");
        }
        if self.size.is_some() || self.crop_pct.is_some() {
            let (size, pct) = match p.mode {
                ResizeMode::CenterCrop { resize, crop } => (crop, crop as f64 / resize as f64),
                ResizeMode::Stretch { size } => (size, 1.0),
            };
            let size = self.size.unwrap_or(size);
            let pct = self.crop_pct.unwrap_or(pct);
            p.mode = match p.mode {
                ResizeMode::Stretch { .. } if self.crop_pct.is_none() => {
                    ResizeMode::Stretch { size }
                }
                _ => ResizeMode::CenterCrop {
                    // The ratio of the model's own sizes is exact; keep its rounding.
                    resize: ((size as f64 / pct) + 1e-9).floor() as u32,
                    crop: size,
                },
            };
            given.extend(self.size.map(|_| "--size"));
            given.extend(self.crop_pct.map(|_| "--crop-pct"));
        }
        if !given.is_empty() {
            let source = format!("{} over {}", given.join(", "), model.preprocess_source);
            model.set_preprocess(p, source);
        }
    }

    /// What identifies the model and its input in a run's log: the file's name and SHA-256
    /// (not its path: a cluster's nodes may hold it elsewhere), the layout, the preprocessing.
    pub fn settings(&self, model: &Model) -> anyhow::Result<serde_json::Value> {
        let mut preprocess = serde_json::to_value(model.preprocess_info())?;
        if let Some(p) = preprocess.as_object_mut() {
            p.remove("metadata");
        }
        let (name, sha256) = match &self.model {
            Some(p) => (input::file_name(p), Some(runlog::sha256_file(p)?)),
            None => (engine::models::builtin::NAME.to_owned(), None),
        };
        Ok(serde_json::json!({
            "file": name,
            "sha256": sha256,
            "architecture": model.architecture,
            "preprocess": preprocess,
        }))
    }

    /// The model's name for output: its path, or the built-in's name.
    pub fn display(&self) -> String {
        self.model.as_ref().map_or_else(
            || engine::models::builtin::NAME.to_owned(),
            |p| p.display().to_string(),
        )
    }
}

/// Whether `e` comes from writing to a closed pipe.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub fn run() -> anyhow::Result<ExitCode> {
    // `camscope photo.jpg`, as image viewers do: the app on that photo.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let [_, only] = args.as_slice()
        && (Path::new(only).is_file() || Path::new(only).is_dir())
    {
        return run_app(ViewApp {
            image: Some(PathBuf::from(only)),
            model: None,
        });
    }
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Layers(a)) => layers::run(&a),
        Some(Command::Explain(a)) => explain::run(&a),
        Some(Command::Compare(a)) => compare::run(&a),
        Some(Command::Metrics(a)) => metrics::run(&a),
        Some(Command::Batch(a)) => batch::run(&a),
        Some(Command::EvalLoc(a)) => eval_loc::run(&a),
        Some(Command::Merge(a)) => merge::run(&a),
        Some(Command::Report(a)) => report::run(&a),
        Some(Command::Bench(a)) => bench::run(&a),
        Some(Command::View(v)) => run_app(v),
        None => run_app(ViewApp {
            image: None,
            model: None,
        }),
    }
}

/// With no subcommand: the desktop app (or, in a build without it, the help).
#[cfg(feature = "gui")]
fn run_app(v: ViewApp) -> anyhow::Result<ExitCode> {
    v.check()?;
    let (folder, image) = match v.image {
        Some(p) if p.is_dir() => (Some(p), None),
        image => (None, image),
    };
    camscope::app::run_native(camscope::app::Startup {
        image,
        model: v.model,
        folder,
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "gui"))]
fn run_app(v: ViewApp) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    v.check()?;
    if v.image.is_some() || v.model.is_some() {
        anyhow::bail!("this camscope was built without the `gui` feature: no desktop app to open");
    }
    use clap::CommandFactory as _;
    Cli::command().print_help().context("printing help")?;
    eprintln!("\n(this camscope was built without the `gui` feature: no desktop app)");
    Ok(ExitCode::SUCCESS)
}
