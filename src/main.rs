//! The `camscope` binary: the headless CLI (and, with the `gui` feature, the desktop app).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("camscope: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
