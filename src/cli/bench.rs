//! `camscope bench`: where the time goes, measured on this machine (BENCHMARKS.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use camscope::engine::io::input::{PhotoFit, preprocess_for};
use camscope::engine::io::preprocess::load_image;
use camscope::engine::metrics::faithfulness::{
    Baseline, CurveSettings, confidence, deletion_insertion,
};
use camscope::engine::metrics::road::road;
use camscope::engine::ops::counting_flops;
use camscope::engine::render::{Caption, annotated_with_caption, photo_boxes, save_png};
use camscope::engine::{Explainer, Method, OverlayStyle};
use image::RgbImage;

use super::{Methods, ModelArgs, outln, parse_methods};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The photo to explain (default: the built-in sample chelsea.png).
    #[arg(long, value_name = "IMG")]
    image: Option<PathBuf>,
    /// Repetitions per measurement; the median is reported. Score-CAM and Ablation-CAM, which
    /// run a forward pass per channel, are timed once.
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// The methods to time one map of, at the default layer (default: every method).
    #[arg(long, value_parser = parse_methods)]
    methods: Option<Methods>,
    #[arg(long)]
    json: bool,
}

struct Timer {
    rows: Vec<(String, f64, f64, f64)>,
}

impl Timer {
    /// Runs `f` `n` times and records median, min and max in milliseconds.
    fn time<T>(
        &mut self,
        name: &str,
        n: usize,
        mut f: impl FnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.time_with_setup(name, n, || Ok(()), |()| f())
    }

    /// Like [`Self::time`], with an untimed `setup` before each run.
    fn time_with_setup<S, T>(
        &mut self,
        name: &str,
        n: usize,
        mut setup: impl FnMut() -> anyhow::Result<S>,
        mut f: impl FnMut(S) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut times = Vec::with_capacity(n);
        let mut last = None;
        // One untimed run first (as the PyTorch side does): caches, allocator, thread pool.
        if n > 1 {
            f(setup()?)?;
        }
        for _ in 0..n.max(1) {
            let s = setup()?;
            let t = Instant::now();
            last = Some(f(s)?);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        self.rows.push((
            name.to_owned(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
        ));
        Ok(last.expect("ran at least once"))
    }
}

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let n = args.iterations;
    let mut t = Timer { rows: Vec::new() };
    let model = t.time("load model", 1, || args.model.load())?;
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/chelsea.png"));
    let photo = t.time("decode photo", n, || Ok(load_image(&image)?))?;
    // The step `input::from_photo` runs, timed without cloning the photo.
    let pre = preprocess_for(model.preprocess, PhotoFit::CenterCrop);
    let (input, mapping) = t.time("preprocess", n, || Ok(pre.apply(&photo, model.device())?))?;
    // Each pass is dropped inside its run, as in the cases below: keeping the last one alive
    // while the next is made doubles the memory in use, and its page faults are not the
    // forward pass's cost.
    t.time("forward (taped)", n, || {
        Explainer::new(&model, &input)?;
        Ok(())
    })?;
    let ex = Explainer::new(&model, &input)?;
    // What the perturbation methods and metrics run, and what a framework's inference-mode
    // forward does: nothing recorded.
    t.time("forward (untaped)", n, || {
        Ok(model.logits_from(None, &input)?)
    })?;
    let forward_ms = t.rows.last().map_or(0.0, |r| r.1);
    let (_, flops) = counting_flops(|| model.logits_from(None, &input));
    let gflops = flops as f64 / 1e9;
    // The first map of a photo, as a notebook computes it: forward and the backward it needs.
    t.time("Grad-CAM end to end (forward + backward)", n, || {
        Ok(Explainer::new(&model, &input)?.explain(Method::GradCam, None, 0)?)
    })?;
    t.time("guided backprop end to end (forward + backward)", n, || {
        Ok(Explainer::new(&model, &input)?.explain(Method::GuidedBackprop, None, 0)?)
    })?;
    let top = ex.top_k(2)?;
    let (c1, c2) = (top[0].class, top[1].class);
    let layers = model.layers()?;
    let spatial: Vec<&str> = layers
        .iter()
        .filter(|l| l.shape.len() == 3 && l.alias_of.is_none())
        .map(|l| l.name.as_str())
        .collect();
    let early = spatial[spatial.len() / 2];

    // Each explanation below runs on a fresh forward pass (made outside the timing), so that
    // no gradient cache helps it.
    let default = model.default_layer().to_owned();
    let mut fresh = |name: &str, method: Method, layer: Option<&str>| -> anyhow::Result<()> {
        t.time_with_setup(
            name,
            n,
            || Ok(Explainer::new(&model, &input)?),
            |ex| Ok(ex.explain(method, layer, c1)?),
        )?;
        Ok(())
    };
    if model.cam_head().is_ok() {
        fresh("CAM (default layer)", Method::Cam, None)?;
    }
    fresh(
        &format!("Grad-CAM at {default} (backward only)"),
        Method::GradCam,
        None,
    )?;
    fresh(
        &format!("Grad-CAM at {early} (backward only)"),
        Method::GradCam,
        Some(early),
    )?;
    fresh(
        "guided backprop (backward to input)",
        Method::GuidedBackprop,
        None,
    )?;
    // One map of each method at the default layer (CAM needs a GAP + linear head).
    let methods = args
        .methods
        .as_ref()
        .map_or(Method::ALL.to_vec(), |m| m.0.clone());
    for m in methods {
        if m == Method::Cam && model.cam_head().is_err() {
            continue;
        }
        let runs = if m.is_perturbation() { 1 } else { n };
        t.time_with_setup(
            &format!("map: {m}"),
            runs,
            || Ok(Explainer::new(&model, &input)?),
            |ex| Ok(ex.explain(m, None, c1)?),
        )?;
    }
    t.time("second class, same forward (Grad-CAM)", n, || {
        Ok(ex.explain(Method::GradCam, None, c2)?)
    })?;
    let e = ex.explain(Method::GradCam, None, c1)?;
    // A full faithfulness run of one map (docs/metrics.md): 2 × 51 forward passes for the
    // curves, 2 for the confidence change, 19 for ROAD.
    t.time(
        "metrics of one map (deletion + insertion 50 steps, confidence, ROAD)",
        1,
        || {
            let s = CurveSettings {
                class: c1,
                steps: 50,
                baseline: Baseline::Blur,
                batch_size: 32,
                check: &|| Ok(()),
                progress: None,
            };
            deletion_insertion(&model, &input, &e.map, &s)?;
            confidence(&model, &input, &e.map, c1)?;
            Ok(road(&model, &input, &e.map, c1, 0.01, 0)?)
        },
    )?;
    let style = OverlayStyle::default();
    let caption = Caption {
        label: "bench",
        probability: top[0].probability,
        method: Method::GradCam,
        layer: &default,
        threshold: 0.2,
    };
    let boxes = photo_boxes(&e.localization, &mapping, 0.2, false);
    let img = t.time(
        &format!(
            "overlay + box + caption ({}×{})",
            photo.width(),
            photo.height()
        ),
        n,
        || {
            Ok(annotated_with_caption(
                &photo, &mapping, &e, &style, None, &boxes, &caption,
            ))
        },
    )?;
    let dir = std::env::temp_dir().join(format!("camscope-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    t.time("PNG export (atomic)", n, || {
        Ok(save_png(&dir.join("a.png"), &img)?)
    })?;

    // A 12-megapixel photo: resizing for the model and drawing at full resolution.
    let big = RgbImage::from_fn(4000, 3000, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let (_, big_map) = t.time("preprocess 4000×3000", n, || {
        Ok(pre.apply(&big, model.device())?)
    })?;
    let big_img = t.time("overlay + box + caption 4000×3000", n, || {
        Ok(annotated_with_caption(
            &big, &big_map, &e, &style, None, &boxes, &caption,
        ))
    })?;
    t.time("PNG export 4000×3000", 1, || {
        Ok(save_png(&dir.join("b.png"), &big_img)?)
    })?;
    let _ = std::fs::remove_dir_all(&dir);

    let rss = peak_rss_mib();
    if args.json {
        let rows: Vec<_> = t
            .rows
            .iter()
            .map(|(name, med, min, max)| serde_json::json!({"step": name, "median_ms": med, "min_ms": min, "max_ms": max}))
            .collect();
        let out = serde_json::json!({
            "model": args.model.display(),
            "architecture": model.architecture,
            "device": format!("{:?}", model.device()),
            "iterations": n,
            "forward_gflop": gflops,
            "forward_gflop_per_s": gflops / (forward_ms / 1e3),
            "steps": rows,
            "peak_rss_mib": rss,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!(
            "{} ({}), median of {n}:",
            args.model.display(),
            model.architecture
        );
        for (name, med, min, max) in &t.rows {
            outln!("  {name:50} {med:9.1} ms   ({min:.1} – {max:.1})");
        }
        outln!(
            "  forward: {gflops:.2} GFLOP, {:.1} GFLOP/s",
            gflops / (forward_ms / 1e3)
        );
        if let Some(r) = rss {
            outln!("  peak resident memory: {r:.0} MiB");
        }
    }
    Ok(ExitCode::SUCCESS)
}
