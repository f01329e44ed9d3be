//! The `camscope` binary: the headless CLI (and, with the `gui` feature, the desktop app).

mod cli;

use std::process::ExitCode;

/// mimalloc keeps freed pages for a while: glibc's malloc maps every allocation over 32 MiB
/// afresh and unmaps it on free, and a batch of activations (32 masked inputs of Score-CAM or
/// the faithfulness curves) is hundreds of MiB per layer — page faults and TLB shootdowns
/// cost a third of a batched forward pass on this machine (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

unsafe extern "C" {
    /// mimalloc's option setter (exported by the library the `mimalloc` crate links).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3): milliseconds before freed memory goes
/// back to the OS.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> ExitCode {
    // Keep freed memory for a second instead of 10 ms: the tape of one photo (up to a few
    // hundred MiB) is then reused by the next instead of faulted in afresh — a ResNet-50
    // forward pass with the previous one's tape alive went from 83 to 53 ms. A
    // MIMALLOC_PURGE_DELAY in the environment still decides.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain setter of a mimalloc option, valid at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
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
