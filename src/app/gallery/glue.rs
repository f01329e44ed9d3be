//! The gallery inside the app: its commands, keeping its settings in step with the app's
//! (models, the single view's method and layer, the look), and which screen is shown.

use std::path::PathBuf;

use super::{ClassRule, Gallery, GalleryLink, GalleryRequest, GalleryView, Key};
use crate::app::CamscopeApp;
use crate::app::command::Command;
use crate::app::mirror::Status;
use crate::app::protocol::PaneSpec;

/// What the gallery's controls ask for.
#[derive(Clone, Debug)]
pub enum GalleryCommand {
    /// Open a folder as the gallery (drop, File → Open folder…, `camscope view DIR`).
    OpenFolder(PathBuf),
    /// Read the folder's ground truth from this labels CSV.
    Labels(PathBuf),
    Close,
    /// Show the gallery (`true`, Back) or the inspector.
    Show(bool),
    /// Open photo `i` in the inspector.
    OpenPhoto(usize),
    View(GalleryView),
    Rule(ClassRule),
    Auc(bool),
    /// Cancel (`true`) or resume the explaining.
    Pause(bool),
    /// The method and layer of the gallery (the single view's).
    SetPane(PaneSpec),
}

impl CamscopeApp {
    pub(in crate::app) fn apply_gallery(&mut self, cmd: GalleryCommand) {
        match cmd {
            GalleryCommand::OpenFolder(dir) => self.open_folder(dir, None),
            GalleryCommand::Labels(csv) => {
                if let Some(dir) = self.gallery.as_ref().map(|g| g.dir.clone()) {
                    self.open_folder(dir, Some(csv));
                }
            }
            GalleryCommand::Close => {
                self.gallery = None;
                self.show_gallery = false;
            }
            GalleryCommand::Show(on) => {
                self.show_gallery = on && self.gallery.is_some();
                if let Some(g) = &mut self.gallery {
                    g.restore_scroll = on;
                }
            }
            GalleryCommand::OpenPhoto(i) => {
                if let Some(p) = self.gallery.as_ref().and_then(|g| g.path(i)) {
                    self.show_gallery = false;
                    self.apply(Command::OpenImage(p));
                }
            }
            GalleryCommand::View(v) => {
                if let Some(g) = &mut self.gallery {
                    g.view = v;
                }
            }
            GalleryCommand::Rule(r) => {
                if let Some(g) = &mut self.gallery {
                    g.rule = r;
                }
            }
            GalleryCommand::Auc(on) => {
                let models = self.gallery_models();
                if let Some(g) = &mut self.gallery {
                    g.set_auc(on, models);
                }
            }
            GalleryCommand::Pause(p) => {
                if let Some(g) = &mut self.gallery {
                    g.set_paused(p);
                }
            }
            GalleryCommand::SetPane(spec) => {
                self.prefs.single = PaneSpec {
                    second: false,
                    ..spec
                };
                if !self.prefs.compare_mode {
                    self.mirror.needs_explain = true;
                }
            }
        }
    }

    fn open_folder(&mut self, dir: PathBuf, csv: Option<PathBuf>) {
        if !dir.is_dir() {
            self.mirror.status = Status::error(format!("{}: not a folder", dir.display()));
            return;
        }
        // One thread for every gallery opened in this window.
        let link = match self.gallery.take().and_then(|g| g.link) {
            Some(l) => Some(l),
            None => match GalleryLink::spawn(&self.ctx) {
                Ok(l) => Some(l),
                Err(e) => {
                    self.mirror.status =
                        Status::error(format!("cannot start the gallery's thread: {e}"));
                    return;
                }
            },
        };
        self.mirror.status = Status::info(format!("gallery of {}", dir.display()));
        self.gallery = Some(Gallery::new(dir, csv, link));
        self.show_gallery = true;
    }

    fn gallery_models(&self) -> [Option<std::sync::Arc<crate::engine::Model>>; 2] {
        [
            self.mirror.model.as_ref().map(|m| m.model.clone()),
            self.mirror.second.as_ref().map(|m| m.model.clone()),
        ]
    }

    /// Keeps the gallery's listing and settings in step with the models, method, layer and
    /// look; called every frame.
    pub(in crate::app) fn sync_gallery(&mut self) {
        let models = self.gallery_models();
        let (Some(a), Some(g)) = (self.mirror.model.as_ref(), self.gallery.as_mut()) else {
            return;
        };
        if g.listed_for != Some(a.id) {
            // Class folders are read with the model's class names.
            g.listed_for = Some(a.id);
            g.photos = None;
            g.key = None;
            let (dir, csv) = (g.dir.clone(), g.csv.clone());
            g.send(GalleryRequest::Open { dir, csv });
        }
        let key = Key {
            models: (a.id, self.mirror.second.as_ref().map(|b| b.id)),
            method: self.prefs.single.method,
            layer: self.prefs.single.layer.clone(),
            rule: g.rule,
            look: self.prefs.overlay_style(),
        };
        g.set_key(key, models);
    }
}
