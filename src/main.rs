//! The `camscope` binary: the headless CLI (and, with the `gui` feature, the desktop app).

mod cli;

use std::process::ExitCode;

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
