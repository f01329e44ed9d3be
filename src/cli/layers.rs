//! `camscope layers`.

use std::process::ExitCode;

use super::{ModelArgs, outln};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let layers = model.layers()?;
    if args.json {
        let (h, w) = model.preprocess.input_size();
        let out = serde_json::json!({
            "model": args.model.display(),
            "architecture": model.architecture,
            "num_classes": model.num_classes(),
            "parameters": model.parameter_count(),
            "input_shape": [1, 3, h, w],
            "preprocess": model.preprocess_info(),
            "default_layer": model.default_layer(),
            "cam": model.cam_head().map(|h| model.display_name(h.layer).to_owned()).ok(),
            "layers": layers,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} ({}, {} classes, {:.2} M parameters)",
        args.model.display(),
        model.architecture,
        model.num_classes(),
        model.parameter_count() as f64 / 1e6
    );
    let info = model.preprocess_info();
    outln!("  preprocess: {} ({})", info.summary, info.source);
    let width = layers.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for l in &layers {
        let shape = l.shape_text();
        let mut notes = Vec::new();
        if l.default {
            notes.push("default".to_owned());
        }
        if let Some(a) = &l.alias_of {
            notes.push(format!("= {a}"));
        }
        outln!("  {:width$}  {shape:14} {}", l.name, notes.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
