//! `camscope batch`: every image of a folder, carrying on past unreadable files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use camscope::engine::io::files::write_atomic;
use camscope::engine::io::input::Loaded;
use camscope::engine::io::labels::label_of;
use camscope::engine::methods::Options;
use camscope::engine::render::{
    Caption, annotated_with_caption, export_warning, photo_boxes, save_png,
};
use camscope::engine::{
    BBox, Error, Explainer, Explanation, Labels, Method, Model, OverlayStyle, Prediction,
};

use super::input::{self, MethodArgs, Source, ViewArgs, file_name, image_files};
use super::runlog::{self, Header, Log, RunArgs};
use super::{EXIT_PARTIAL, ModelArgs, RenderArgs, parse_method};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The folder of images (not searched recursively).
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// Where annotated PNGs, results.jsonl, summary.csv and summary.json go (created if
    /// missing).
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
    #[command(flatten)]
    run: RunArgs,
}

/// One photo's record in results.jsonl (and row of the summaries).
#[derive(serde::Serialize)]
struct Row {
    file: String,
    class: usize,
    label: String,
    probability: f32,
    /// `[x0, y0, x1, y1]` of the largest component, photo pixels.
    #[serde(rename = "box")]
    bbox: Option<[i64; 4]>,
    /// The annotated PNG's file name, in the folder of the log.
    output: String,
}

struct Job<'a> {
    model: &'a Model,
    labels: Option<&'a Labels>,
    args: &'a Args,
    style: OverlayStyle,
    options: Options,
}

/// One photo on its way through the pipeline.
struct Todo {
    /// Its position in this run's list, for the progress line.
    i: usize,
    path: PathBuf,
    /// The PNG's file name, and its path.
    name: String,
    out: PathBuf,
}

/// What the explaining stage hands to the drawing one.
struct Explained {
    loaded: Loaded,
    top: Prediction,
    e: Explanation,
    boxes: Vec<BBox>,
}

impl Job<'_> {
    fn load(&self, t: &Todo) -> anyhow::Result<Loaded> {
        let loaded = input::load(self.model, Source::Photo(&t.path), self.args.view.resize)?;
        input::warn(&loaded.warnings);
        input::warn(&Vec::from_iter(export_warning(
            loaded.photo.width(),
            loaded.photo.height(),
        )));
        Ok(loaded)
    }

    fn explain(&self, loaded: Loaded) -> anyhow::Result<Explained> {
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
        Ok(Explained {
            loaded,
            top,
            e,
            boxes,
        })
    }

    fn draw(&self, t: &Todo, x: Explained) -> anyhow::Result<Row> {
        let Explained {
            loaded,
            top,
            e,
            boxes,
        } = x;
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
        save_png(&t.out, &img)?;
        Ok(Row {
            file: file_name(&t.path),
            class: top.class,
            label,
            probability: top.probability,
            bbox: boxes.first().map(|b| b.to_pixels()),
            output: t.name.clone(),
        })
    }

    /// Every photo of `todo` through three stages on their own threads — decoding, the
    /// model's passes, drawing and PNG encoding — so that one photo is decoded and another
    /// encoded while a third is explained; `finished` gets each result in order.
    fn run_all(
        &self,
        todo: Vec<(Todo, anyhow::Result<()>)>,
        mut finished: impl FnMut(&Todo, anyhow::Result<Row>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        use std::sync::mpsc::sync_channel;
        // One photo waiting between stages: memory stays bounded (and flat in their number).
        let (loaded_tx, loaded_rx) = sync_channel::<(Todo, anyhow::Result<Loaded>)>(1);
        let (explained_tx, explained_rx) = sync_channel::<(Todo, anyhow::Result<Explained>)>(1);
        let (row_tx, row_rx) = sync_channel::<(Todo, anyhow::Result<Row>)>(1);
        std::thread::scope(|s| {
            s.spawn(move || {
                for (t, ok) in todo {
                    let r = ok.and_then(|()| self.load(&t));
                    if loaded_tx.send((t, r)).is_err() {
                        break;
                    }
                }
            });
            s.spawn(move || {
                for (t, r) in loaded_rx {
                    let r = r.and_then(|l| self.explain(l));
                    if explained_tx.send((t, r)).is_err() {
                        break;
                    }
                }
            });
            s.spawn(move || {
                for (t, r) in explained_rx {
                    let r = r.and_then(|x| self.draw(&t, x));
                    if row_tx.send((t, r)).is_err() {
                        break;
                    }
                }
            });
            // An error here (the log cannot be written) drops the receiver: the stages stop.
            for (t, r) in row_rx {
                finished(&t, r)?;
            }
            Ok(())
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

/// What decides each photo's result: a resumed run and the shards of one run must agree on it.
fn settings(args: &Args, model: &Model) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::json!({
        "model": args.model.settings(model)?,
        "method": args.method,
        "layer": args.view.layer,
        "labels": args.view.labels.as_deref().map(runlog::sha256_file).transpose()?,
        "resize": args.view.resize,
        "options": args.how.settings(),
        "render": args.render.settings(),
    }))
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let labels = input::labels(args.view.labels.as_deref(), &model)?;
    let all = image_files(&args.images)?;
    let shard = args.run.shard();
    let files = shard.select(all.clone());
    std::fs::create_dir_all(&args.out).map_err(|e| Error::write(&args.out, e))?;
    let job = Job {
        model: &model,
        labels: labels.as_ref(),
        args,
        style: args.render.style()?,
        options: args.how.options(false),
    };
    let header = Header::new(
        "batch",
        settings(args, &model)?,
        shard,
        files.len(),
        &args.images,
    );
    let log_path = Log::path_in(&args.out, shard);
    // A record is complete when its photo was explained and its PNG is in place (PNGs are
    // written whole or not at all); failed photos are tried again.
    let (mut log, mut records) = Log::start(&log_path, &header, args.run.resume, |r| {
        r.get("error").is_none()
            && r["output"]
                .as_str()
                .is_some_and(|name| args.out.join(name).is_file())
    })?;
    let done = runlog::files_of(&records);
    if args.run.resume && !done.is_empty() {
        eprintln!(
            "resuming {}: {} of {} photos already done",
            log_path.display(),
            done.len(),
            files.len()
        );
    }
    // Outputs never replace inputs (the --out folder may be the --images folder).
    let inputs: std::collections::HashSet<PathBuf> =
        all.iter().map(|f| input::resolved(f)).collect();
    let todo: Vec<(Todo, anyhow::Result<()>)> = files
        .iter()
        .enumerate()
        .filter(|(_, path)| !done.contains(&file_name(path)))
        .map(|(i, path)| {
            // Names are chosen among every photo of the folder, so that shards agree on them.
            let name = output_name(path, &all, args.method);
            let out = args.out.join(&name);
            let ok = if inputs.contains(&input::resolved(&out)) {
                Err(anyhow::anyhow!(
                    "{}: the output would replace an input image; choose another --out folder",
                    out.display()
                ))
            } else {
                Ok(())
            };
            let t = Todo {
                i,
                path: path.clone(),
                name,
                out,
            };
            (t, ok)
        })
        .collect();
    job.run_all(todo, |t, result| {
        let shown = t.path.display();
        let record = match result {
            Ok(row) => {
                eprintln!(
                    "[{}/{}] {shown}: {} ({:.1}%)",
                    t.i + 1,
                    files.len(),
                    row.label,
                    row.probability * 100.0
                );
                log.append(&row)?
            }
            Err(e) => {
                eprintln!("[{}/{}] {shown}: FAILED: {e:#}", t.i + 1, files.len());
                let error =
                    serde_json::json!({"file": file_name(&t.path), "error": format!("{e:#}")});
                log.append(&error)?
            }
        };
        records.push(record);
        Ok(())
    })?;
    drop(log);
    runlog::sort_by_file(&mut records);
    let failed = write_summaries(&args.out, &header, &records)?;
    eprintln!(
        "{} explained, {} failed; summary in {}",
        records.len() - failed.len(),
        failed.len(),
        args.out.display()
    );
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        // Each failure was reported with its message as it happened; the list is a reminder.
        eprintln!("failed:");
        for f in &failed {
            eprintln!("  {f}");
        }
        Ok(ExitCode::from(EXIT_PARTIAL))
    }
}

/// Writes `summary{shard}.csv` and `summary{shard}.json` of a run (or of merged shards) from
/// its header and its records sorted by file; returns the files that failed.
pub fn write_summaries(
    dir: &Path,
    header: &Header,
    records: &[serde_json::Value],
) -> anyhow::Result<Vec<String>> {
    let (failed, rows): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        records.iter().partition(|r| r.get("error").is_some());
    let mut csv = String::from("file,class,label,probability,x0,y0,x1,y1,output\n");
    for r in &rows {
        let text = |k: &str| csv_field(r[k].as_str().unwrap_or(""));
        let b = match r["box"].as_array() {
            Some(b) => b
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
            None => ",,,".to_owned(),
        };
        csv += &format!(
            "{},{},{},{:.6},{b},{}\n",
            text("file"),
            r["class"],
            text("label"),
            r["probability"].as_f64().unwrap_or(f64::NAN),
            text("output")
        );
    }
    let suffix = header.shard.suffix();
    write_atomic(&dir.join(format!("summary{suffix}.csv")), |w| {
        w.write_all(csv.as_bytes())
    })?;
    let settings = &header.settings;
    let json = serde_json::json!({
        "architecture": settings["model"]["architecture"],
        "preprocess": settings["model"]["preprocess"],
        "method": settings["method"],
        "threshold": settings["render"]["threshold"],
        "settings": settings,
        "camscope": header.camscope,
        "shard": header.shard,
        "results": rows,
        "failed": failed,
    });
    let json = serde_json::to_string_pretty(&json)?;
    write_atomic(&dir.join(format!("summary{suffix}.json")), |w| {
        w.write_all(json.as_bytes())
    })?;
    Ok(failed
        .iter()
        .map(|f| f["file"].as_str().unwrap_or("").to_owned())
        .collect())
}
