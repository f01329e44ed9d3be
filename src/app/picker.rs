//! File dialogs behind a trait: the app uses rfd on its own thread, tests script the answers.

use std::path::PathBuf;

/// What the user is asked to pick.
#[derive(Clone, Debug, PartialEq)]
pub enum PickKind {
    Image,
    Model,
    /// A file to save, with a suggested name.
    Save {
        suggested: String,
        extension: &'static str,
    },
}

/// The answer arrives through `done`, possibly on another thread; `None` means cancelled.
pub type PickDone = Box<dyn FnOnce(Option<PathBuf>) + Send>;

pub trait FilePicker: Send {
    fn pick(&self, kind: PickKind, done: PickDone);
}

/// Native dialogs (XDG portal on Linux), each on a thread of its own so the UI never waits.
pub struct RfdPicker;

impl FilePicker for RfdPicker {
    fn pick(&self, kind: PickKind, done: PickDone) {
        // Without a thread there is no dialog: the same as cancelling, so the error is dropped.
        let _ = std::thread::Builder::new()
            .name("camscope-file-dialog".into())
            .spawn(move || {
                let d = rfd::FileDialog::new();
                let path = match kind {
                    PickKind::Image => d
                        .add_filter("Images", &crate::engine::preprocess::IMAGE_EXTENSIONS)
                        .pick_file(),
                    PickKind::Model => d.add_filter("safetensors", &["safetensors"]).pick_file(),
                    PickKind::Save {
                        suggested,
                        extension,
                    } => d
                        .add_filter(extension, &[extension])
                        .set_file_name(suggested)
                        .save_file(),
                };
                done(path);
            });
    }
}
