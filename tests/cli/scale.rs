//! Runs as units for a cluster (docs/scale.md): `--shard`, `--resume`, the results log and
//! `camscope merge`, on batch and eval-loc.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::*;

/// `n` small photos, each a different scene (a bright disc on a gradient), named `pNN.png`,
/// plus one file that is not an image.
fn photos(dir: &Path, n: u32) -> PathBuf {
    let images = dir.join("in");
    std::fs::create_dir(&images).unwrap();
    for k in 0..n {
        let (w, h) = (72 + 4 * k, 56);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let (cx, cy) = ((10 + 5 * k) % w, 12 + (3 * k) % 30);
            let d2 = (x as i64 - cx as i64).pow(2) + (y as i64 - cy as i64).pow(2);
            if d2 < 120 {
                image::Rgb([250, 220, (40 * k % 255) as u8])
            } else {
                image::Rgb([(x * 3) as u8, (y * 4) as u8, (k * 20 % 255) as u8])
            }
        });
        img.save(images.join(format!("p{k:02}.png"))).unwrap();
    }
    std::fs::write(images.join("p99.png"), b"not a png").unwrap();
    images
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn batch(images: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["batch", "--images", s(images), "--out", s(out)];
    args.extend_from_slice(extra);
    let (code, _, err) = camscope_code(&args);
    (code, err)
}

/// The record lines of a log (its header left out).
fn records(log: &Path) -> Vec<String> {
    read(log).lines().skip(1).map(str::to_owned).collect()
}

/// Three shards into one folder, one of them killed mid-run and resumed, merge into a summary
/// byte for byte the one of a single run over every photo; merge refuses what is not one
/// whole run.
#[test]
fn batch_shards_killed_resumed_and_merged_equal_one_run() {
    let dir = temp_dir();
    let images = photos(dir.path(), 8);
    let whole = dir.path().join("whole");
    let (code, err) = batch(&images, &whole, &[]);
    assert_eq!(
        code,
        Some(3),
        "the broken file fails, the rest goes on: {err}"
    );
    let log = read(&whole.join("results.jsonl"));
    let header: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(header["log"], "batch");
    assert_eq!(header["photos"], 9);
    assert_eq!(header["settings"]["method"], "gradcam");
    assert_eq!(log.lines().count(), 10);

    let shared = dir.path().join("shards");
    // Shard 1 is killed once it has written a record (or, on a machine fast enough to finish
    // first, cut back to how a kill leaves it: whole records, then half of one).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_camscope"))
        .args(["batch", "--images", s(&images), "--out", s(&shared)])
        .args(["--shard", "1/3"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log1 = shared.join("results.shard-1-of-3.jsonl");
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&log1).map_or(0, |t| t.lines().count()) < 2
        && start.elapsed().as_secs() < 120
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().ok();
    child.wait().unwrap();
    let kept: Vec<String> = read(&log1).lines().take(2).map(str::to_owned).collect();
    std::fs::write(&log1, format!("{}\n{{\"file\":\"p0", kept.join("\n"))).unwrap();
    for i in [0, 2] {
        let (code, err) = batch(&images, &shared, &["--shard", &format!("{i}/3")]);
        assert!(code == Some(0) || code == Some(3), "{err}");
    }
    let (code, _, err) = camscope_code(&["merge", s(&shared), "--out", s(&dir.path().join("m"))]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("shard 1/3 is incomplete: 1 of its 3 photos") && err.contains("--resume"),
        "{err}"
    );

    // Resuming with other settings is refused, naming the setting.
    let (code, err) = batch(
        &images,
        &shared,
        &["--shard", "1/3", "--resume", "--method", "cam"],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("method") && err.contains("--resume"), "{err}");
    let (code, err) = batch(&images, &shared, &["--shard", "1/3", "--resume"]);
    assert!(code == Some(0) || code == Some(3), "{err}");
    assert!(err.contains("1 cut-off line(s) dropped"), "{err}");
    assert!(err.contains("1 of 3 photos already done"), "{err}");
    assert_eq!(
        err.matches("] ").count(),
        2,
        "only the two left are explained: {err}"
    );

    let merged = dir.path().join("merged");
    let (code, _, err) = camscope_code(&["merge", s(&shared), "--out", s(&merged)]);
    assert_eq!(code, Some(3), "the broken file is still one failure: {err}");
    for f in ["summary.csv", "summary.json", "results.jsonl"] {
        assert_eq!(read(&merged.join(f)), read(&whole.join(f)), "{f}");
    }
    let v: Value = serde_json::from_str(&read(&merged.join("summary.json"))).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 8);
    assert_eq!(v["failed"][0]["file"], "p99.png");
    assert_eq!(
        v["settings"]["model"]["file"],
        header["settings"]["model"]["file"]
    );
    // Every shard wrote its PNGs into the shared folder, named as the whole run names them.
    for r in v["results"].as_array().unwrap() {
        assert!(shared.join(r["output"].as_str().unwrap()).is_file(), "{r}");
    }

    // Not one run: a shard missing, a shard made with other settings, a shard given twice.
    let (code, _, err) = camscope_code(&[
        "merge",
        s(&shared.join("results.shard-0-of-3.jsonl")),
        s(&shared.join("results.shard-2-of-3.jsonl")),
        "--out",
        s(&dir.path().join("m2")),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("shard(s) 1 of 3 missing"), "{err}");
    let other = dir.path().join("other");
    batch(&images, &other, &["--shard", "1/3", "--threshold", "0.3"]);
    let (code, _, err) = camscope_code(&[
        "merge",
        s(&shared.join("results.shard-0-of-3.jsonl")),
        s(&other.join("results.shard-1-of-3.jsonl")),
        s(&shared.join("results.shard-2-of-3.jsonl")),
        "--out",
        s(&dir.path().join("m3")),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("render") && err.contains("same settings"),
        "{err}"
    );
    let (code, _, err) = camscope_code(&[
        "merge",
        s(&shared.join("results.shard-0-of-3.jsonl")),
        s(&shared.join("results.shard-0-of-3.jsonl")),
        "--out",
        s(&dir.path().join("m4")),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("are both shard 0/3"), "{err}");
    // The merged log is not written over an input.
    let (code, _, err) = camscope_code(&["merge", s(&whole), "--out", s(&whole)]);
    assert_eq!(code, Some(1));
    assert!(err.contains("replace an input log"), "{err}");
}

/// `--resume` on a finished run does nothing again; without it, the run starts over.
#[test]
fn resume_skips_complete_photos_and_retries_failed_ones() {
    let dir = temp_dir();
    let images = photos(dir.path(), 2);
    let out = dir.path().join("out");
    batch(&images, &out, &[]);
    let before = records(&out.join("results.jsonl"));
    // A PNG gone: its photo is explained again; the failed file is tried again too.
    std::fs::remove_file(out.join("p01.gradcam.png")).unwrap();
    let (code, err) = batch(&images, &out, &["--resume"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("1 of 3 photos already done"), "{err}");
    assert!(
        err.contains("p01.png:") && err.contains("p99.png: FAILED"),
        "{err}"
    );
    assert!(!err.contains("p00.png:"), "{err}");
    assert!(out.join("p01.gradcam.png").is_file());
    let mut after = records(&out.join("results.jsonl"));
    after.sort();
    let mut expected = before.clone();
    expected.sort();
    assert_eq!(after, expected);
    // --resume where no run was made is a fresh run.
    let (code, err) = batch(&images, &dir.path().join("fresh"), &["--resume"]);
    assert_eq!(code, Some(3), "{err}");
    // A bad --shard is a usage error.
    let (code, err) = batch(&images, &out, &["--shard", "3/3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("0 <= I < N"), "{err}");
}

/// eval-loc in two shards merges into the metrics of one run; without --out it cannot shard.
#[test]
fn eval_loc_shards_merge_into_the_whole_runs_metrics() {
    let dir = temp_dir();
    let ds = photos(dir.path(), 5);
    let mut csv = String::from("file,class,x0,y0,x1,y1\n");
    for k in 0..5 {
        csv += &format!("p{k:02}.png,{},{},4,{},40\n", 100 + k, 2 + k, 40 + 4 * k);
    }
    csv += "p01.png,101,50,30,70,50\n";
    std::fs::write(ds.join("boxes.csv"), csv).unwrap();
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval-loc", "--dataset", s(&ds), "--methods", "cam,gradcam"];
        args.extend_from_slice(extra);
        camscope_code(&args)
    };
    let whole = dir.path().join("whole");
    let (code, table, err) = eval(&["--out", s(&whole)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(table.contains("MaxBoxAccV2"), "{table}");
    let shards = dir.path().join("shards");
    for i in ["0/2", "1/2"] {
        let (code, _, err) = eval(&["--out", s(&shards), "--shard", i]);
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, stdout, err) = camscope_code(&[
        "merge",
        s(&shards),
        "--out",
        s(&dir.path().join("merged")),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let merged: Value = serde_json::from_str(&stdout).unwrap();
    let one: Value = serde_json::from_str(&read(&whole.join("summary.json"))).unwrap();
    assert_eq!(merged, one);
    assert_eq!(merged["metrics"]["gradcam"]["images"], 5);
    assert_eq!(
        read(&dir.path().join("merged/summary.json")),
        read(&whole.join("summary.json"))
    );
    let (code, _, err) = eval(&["--shard", "0/2"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("need --out"), "{err}");
}
