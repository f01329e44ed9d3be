//! Command-line interface. The names of subcommands, flags and JSON fields are a contract that
//! scripts depend on (docs/cli.md).

mod explain;
mod layers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use camscope::engine::{self, Labels, Model};

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
}

/// Options shared by every subcommand that loads a model.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// A .safetensors checkpoint with torchvision / timm key names. Default: the built-in
    /// EfficientNet-Lite0 (ImageNet).
    #[arg(long, value_name = "M.safetensors")]
    model: Option<PathBuf>,
    /// Run on the CPU even when a CUDA device is available (builds with the `cuda` feature).
    #[arg(long)]
    cpu: bool,
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<Model> {
        let device = engine::device(self.cpu)?;
        Ok(match &self.model {
            Some(p) => Model::load(p, &device)?,
            None => engine::builtin::model(&device)?,
        })
    }

    /// The model's name for output: its path, or the built-in's name.
    pub fn display(&self) -> String {
        self.model.as_ref().map_or_else(
            || engine::builtin::NAME.to_owned(),
            |p| p.display().to_string(),
        )
    }
}

/// Class names: `--labels FILE`, else the built-in ImageNet names for 1000-class heads.
pub fn labels(path: Option<&Path>, model: &Model) -> anyhow::Result<Option<Labels>> {
    Ok(match path {
        Some(p) => Some(Labels::from_file(p, model.num_classes())?),
        None => Labels::for_classes(model.num_classes()),
    })
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Layers(a)) => layers::run(&a),
        Some(Command::Explain(a)) => explain::run(&a),
        None => {
            use clap::CommandFactory as _;
            Cli::command().print_help().context("printing help")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
