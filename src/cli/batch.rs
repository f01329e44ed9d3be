//! `camscope batch`: every image of a folder, carrying on past unreadable files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use camscope::engine::io::files::write_atomic;
use camscope::engine::io::labels::label_of;
use camscope::engine::io::preprocess::IMAGE_EXTENSIONS;
use camscope::engine::methods::Options;
use camscope::engine::render::{
    Caption, annotated_with_caption, export_warning, photo_boxes, save_png,
};
use camscope::engine::{Error, Explainer, Labels, Method, Model, OverlayStyle};

use super::input::{self, MethodArgs, Source, ViewArgs};
use super::{EXIT_PARTIAL, ModelArgs, RenderArgs, parse_method};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The folder of images (not searched recursively).
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// Where annotated PNGs, summary.csv and summary.json go (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, default_value = "gradcam", value_parser = parse_method)]
    method: Method,
    #[command(flatten)]
    view: ViewArgs,
    #[command(flatten)]
    how: MethodArgs,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(serde::Serialize)]
struct Row {
    file: String,
    class: usize,
    label: String,
    probability: f32,
    /// `[x0, y0, x1, y1]` of the largest component, photo pixels.
    #[serde(rename = "box")]
    bbox: Option<[i64; 4]>,
    output: String,
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

struct Job<'a> {
    model: &'a Model,
    labels: Option<&'a Labels>,
    args: &'a Args,
    style: OverlayStyle,
    options: Options,
}

impl Job<'_> {
    fn one(&self, path: &Path, out: &Path) -> anyhow::Result<Row> {
        let loaded = input::load(self.model, Source::Photo(path), self.args.view.resize)?;
        input::warn(&loaded.warnings);
        input::warn(&Vec::from_iter(export_warning(
            loaded.photo.width(),
            loaded.photo.height(),
        )));
        let ex = Explainer::new(self.model, &loaded.input)?;
        let top = ex.top_k(1)?.remove(0);
        let e = ex.explain_with(
            self.args.method,
            self.args.view.layer.as_deref(),
            top.class,
            &self.options,
        )?;
        let boxes = photo_boxes(
            &e.localization,
            &loaded.mapping,
            self.args.render.threshold,
            self.args.render.all_boxes,
        );
        let label = label_of(self.labels, top.class);
        let caption = Caption {
            label: &label,
            probability: top.probability,
            method: e.method,
            layer: &e.layer,
            threshold: self.args.render.threshold,
        };
        let img = annotated_with_caption(
            &loaded.photo,
            &loaded.mapping,
            &e,
            &self.style,
            None,
            &boxes,
            &caption,
        );
        save_png(out, &img)?;
        Ok(Row {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            class: top.class,
            label,
            probability: top.probability,
            bbox: boxes.first().map(|b| b.to_pixels()),
            output: out.display().to_string(),
        })
    }
}

/// `stem.method.png`, or `name.method.png` where two inputs share a stem.
fn output_name(path: &Path, files: &[PathBuf], method: Method) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shared = files
        .iter()
        .filter(|f| f.file_stem() == path.file_stem())
        .count()
        > 1;
    let base = if shared {
        path.file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(stem)
    } else {
        stem
    };
    format!("{base}.{method}.png")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let labels = input::labels(args.view.labels.as_deref(), &model)?;
    let files = image_files(&args.images)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::write(&args.out, e))?;
    let job = Job {
        model: &model,
        labels: labels.as_ref(),
        args,
        style: args.render.style()?,
        options: args.how.options(false),
    };
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    // Outputs never replace inputs (the --out folder may be the --images folder).
    let inputs: std::collections::HashSet<PathBuf> =
        files.iter().map(|f| input::resolved(f)).collect();
    for (i, path) in files.iter().enumerate() {
        let out = args.out.join(output_name(path, &files, args.method));
        let name = path.display();
        let result = if inputs.contains(&input::resolved(&out)) {
            Err(anyhow::anyhow!(
                "{}: the output would replace an input image; choose another --out folder",
                out.display()
            ))
        } else {
            job.one(path, &out)
        };
        match result {
            Ok(row) => {
                eprintln!(
                    "[{}/{}] {name}: {} ({:.1}%)",
                    i + 1,
                    files.len(),
                    row.label,
                    row.probability * 100.0
                );
                rows.push(row);
            }
            Err(e) => {
                eprintln!("[{}/{}] {name}: FAILED: {e:#}", i + 1, files.len());
                failed
                    .push(serde_json::json!({"file": name.to_string(), "error": format!("{e:#}")}));
            }
        }
    }

    let mut csv = String::from("file,class,label,probability,x0,y0,x1,y1,output\n");
    for r in &rows {
        let b = r.bbox.map_or_else(
            || ",,,".to_owned(),
            |b| format!("{},{},{},{}", b[0], b[1], b[2], b[3]),
        );
        csv += &format!(
            "{},{},{},{:.6},{b},{}\n",
            csv_field(&r.file),
            r.class,
            csv_field(&r.label),
            r.probability,
            csv_field(&r.output)
        );
    }
    write_atomic(&args.out.join("summary.csv"), |w| {
        w.write_all(csv.as_bytes())
    })?;
    let json = serde_json::json!({
        "architecture": model.architecture,
        "preprocess": model.preprocess_info(),
        "method": args.method,
        "threshold": super::json_f32(args.render.threshold),
        "results": rows,
        "failed": failed,
    });
    let json = serde_json::to_string_pretty(&json)?;
    write_atomic(&args.out.join("summary.json"), |w| {
        w.write_all(json.as_bytes())
    })?;

    eprintln!(
        "{} explained, {} failed; summary in {}",
        rows.len(),
        failed.len(),
        args.out.display()
    );
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        // Each failure was reported with its message as it happened; the list is a reminder.
        eprintln!("failed:");
        for f in &failed {
            eprintln!("  {}", f["file"].as_str().unwrap_or(""));
        }
        Ok(ExitCode::from(EXIT_PARTIAL))
    }
}
