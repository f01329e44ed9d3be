//! File dialogs behind a trait: the app uses rfd on its own thread, tests script the answers.

use std::path::PathBuf;

/// What the user is asked to pick.
#[derive(Clone, Debug, PartialEq)]
pub enum PickKind {
    Image,
    Model,
    /// A folder of photos (the gallery).
    Folder,
    /// A labels CSV.
    Csv,
    /// A file to save, with a suggested name.
    Save {
        suggested: String,
        extension: &'static str,
    },
}

/// How a file dialog ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Picked {
    File(PathBuf),
    Cancelled,
    /// No dialog could be shown (no XDG desktop portal, no thread): the app opens its own
    /// browser instead ([`super::browser::FileBrowser`]).
    NoDialog,
}

/// The answer arrives through `done`, possibly on another thread.
pub type PickDone = Box<dyn FnOnce(Picked) + Send>;

/// A native dialog that comes back with nothing sooner than this was never shown: rfd
/// returns at once when no portal answers (a person cannot cancel that fast).
const NO_DIALOG_WITHIN: std::time::Duration = std::time::Duration::from_millis(300);

pub trait FilePicker: Send {
    fn pick(&self, kind: PickKind, done: PickDone);
}

/// Native dialogs (XDG portal on Linux), each on a thread of its own so the UI never waits.
pub struct RfdPicker;

impl FilePicker for RfdPicker {
    fn pick(&self, kind: PickKind, done: PickDone) {
        let done = std::sync::Arc::new(std::sync::Mutex::new(Some(done)));
        let answer = done.clone();
        let spawned = std::thread::Builder::new()
            .name("camscope-file-dialog".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let d = rfd::FileDialog::new();
                let path = match kind {
                    PickKind::Image => d
                        .add_filter("Images", &crate::engine::io::preprocess::IMAGE_EXTENSIONS)
                        .pick_file(),
                    PickKind::Model => d.add_filter("safetensors", &["safetensors"]).pick_file(),
                    PickKind::Folder => d.pick_folder(),
                    PickKind::Csv => d.add_filter("CSV", &["csv"]).pick_file(),
                    PickKind::Save {
                        suggested,
                        extension,
                    } => d
                        .add_filter(extension, &[extension])
                        .set_file_name(suggested)
                        .save_file(),
                };
                let picked = match path {
                    Some(p) => Picked::File(p),
                    None if started.elapsed() < NO_DIALOG_WITHIN => Picked::NoDialog,
                    None => Picked::Cancelled,
                };
                if let Some(done) = answer.lock().ok().and_then(|mut d| d.take()) {
                    done(picked);
                }
            });
        if spawned.is_err()
            && let Some(done) = done.lock().ok().and_then(|mut d| d.take())
        {
            done(Picked::NoDialog);
        }
    }
}
