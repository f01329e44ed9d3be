//! `camscope eval-loc`: WSOL metrics over a dataset (docs/eval-loc.md has the layout).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use camscope::engine::io::files::write_atomic;
use camscope::engine::metrics::faithfulness::{Baseline, POINTING_TOLERANCE, pointing_game};
use camscope::engine::metrics::wsol::{ImageLoc, Item, LocEvaluator, LocMetrics, parse_boxes_csv};
use camscope::engine::{BBox, Error, Explainer};
use serde_json::{Value, json};

use super::input::{self, MethodArgs, ResizeArg, Source};
use super::runlog::{self, Header, Log, RunArgs};
use super::{Methods, ModelArgs, outln, parse_methods};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// A folder with boxes.csv (`file,class,x0,y0,x1,y1`, paths relative to the folder).
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// Comma-separated methods to evaluate.
    #[arg(long, default_value = "cam,gradcam", value_parser = parse_methods)]
    methods: Methods,
    /// The layer (several, comma-separated, fuse their maps); default: the model's.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    #[command(flatten)]
    how: MethodArgs,
    /// τ for Top-1 Loc and GT-known Loc (MaxBoxAcc sweeps τ itself).
    #[arg(
        long,
        value_name = "TAU",
        default_value_t = 0.2,
        allow_negative_numbers = true
    )]
    threshold: f32,
    /// `stretch` resizes the whole image to the input size, as wsolevaluation does.
    #[arg(long, value_enum, default_value = "center-crop")]
    resize: ResizeArg,
    /// Also the mean deletion and insertion AUC per method (docs/metrics.md; blur baseline,
    /// this many steps; 2 × (steps + 1) forward passes per image and method).
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    faithfulness: Option<u64>,
    #[arg(long)]
    json: bool,
    /// Where results.jsonl (one record per image, as it finishes) and summary.json go;
    /// needed by --shard and --resume.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

/// Reads `DIR/boxes.csv` ([`parse_boxes_csv`]).
pub fn read_dataset(dir: &Path) -> anyhow::Result<Vec<Item>> {
    let path = dir.join("boxes.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::read(&path, e))?;
    Ok(parse_boxes_csv(&text, &path)?)
}

/// What decides each image's result: a resumed run and the shards of one run must agree on it.
fn settings(args: &Args, model: &camscope::engine::Model) -> anyhow::Result<Value> {
    Ok(serde_json::json!({
        "model": args.model.settings(model)?,
        "boxes_sha256": runlog::sha256_file(&args.dataset.join("boxes.csv"))?,
        "methods": args.methods.0.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "layer": args.layer,
        "options": args.how.settings(),
        "threshold": super::json_f32(args.threshold),
        "resize": args.resize,
        "faithfulness": args.faithfulness,
    }))
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.threshold),
        "--threshold must be in [0, 1], got {}",
        args.threshold
    );
    anyhow::ensure!(
        args.out.is_some() || (args.run.shard.is_none() && !args.run.resume),
        "--shard and --resume need --out DIR: the folder of the run's results log"
    );
    let mut items = read_dataset(&args.dataset)?;
    items.sort_by(|a, b| a.file.cmp(&b.file));
    let shard = args.run.shard();
    let items = shard.select(items);
    let header = Header::new(
        "eval-loc",
        settings(args, &model)?,
        shard,
        items.len(),
        &args.dataset,
    );
    let (mut log, mut records) = match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
            let (log, kept) =
                Log::start(&Log::path_in(dir, shard), &header, args.run.resume, |r| {
                    r.get("error").is_none()
                })?;
            (Some(log), kept)
        }
        None => (None, Vec::new()),
    };
    let done = runlog::files_of(&records);
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} images already done",
            done.len(),
            items.len()
        );
    }
    let options = args.how.options(false);
    let template = LocEvaluator::new(args.threshold);
    // A method that fails on one image (CAM on a model without a GAP head) fails on every
    // one: it is not tried again.
    let mut unavailable: HashSet<&str> = records
        .iter()
        .flat_map(|r| r["methods"].as_object().into_iter().flatten())
        .filter(|(_, v)| v.get("error").is_some())
        .filter_map(|(m, _)| args.methods.0.iter().map(|m| m.name()).find(|n| n == m))
        .collect();
    for (i, item) in items.iter().enumerate() {
        if done.contains(&item.file) {
            continue;
        }
        let path = args.dataset.join(&item.file);
        let result = (|| -> anyhow::Result<Value> {
            model.check_class(item.class)?;
            let loaded = input::load(&model, Source::Photo(&path), args.resize)?;
            input::warn(&loaded.warnings);
            let ex = Explainer::new(&model, &loaded.input)?;
            let top1 = ex.top_k(1)?[0].class;
            let mut methods = serde_json::Map::new();
            for &m in &args.methods.0 {
                if unavailable.contains(m.name()) {
                    continue;
                }
                let e = match ex.explain_with(m, args.layer.as_deref(), item.class, &options) {
                    Ok(e) => e,
                    Err(e) => {
                        unavailable.insert(m.name());
                        methods.insert(m.name().into(), json!({"error": e.to_string()}));
                        continue;
                    }
                };
                let to_photo = |b: &BBox| b.map(|x, y| loaded.mapping.original_from_input(x, y));
                let mut one =
                    template.measure(top1, item.class, &item.boxes, &e.localization, to_photo);
                one.pointing =
                    pointing_game(&e.map, &loaded.mapping, &item.boxes, POINTING_TOLERANCE);
                let mut v = serde_json::to_value(&one)?;
                if let Some(steps) = args.faithfulness {
                    input::add_auc(
                        &mut v,
                        &model,
                        &loaded,
                        &e.map,
                        item.class,
                        steps,
                        args.how.batch_size,
                    )?;
                }
                methods.insert(m.name().into(), v);
            }
            Ok(
                json!({"file": item.file, "class": item.class, "predicted": top1, "methods": methods}),
            )
        })();
        let record = match result {
            Ok(r) => {
                eprintln!("[{}/{}] {}", i + 1, items.len(), item.file);
                r
            }
            Err(e) => {
                eprintln!("[{}/{}] {}: FAILED: {e:#}", i + 1, items.len(), item.file);
                json!({"file": item.file, "error": format!("{e:#}")})
            }
        };
        records.push(match &mut log {
            Some(log) => log.append(&record)?,
            None => runlog::read_back(&record)?,
        });
    }
    drop(log);
    runlog::sort_by_file(&mut records);
    let summary = summarize(&header, &records)?;
    if let Some(dir) = &args.out {
        write_summary(dir, &header, &summary)?;
    }
    print_summary(&summary, args.json)?;
    Ok(super::exit_for(
        summary["failed"].as_array().map_or(0, Vec::len),
    ))
}

/// Writes `summary{shard}.json` into `dir`.
pub fn write_summary(dir: &Path, header: &Header, summary: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(summary)?;
    write_atomic(
        &dir.join(format!("summary{}.json", header.shard.suffix())),
        |w| w.write_all(text.as_bytes()),
    )?;
    Ok(())
}

/// The metrics of a run (or of merged shards) from its header and its records, sorted by file:
/// `eval-loc --json`'s object.
pub fn summarize(header: &Header, records: &[Value]) -> anyhow::Result<Value> {
    let settings = &header.settings;
    let tau = settings["threshold"].as_f64().unwrap_or(0.2) as f32;
    let methods = super::strings(&settings["methods"]);
    let mut evals: BTreeMap<&str, LocEvaluator> = methods
        .iter()
        .map(|&m| (m, LocEvaluator::new(tau)))
        .collect();
    let mut unavailable: BTreeMap<&str, &str> = BTreeMap::new();
    // Per method: the sums of deletion and insertion AUC, and the images counted.
    let mut auc_sums: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
    let mut failed = Vec::new();
    for r in records {
        if let Some(e) = r.get("error") {
            failed.push(json!({"file": r["file"], "error": e}));
            continue;
        }
        for &m in &methods {
            let Some(v) = r["methods"].get(m) else {
                continue;
            };
            if let Some(why) = v["error"].as_str() {
                unavailable.entry(m).or_insert(why);
                continue;
            }
            let one: ImageLoc = serde_json::from_value(v.clone())
                .ok()
                .filter(|one| evals[m].fits(one))
                .ok_or_else(|| anyhow::anyhow!("{}: a malformed record for {m}", r["file"]))?;
            if let Some(ev) = evals.get_mut(m) {
                ev.add_image(&one);
            }
            if let (Some(d), Some(i)) = (v["deletion_auc"].as_f64(), v["insertion_auc"].as_f64()) {
                let sums = auc_sums.entry(m).or_default();
                sums.0 += d;
                sums.1 += i;
                sums.2 += 1;
            }
        }
    }
    let metrics: BTreeMap<&str, LocMetrics> = evals
        .iter()
        .filter(|(m, _)| !unavailable.contains_key(*m))
        .map(|(m, e)| (*m, e.metrics()))
        .collect();
    let faithfulness: BTreeMap<&str, Value> = auc_sums
        .iter()
        .filter(|(m, _)| !unavailable.contains_key(*m))
        .map(|(m, (d, i, n))| {
            let n = (*n).max(1) as f64;
            (*m, json!({"deletion_auc": d / n, "insertion_auc": i / n}))
        })
        .collect();
    Ok(json!({
        "faithfulness": settings["faithfulness"].as_u64().map(|steps| json!({
            "steps": steps, "baseline": Baseline::Blur, "mean": faithfulness,
        })),
        "dataset": header.dataset,
        "architecture": settings["model"]["architecture"],
        "preprocess": settings["model"]["preprocess"],
        "threshold": settings["threshold"],
        "settings": settings,
        "camscope": header.camscope,
        "shard": header.shard,
        "metrics": metrics,
        "unavailable": unavailable,
        "failed": failed,
    }))
}

/// `eval-loc`'s output: the summary as JSON, or a table.
pub fn print_summary(summary: &Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        outln!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    outln!(
        "{:16} {:>6} {:>8} {:>9} {:>12} {:>10} {:>6} {:>12} {:>9}",
        "method",
        "images",
        "acc %",
        "top1-loc",
        "gt-known-loc",
        "MaxBoxAcc",
        "at τ",
        "MaxBoxAccV2",
        "pointing"
    );
    for (m, r) in summary["metrics"].as_object().into_iter().flatten() {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        outln!(
            "{m:16} {:>6} {:>8.2} {:>9.2} {:>12.2} {:>10.2} {:>6.2} {:>12.2} {:>9.2}",
            r["images"],
            f("accuracy"),
            f("top1_loc"),
            f("gt_known_loc"),
            f("max_box_acc"),
            f("max_box_acc_threshold"),
            f("max_box_acc_v2"),
            f("pointing_game")
        );
    }
    for (m, why) in summary["unavailable"].as_object().into_iter().flatten() {
        outln!("{m:16} n/a: {}", why.as_str().unwrap_or(""));
    }
    if let Some(steps) = summary["faithfulness"]["steps"].as_u64() {
        outln!("mean AUC over the images ({steps} steps, blur baseline):");
        for (m, v) in summary["faithfulness"]["mean"]
            .as_object()
            .into_iter()
            .flatten()
        {
            outln!(
                "{m:16} deletion {:.4}  insertion {:.4}",
                v["deletion_auc"].as_f64().unwrap_or(f64::NAN),
                v["insertion_auc"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}
