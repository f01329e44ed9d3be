//! A dataset run as a clean unit for a cluster (docs/scale.md): `--shard I/N` takes a stable
//! part of the photos, each photo's result is streamed to a JSON Lines log as it finishes,
//! `--resume` skips the photos a log already holds complete, and `camscope merge` joins the
//! shards' logs into the summary one run over every photo would have written.
//!
//! A log's first line is its [`Header`]: what made it (the settings, compared on resume and on
//! merge), which shard, and how many photos that shard holds — so that merge tells a finished
//! shard from a killed one. Each further line is one photo's record, appended with a single
//! write once its outputs are in place; a record cut short by a kill does not parse and is
//! dropped on resume.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use camscope::engine::Error;
use camscope::engine::io::files::write_atomic;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which part of a dataset a run takes: the photos at positions `index`, `index + count`, …
/// of the sorted list (a round-robin split, so shards of a folder sorted by class get every
/// class and similar work).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Self = Self { index: 0, count: 1 };

    /// The part of `sorted` this shard takes, in order.
    pub fn select<T>(&self, sorted: Vec<T>) -> Vec<T> {
        sorted
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index)
            .map(|(_, t)| t)
            .collect()
    }

    /// `""` for a whole run, else `.shard-I-of-N`: the shard's own file names, so that shards
    /// may share one output folder.
    pub fn suffix(&self) -> String {
        if self.count == 1 {
            String::new()
        } else {
            format!(".shard-{}-of-{}", self.index, self.count)
        }
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N` with 0 ≤ I < N (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`; Slurm and GNU
    /// parallel count as the user sets them up: docs/scale.md).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected I/N with 0 <= I < N (e.g. 0/4), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// `--shard` and `--resume`, shared by the commands that run over a dataset.
#[derive(clap::Args, Clone, Default)]
pub struct RunArgs {
    /// Take part I of N of the photos (0-based: 0/4 … 3/4), a round-robin split of their
    /// sorted paths; the logs and summaries get `.shard-I-of-N` in their names, so shards may
    /// share one --out folder (docs/scale.md). `camscope merge` joins them.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Continue an earlier run into the same --out: photos whose results are complete are
    /// skipped (a failed photo is tried again); a run made with other settings is refused.
    #[arg(long)]
    pub resume: bool,
}

impl RunArgs {
    pub fn shard(&self) -> Shard {
        self.shard.unwrap_or(Shard::WHOLE)
    }
}

/// The first line of a log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// `batch`, `eval-loc` or `report`: the command that wrote the log.
    pub log: String,
    /// The camscope version that wrote it.
    pub camscope: String,
    /// Everything that decides a photo's result (model file and SHA-256, method, layer, …).
    pub settings: Value,
    pub shard: Shard,
    /// How many photos this shard holds.
    pub photos: usize,
    /// The dataset as the command was given it (not compared: a cluster's nodes may mount it
    /// elsewhere).
    pub dataset: String,
}

impl Header {
    pub fn new(log: &str, settings: Value, shard: Shard, photos: usize, dataset: &Path) -> Self {
        Self {
            log: log.to_owned(),
            camscope: env!("CARGO_PKG_VERSION").to_owned(),
            settings,
            shard,
            photos,
            dataset: dataset.display().to_string(),
        }
    }

    /// Why two logs cannot be parts of one run, naming the first setting that differs.
    fn mismatch(&self, other: &Header) -> Option<String> {
        if self.log != other.log {
            return Some(format!("written by `{}` and by `{}`", self.log, other.log));
        }
        if self.camscope != other.camscope {
            return Some(format!(
                "camscope {} against {}",
                self.camscope, other.camscope
            ));
        }
        if self.shard.count != other.shard.count {
            return Some(format!(
                "split into {} and into {} shards",
                self.shard.count, other.shard.count
            ));
        }
        if self.settings != other.settings {
            let (a, b) = (&self.settings, &other.settings);
            let key = a
                .as_object()
                .into_iter()
                .flatten()
                .find(|(k, v)| b.get(k.as_str()) != Some(*v))
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| "settings".to_owned());
            return Some(format!(
                "{key}: {} against {}",
                a.get(&key).unwrap_or(&Value::Null),
                b.get(&key).unwrap_or(&Value::Null)
            ));
        }
        None
    }
}

/// A log being written.
pub struct Log {
    path: PathBuf,
    file: std::fs::File,
}

/// A log read back: its header and its whole records, in file order.
pub struct Read {
    pub header: Header,
    pub records: Vec<Value>,
    /// Lines that did not parse (a record cut short by a kill).
    pub dropped: usize,
}

impl Log {
    /// `DIR/results{suffix}.jsonl`.
    pub fn path_in(dir: &Path, shard: Shard) -> PathBuf {
        dir.join(format!("results{}.jsonl", shard.suffix()))
    }

    /// Starts the log at `path`. Without `resume` any earlier log there is replaced. With it,
    /// an earlier log made with the same settings is kept — those of its records for which
    /// `complete` holds; the rest are done again — and those records are returned; one made
    /// with other settings is refused. The log is rewritten (atomically) with the kept records
    /// before anything is appended, so a cut-off line never stays in it.
    pub fn start(
        path: &Path,
        header: &Header,
        resume: bool,
        complete: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<(Log, Vec<Value>)> {
        let mut kept = Vec::new();
        if resume && path.exists() {
            let old = read(path)?;
            if let Some(why) = old.header.mismatch(header).or_else(|| {
                (old.header.shard != header.shard).then(|| {
                    format!(
                        "shard {}/{} against {}/{}",
                        old.header.shard.index,
                        old.header.shard.count,
                        header.shard.index,
                        header.shard.count
                    )
                })
            }) {
                anyhow::bail!(
                    "{}: made by another run ({why}); --resume continues a run with the same \
                     settings: use another --out folder, or drop --resume to start again",
                    path.display()
                );
            }
            if old.dropped > 0 {
                eprintln!(
                    "{}: {} cut-off line(s) dropped (a run killed while writing)",
                    path.display(),
                    old.dropped
                );
            }
            kept = old.records.into_iter().filter(|r| complete(r)).collect();
        }
        write_atomic(path, |w| {
            writeln!(w, "{}", serde_json::to_string(header)?)?;
            for r in &kept {
                writeln!(w, "{}", serde_json::to_string(r)?)?;
            }
            Ok(())
        })?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
        Ok((
            Log {
                path: path.to_owned(),
                file,
            },
            kept,
        ))
    }

    /// Appends one record with a single write, so that a kill leaves whole lines or one
    /// cut-off last line. Returns the record as a reader of the log sees it (numbers as
    /// written), which is what the summaries are made of — the same whether a run was whole,
    /// resumed or merged from shards.
    pub fn append(&mut self, record: &impl Serialize) -> anyhow::Result<Value> {
        let value = read_back(record)?;
        let mut line = serde_json::to_string(&value)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::write(&self.path, e))?;
        Ok(value)
    }
}

/// A record as a reader of its log sees it: keys in one order, numbers as first printed,
/// whichever way it reaches the summaries (appended to a log, kept by a resume, joined by
/// merge, or a run without a log).
pub fn read_back(record: &impl Serialize) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&serde_json::to_string(record)?)?)
}

/// The order every summary is made in: by `file`, as a whole run lists its photos.
pub fn sort_by_file(records: &mut [Value]) {
    records.sort_by(|a, b| a["file"].as_str().cmp(&b["file"].as_str()));
}

/// The photos records already hold (a resumed run skips them).
pub fn files_of(records: &[Value]) -> std::collections::HashSet<String> {
    records
        .iter()
        .filter_map(|r| r["file"].as_str().map(str::to_owned))
        .collect()
}

/// Reads a log: its header must parse; a record line that does not is counted as dropped.
pub fn read(path: &Path) -> anyhow::Result<Read> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    let mut lines = text.lines();
    let header: Header = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: not a camscope results log (its first line is not a log header)",
                path.display()
            )
        })?;
    let mut records = Vec::new();
    let mut dropped = 0;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("file").is_some() => records.push(v),
            _ => dropped += 1,
        }
    }
    Ok(Read {
        header,
        records,
        dropped,
    })
}

/// The logs `camscope merge` was pointed at: files as given; a folder gives its shard logs
/// (`*.shard-I-of-N.jsonl`: batch's and eval-loc's `results…`, a report's `NAME…`), or its
/// `results.jsonl` when it has none.
pub fn logs_in(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut logs = Vec::new();
    for p in paths {
        if !p.is_dir() {
            anyhow::ensure!(p.is_file(), "{}: no such file or folder", p.display());
            logs.push(p.clone());
            continue;
        }
        let mut shards: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| Error::read(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(".shard-") && n.ends_with(".jsonl"))
            })
            .collect();
        shards.sort();
        if shards.is_empty() {
            let whole = p.join("results.jsonl");
            anyhow::ensure!(
                whole.is_file(),
                "{}: holds no results log (results.jsonl or results.shard-I-of-N.jsonl)",
                p.display()
            );
            shards.push(whole);
        }
        logs.extend(shards);
    }
    Ok(logs)
}

/// Joins the logs of one run's shards: every shard of the split once, each complete, all made
/// with the same settings. Returns the common header (as a whole run's) and every record,
/// sorted by `file` — the order a whole run writes.
pub fn merge(logs: &[PathBuf]) -> anyhow::Result<(Header, Vec<Value>)> {
    anyhow::ensure!(!logs.is_empty(), "no results logs to merge");
    let mut first: Option<(PathBuf, Header)> = None;
    let mut seen: Vec<Option<PathBuf>> = Vec::new();
    let mut records = Vec::new();
    let mut photos = 0;
    for path in logs {
        let log = read(path)?;
        let h = &log.header;
        match &first {
            None => {
                seen = vec![None; h.shard.count];
                first = Some((path.clone(), h.clone()));
            }
            Some((p0, h0)) => {
                if let Some(why) = h0.mismatch(h) {
                    anyhow::bail!(
                        "{} and {} are not parts of one run ({why}): shards must be made with \
                         the same settings",
                        p0.display(),
                        path.display()
                    );
                }
            }
        }
        if let Some(other) = &seen[h.shard.index] {
            anyhow::bail!(
                "{} and {} are both shard {}/{}",
                other.display(),
                path.display(),
                h.shard.index,
                h.shard.count
            );
        }
        seen[h.shard.index] = Some(path.clone());
        let unique = files_of(&log.records);
        anyhow::ensure!(
            unique.len() == h.photos && log.records.len() == h.photos,
            "{}: shard {}/{} is incomplete: {} of its {} photos have a result; run it again \
             with --resume",
            path.display(),
            h.shard.index,
            h.shard.count,
            unique.len(),
            h.photos
        );
        photos += h.photos;
        records.extend(log.records);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    let (_, mut header) = first.expect("at least one log");
    anyhow::ensure!(
        missing.is_empty(),
        "shard(s) {} of {} missing: merge needs every shard's log",
        missing.join(", "),
        header.shard.count
    );
    sort_by_file(&mut records);
    header.shard = Shard::WHOLE;
    header.photos = photos;
    Ok((header, records))
}

/// The SHA-256 of a file, hex: a model file named in a log or a report is identified by it.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest as _;
    let mut f = std::fs::File::open(path).map_err(|e| Error::read(path, e))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::read(path, e))?;
    Ok(format!("{:x}", h.finalize()))
}
