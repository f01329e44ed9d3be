//! `camscope report`: a folder of photos explained into one self-contained HTML file — every
//! photo's thumbnail with each method's overlay and box, its prediction against the ground
//! truth where there is one, and the localization and bias figures, sortable and filterable,
//! with the settings that made it (docs/report.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use camscope::engine::io::files::write_atomic;
use camscope::engine::io::labels::label_of;
use camscope::engine::metrics::dataset::{self as truth, Photo};
use camscope::engine::render::{annotated, draw_rect, fit_size, photo_boxes, stroke_for};
use camscope::engine::{Error, Explainer, Labels};
use serde_json::{Value, json};

use super::input::{self, MethodArgs, ResizeArg, Source};
use super::runlog::{self, Header, Log, RunArgs};
use super::{Methods, ModelArgs, RenderArgs, parse_methods};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The photos: a folder of images, or of class folders (ImageFolder: DIR/<class>/*.jpg).
    #[arg(long, value_name = "DIR")]
    images: PathBuf,
    /// Ground truth: `file,label` or `file,label,x0,y0,x1,y1` rows after a header (label: a
    /// class index, name or ImageNet WordNet ID; boxes in photo pixels). Default: DIR/boxes.csv
    /// when there is one, else the class folders.
    #[arg(long, value_name = "CSV")]
    labels: Option<PathBuf>,
    /// Class names, one per line (default: the model's, or ImageNet's for 1000 classes).
    #[arg(long, value_name = "FILE")]
    class_names: Option<PathBuf>,
    /// The methods, one thumbnail column each; maps are of the predicted class.
    #[arg(long, default_value = "gradcam", value_parser = parse_methods)]
    methods: Methods,
    /// The layer (see `camscope layers`); default: the model's.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    #[command(flatten)]
    how: MethodArgs,
    #[command(flatten)]
    render: RenderArgs,
    #[arg(long, value_enum, default_value = "center-crop")]
    resize: ResizeArg,
    /// Also each map's deletion and insertion AUC (this many steps, blur baseline; 2 × (steps
    /// + 1) forward passes per photo and method).
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    faithfulness: Option<u64>,
    /// Thumbnails' longer side, pixels.
    #[arg(long, value_name = "PX", default_value_t = 224,
          value_parser = clap::value_parser!(u32).range(32..=1024))]
    thumbnail: u32,
    /// The HTML file to write; its results log goes beside it (`NAME.jsonl`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

/// Magenta: the ground truth's boxes on thumbnails (the map's box keeps its usual green).
const TRUTH_BOX: [u8; 3] = [255, 0, 255];

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let model = args.model.load()?;
    let style = args.render.style()?;
    let labels: Option<Labels> = match &args.class_names {
        Some(p) => Some(Labels::from_file(p, model.num_classes())?),
        None => Labels::for_model(&model),
    };
    let photos = truth::photos(
        &args.images,
        args.labels.as_deref(),
        labels.as_ref(),
        model.num_classes(),
    )?;
    anyhow::ensure!(
        !photos.is_empty(),
        "{}: no photos (jpg, png, webp, bmp, tiff) in it or in its class folders",
        args.images.display()
    );
    let options = args.how.options(false);
    let shard = args.run.shard();
    let photos = shard.select(photos);
    // What decides each photo's row: a resumed run and the shards of one report agree on it
    // (paths are not compared: a cluster's nodes may mount them elsewhere).
    let settings = json!({
        "report": report_stem(&args.out),
        "model": args.model.settings(&model)?,
        "labels_sha256": args.labels.as_deref().map(runlog::sha256_file).transpose()?,
        "class_names_sha256": args.class_names.as_deref().map(runlog::sha256_file).transpose()?,
        "methods": args.methods.0.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "layer": args.layer.clone().unwrap_or_else(|| model.default_layer().to_owned()),
        "class": "the predicted (top-1) class",
        "options": args.how.settings(),
        "render": args.render.settings(),
        "resize": args.resize,
        "faithfulness": args.faithfulness,
        "thumbnail": args.thumbnail,
    });
    let header = Header::new("report", settings, shard, photos.len(), &args.images);
    let dir = report_dir(&args.out);
    let log_path = dir.join(format!(
        "{}{}.jsonl",
        report_stem(&args.out),
        shard.suffix()
    ));
    // Nothing the command reads is replaced by the page or its log.
    input::check_outputs(
        &input::given(&[
            ("--images", Some(args.images.as_path())),
            ("--labels", args.labels.as_deref()),
            ("--class-names", args.class_names.as_deref()),
            ("--model", args.model.model.as_deref()),
        ]),
        &[
            ("--out", &report_path(dir, &header)),
            ("its log", &log_path),
        ],
    )?;
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let (mut log, mut records) = Log::start(&log_path, &header, args.run.resume, |r| {
        r.get("error").is_none()
    })?;
    let done = runlog::files_of(&records);
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} photos already done",
            done.len(),
            photos.len()
        );
    }
    for (i, photo) in photos.iter().enumerate() {
        if done.contains(&photo.file) {
            continue;
        }
        let path = args.images.join(&photo.file);
        let result = one(
            args,
            &model,
            labels.as_ref(),
            &style,
            &options,
            photo,
            &path,
        );
        let record = match result {
            Ok(r) => {
                eprintln!(
                    "[{}/{}] {}: {}",
                    i + 1,
                    photos.len(),
                    photo.file,
                    r["predicted_label"].as_str().unwrap_or("")
                );
                r
            }
            Err(e) => {
                eprintln!("[{}/{}] {}: FAILED: {e:#}", i + 1, photos.len(), photo.file);
                json!({"file": photo.file, "error": format!("{e:#}")})
            }
        };
        records.push(log.append(&record)?);
    }
    drop(log);
    runlog::sort_by_file(&mut records);
    let (path, failed) = write_report(dir, &header, &records)?;
    eprintln!(
        "{} photos, {failed} failed: {}",
        records.len(),
        path.display()
    );
    Ok(super::exit_for(failed))
}

/// The report's file name without `.html`.
fn report_stem(out: &Path) -> String {
    out.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".to_owned())
}

fn report_dir(out: &Path) -> &Path {
    match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `DIR/<report>{shard}.html`.
fn report_path(dir: &Path, header: &Header) -> PathBuf {
    let stem = header.settings["report"].as_str().unwrap_or("report");
    dir.join(format!("{stem}{}.html", header.shard.suffix()))
}

/// Writes `DIR/<report>{shard}.html` from a run's (or merged shards') header and records
/// sorted by file; returns its path and the number of failed photos.
pub fn write_report(
    dir: &Path,
    header: &Header,
    records: &[Value],
) -> anyhow::Result<(PathBuf, usize)> {
    let mut shown = header.settings.clone();
    shown["images"] = json!(header.dataset);
    shown["camscope"] = json!(header.camscope);
    let html = super::html::page(&shown, records);
    let path = report_path(dir, header);
    write_atomic(&path, |w| w.write_all(html.as_bytes()))?;
    let failed = records.iter().filter(|r| r.get("error").is_some()).count();
    Ok((path, failed))
}

/// One photo's record: prediction, truth, and per method its figures and thumbnail.
fn one(
    args: &Args,
    model: &camscope::engine::Model,
    labels: Option<&Labels>,
    style: &camscope::engine::OverlayStyle,
    options: &camscope::engine::methods::Options,
    photo: &Photo,
    path: &std::path::Path,
) -> anyhow::Result<Value> {
    let loaded = input::load(model, Source::Photo(path), args.resize)?;
    input::warn(&loaded.warnings);
    let ex = Explainer::new(model, &loaded.input)?;
    let top = ex.top_k(1)?.remove(0);
    let (tw, th) = fit_size(loaded.photo.width(), loaded.photo.height(), args.thumbnail);
    let small = camscope::engine::io::preprocess::resize_rgb(&loaded.photo, tw, th)?;
    let small_mapping = loaded.mapping.for_photo_size(tw, th);
    let scale = tw as f32 / loaded.photo.width() as f32;
    let to_small = |b: &camscope::engine::BBox| b.map(|x, y| (x * scale, y * scale));
    let mut methods = serde_json::Map::new();
    for &m in &args.methods.0 {
        let e = match ex.explain_with(m, args.layer.as_deref(), top.class, options) {
            Ok(e) => e,
            Err(e) => {
                methods.insert(m.name().into(), json!({"error": e.to_string()}));
                continue;
            }
        };
        let boxes = photo_boxes(
            &e.localization,
            &loaded.mapping,
            args.render.threshold,
            false,
        );
        let small_boxes: Vec<_> = boxes.iter().map(to_small).collect();
        let mut thumb = annotated(&small, &small_mapping, &e, style, None, &small_boxes);
        for b in &photo.boxes {
            draw_rect(&mut thumb, &to_small(b), stroke_for(tw, th), TRUTH_BOX);
        }
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&thumb)
            .map_err(|e| Error::Encode {
                path: args.out.clone(),
                format: "JPEG",
                reason: e.to_string(),
            })?;
        let scores = truth::truth_scores(&e.map, &loaded.mapping, boxes.first(), &photo.boxes);
        let mut v = json!({
            "box": boxes.first().map(|b| b.to_pixels()),
            "iou": scores.iou,
            "pointing": scores.pointing,
            "outside": scores.outside,
            "thumbnail": format!(
                "data:image/jpeg;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&jpeg)
            ),
        });
        if let Some(steps) = args.faithfulness {
            input::add_auc(
                &mut v,
                model,
                &loaded,
                &e.map,
                top.class,
                steps,
                args.how.batch_size,
            )?;
        }
        methods.insert(m.name().into(), v);
    }
    Ok(json!({
        "file": photo.file,
        "size": [loaded.photo.width(), loaded.photo.height()],
        "predicted": top.class,
        "predicted_label": label_of(labels, top.class),
        "probability": top.probability,
        "true": photo.class,
        "true_label": photo.class.map(|c| label_of(labels, c)),
        "correct": photo.class.map(|c| c == top.class),
        "truth_boxes": photo.boxes.iter().map(|b| b.to_pixels()).collect::<Vec<_>>(),
        "methods": methods,
    }))
}
