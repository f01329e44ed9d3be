//! camscope's own file browser, in the window: used when the system's file dialog is not
//! there (no XDG desktop portal — minimal window managers, WSL, remote X, containers — where
//! rfd returns at once without showing anything) and from File → "Browse files in the
//! window…". Folders are listed on a thread of their own: the UI never waits on the disk.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use super::command::{Command, PickPurpose};
use super::picker::PickKind;

/// One listing of a folder: sub-folders and the files the pick wants, sorted, or the error.
type Listing = Result<(Vec<String>, Vec<String>), String>;

pub struct FileBrowser {
    kind: PickKind,
    purpose: PickPurpose,
    /// The folder shown, as typed or navigated to.
    folder: String,
    /// The file name to open or save.
    name: String,
    listing: Option<Listing>,
    pending: Option<Receiver<Listing>>,
    listed: PathBuf,
}

/// What the picker wants: the extensions shown, the window title and the button.
fn wants(kind: &PickKind) -> (Vec<&'static str>, &'static str, &'static str) {
    match kind {
        PickKind::Image => (
            crate::engine::io::preprocess::IMAGE_EXTENSIONS.to_vec(),
            "Open image",
            "Open",
        ),
        PickKind::Model => (vec!["safetensors"], "Open model", "Open"),
        // Photos are listed to show what the folder holds; Open takes the folder shown.
        PickKind::Folder => (
            crate::engine::io::preprocess::IMAGE_EXTENSIONS.to_vec(),
            "Open folder",
            "Open this folder",
        ),
        PickKind::Csv => (vec!["csv"], "Open labels CSV", "Open"),
        PickKind::Save { extension, .. } => (vec![*extension], "Save as", "Save"),
    }
}

fn list(dir: &Path, extensions: &[&str]) -> Listing {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if e.path().is_dir() {
            dirs.push(name);
        } else if Path::new(&name)
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| extensions.iter().any(|w| w.eq_ignore_ascii_case(x)))
        {
            files.push(name);
        }
    }
    dirs.sort_by_key(|d| d.to_lowercase());
    files.sort_by_key(|f| f.to_lowercase());
    Ok((dirs, files))
}

impl FileBrowser {
    /// A browser for `kind`, starting in `start` (the last folder used, else the current one).
    pub fn new(kind: PickKind, purpose: PickPurpose, start: Option<&Path>) -> Self {
        let folder = start
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"));
        let name = match &kind {
            PickKind::Save { suggested, .. } => suggested.clone(),
            _ => String::new(),
        };
        Self {
            kind,
            purpose,
            folder: folder.display().to_string(),
            name,
            listing: None,
            pending: None,
            listed: PathBuf::new(),
        }
    }

    fn relist(&mut self, ctx: &egui::Context) {
        let dir = PathBuf::from(&self.folder);
        if dir == self.listed && (self.listing.is_some() || self.pending.is_some()) {
            return;
        }
        self.listed = dir.clone();
        self.listing = None;
        let (tx, rx) = channel();
        let (extensions, _, _) = wants(&self.kind);
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("camscope-browser".into())
            .spawn(move || {
                let _ = tx.send(list(&dir, &extensions));
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.pending = Some(rx),
            Err(e) => self.listing = Some(Err(format!("cannot list the folder: {e}"))),
        }
    }

    fn enter(&mut self, dir: PathBuf) {
        self.folder = dir.display().to_string();
    }

    /// Shows the window; returns whether it stays open. A chosen file becomes a command.
    pub fn show(&mut self, ctx: &egui::Context, out: &mut Vec<Command>) -> bool {
        if let Some(rx) = &self.pending
            && let Ok(l) = rx.try_recv()
        {
            self.listing = Some(l);
            self.pending = None;
        }
        self.relist(ctx);
        let (_, title, action) = wants(&self.kind);
        let mut open = true;
        let mut done = false;
        egui::Window::new(title)
            .collapsible(false)
            .default_size([460.0, 420.0])
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("Up").clicked()
                        && let Some(parent) = Path::new(&self.folder).parent()
                    {
                        self.enter(parent.to_path_buf());
                    }
                    let label = ui.label("Folder");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.folder).desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                });
                ui.separator();
                egui::ScrollArea::vertical()
                    .max_height(280.0)
                    .show(ui, |ui| match &self.listing {
                        None => {
                            ui.spinner();
                        }
                        Some(Err(e)) => {
                            ui.colored_label(ui.visuals().error_fg_color, e);
                        }
                        Some(Ok((dirs, files))) => {
                            let mut enter = None;
                            for d in dirs {
                                if ui.selectable_label(false, format!("{d}/")).clicked() {
                                    enter = Some(Path::new(&self.folder).join(d));
                                }
                            }
                            for f in files {
                                let r = ui.selectable_label(self.name == *f, f.as_str());
                                if r.clicked() {
                                    self.name = f.clone();
                                }
                                if r.double_clicked() {
                                    done = true;
                                }
                            }
                            if dirs.is_empty() && files.is_empty() {
                                ui.weak("no folders or matching files here");
                            }
                            if let Some(d) = enter {
                                self.enter(d);
                            }
                        }
                    });
                ui.separator();
                ui.horizontal(|ui| {
                    let label = ui.label("File name");
                    ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(240.0))
                        .labelled_by(label.id);
                    let folder = self.kind == PickKind::Folder;
                    let ok = ui.add_enabled(
                        folder || !self.name.trim().is_empty(),
                        egui::Button::new(action),
                    );
                    if ok.clicked() {
                        done = true;
                    }
                    if ui.button("Cancel").clicked() {
                        open = false;
                    }
                });
            });
        if done && self.kind == PickKind::Folder {
            out.push(self.purpose.clone().command(PathBuf::from(&self.folder)));
            return false;
        }
        if done && !self.name.trim().is_empty() {
            let path = Path::new(&self.folder).join(self.name.trim());
            out.push(self.purpose.clone().command(path));
            return false;
        }
        open
    }
}
