//! `camscope merge`: the shards of one `batch` or `eval-loc` run joined into the summaries one
//! run over every photo writes (docs/scale.md).

use std::path::PathBuf;
use std::process::ExitCode;

use camscope::engine::Error;
use camscope::engine::io::files::write_atomic;

use super::runlog::{self, Log};
use super::{batch, eval_loc, report};

#[derive(clap::Args)]
pub struct Args {
    /// The shards' results logs, or folders holding them (`*.shard-I-of-N.jsonl`).
    #[arg(value_name = "LOG_OR_DIR", required = true)]
    logs: Vec<PathBuf>,
    /// Where the merged results.jsonl and summaries go (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// eval-loc runs: print the summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let logs = runlog::logs_in(&args.logs)?;
    let (header, records) = runlog::merge(&logs)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::write(&args.out, e))?;
    let merged = match header.settings["report"].as_str() {
        Some(stem) if header.log == "report" => args.out.join(format!("{stem}.jsonl")),
        _ => Log::path_in(&args.out, header.shard),
    };
    let target = super::input::resolved(&merged);
    if let Some(input) = logs.iter().find(|l| super::input::resolved(l) == target) {
        anyhow::bail!(
            "{}: the merged log would replace an input log; choose another --out folder",
            input.display()
        );
    }
    write_atomic(&merged, |w| {
        writeln!(w, "{}", serde_json::to_string(&header)?)?;
        for r in &records {
            writeln!(w, "{}", serde_json::to_string(r)?)?;
        }
        Ok(())
    })?;
    let failed = match header.log.as_str() {
        "batch" => batch::write_summaries(&args.out, &header, &records)?.len(),
        "report" => report::write_report(&args.out, &header, &records)?.1,
        "eval-loc" => {
            let summary = eval_loc::summarize(&header, &records)?;
            eval_loc::write_summary(&args.out, &header, &summary)?;
            eval_loc::print_summary(&summary, args.json)?;
            summary["failed"].as_array().map_or(0, Vec::len)
        }
        other => anyhow::bail!(
            "{}: a log of `{other}`, which merge does not know",
            logs[0].display()
        ),
    };
    eprintln!(
        "{} shard(s), {} photos ({failed} failed) merged into {}",
        logs.len(),
        records.len(),
        args.out.display()
    );
    Ok(super::exit_for(failed))
}
