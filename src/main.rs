//! The `camscope` binary: the headless CLI (and, with the `gui` feature, the desktop app).

mod cli;

use std::process::ExitCode;

/// mimalloc keeps freed pages for a while: glibc's malloc maps every allocation over 32 MiB
/// afresh and unmaps it on free, and a batch of activations (32 masked inputs of Score-CAM or
/// the faithfulness curves) is hundreds of MiB per layer — page faults and TLB shootdowns
/// cost a third of a batched forward pass on this machine (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        // The reader went away (`camscope layers … | head`): nothing more to say, as ripgrep.
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("camscope: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
