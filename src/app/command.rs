//! Everything a panel may ask for, applied after the frame is drawn. A dropped file becomes
//! the same command as File → Open.

use std::path::{Path, PathBuf};

use egui::Vec2;

use super::CamscopeApp;
use super::gallery::GalleryCommand;
use super::mirror::Status;
use super::picker::PickKind;
use super::prefs::{Display, remember};
use super::protocol::{ExportKind, ImageSource, ModelSource, PaneSpec, Request, Smoothing};
use crate::engine::Method;

#[derive(Clone, Debug)]
pub enum Command {
    OpenImage(PathBuf),
    /// What the gallery's controls ask for (docs/gallery.md).
    Gallery(GalleryCommand),
    OpenSample,
    OpenModel(PathBuf),
    OpenBuiltinModel,
    /// A second model beside the first (`None`: the built-in one).
    OpenSecondModel(Option<PathBuf>),
    CloseSecondModel,
    /// Ask the picker for a file of this kind.
    Pick(PickKind, PickPurpose),
    /// Open camscope's own file browser for a file of this kind.
    Browse(PickKind, PickPurpose),
    /// `None`: the top-1 class.
    SetClass(Option<usize>),
    /// Pane `i` of the current view gets another method or layer.
    SetPane(usize, PaneSpec),
    AddPane,
    RemovePane,
    SetCompare(bool),
    /// Show (and compute) the faithfulness curves of the panes.
    SetShowMetrics(bool),
    /// Stop computing the faithfulness curves.
    StopMetrics,
    /// Compute the faithfulness curves again after they were stopped.
    ComputeMetrics,
    SetGpu(bool),
    SetSmoothing(Smoothing),
    SetDisplay(Display),
    /// Stop the slow method that is running.
    Cancel,
    /// Write the view of `generation` (the one on screen when export was chosen).
    Export {
        kind: ExportKind,
        path: PathBuf,
        generation: u64,
    },
    /// Zoom by `factor` keeping the point `at` (relative to the canvas centre) in place.
    Zoom {
        factor: f32,
        at: Vec2,
    },
    Pan(Vec2),
    ResetView,
    /// What the pointer is over, for the status bar.
    Hover(Option<String>),
}

/// What a picked file is for.
#[derive(Clone, Debug, PartialEq)]
pub enum PickPurpose {
    OpenImage,
    OpenModel,
    OpenSecondModel,
    OpenFolder,
    GalleryLabels,
    /// Export the view of this generation.
    Export(ExportKind, u64),
}

impl PickPurpose {
    /// The command for the picked `path`.
    pub fn command(self, path: PathBuf) -> Command {
        match self {
            PickPurpose::OpenImage => Command::OpenImage(path),
            PickPurpose::OpenModel => Command::OpenModel(path),
            PickPurpose::OpenSecondModel => Command::OpenSecondModel(Some(path)),
            PickPurpose::OpenFolder => Command::Gallery(GalleryCommand::OpenFolder(path)),
            PickPurpose::GalleryLabels => Command::Gallery(GalleryCommand::Labels(path)),
            PickPurpose::Export(kind, generation) => Command::Export {
                kind,
                path,
                generation,
            },
        }
    }
}

/// A dropped folder opens as the gallery, a `.safetensors` as a model; anything else is
/// tried as an image.
pub fn command_for_dropped(p: &Path) -> Command {
    if p.is_dir() {
        return Command::Gallery(GalleryCommand::OpenFolder(p.to_owned()));
    }
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if ext == "safetensors" {
        Command::OpenModel(p.to_owned())
    } else {
        // Unknown extensions too: the worker's decoder says what is wrong.
        Command::OpenImage(p.to_owned())
    }
}

/// The most panes the compare view shows, and the fewest.
pub const MAX_PANES: usize = 4;
pub const MIN_PANES: usize = 2;

impl Command {
    /// Whether the command makes the explanation being computed pointless: it opens something
    /// else, asks for other maps, or says stop.
    fn stops_running_work(&self) -> bool {
        matches!(
            self,
            Command::OpenImage(_)
                | Command::OpenSample
                | Command::OpenModel(_)
                | Command::OpenBuiltinModel
                | Command::OpenSecondModel(_)
                | Command::CloseSecondModel
                | Command::SetGpu(_)
                | Command::SetClass(_)
                | Command::SetPane(..)
                | Command::AddPane
                | Command::RemovePane
                | Command::SetCompare(_)
                | Command::SetSmoothing(_)
                | Command::Cancel
        )
    }
}

impl CamscopeApp {
    pub(super) fn apply(&mut self, cmd: Command) {
        if cmd.stops_running_work() {
            self.link.cancel_running();
        }
        match cmd {
            Command::Gallery(g) => self.apply_gallery(g),
            Command::OpenImage(p) => {
                remember(&mut self.prefs.recent_images, &p);
                self.prefs.image = Some(p.clone());
                self.send(Request::OpenImage(ImageSource::File(p)));
            }
            Command::OpenSample => {
                self.prefs.image = None;
                self.send(Request::OpenImage(ImageSource::Sample));
            }
            Command::OpenModel(p) => {
                remember(&mut self.prefs.recent_models, &p);
                self.prefs.model = Some(p.clone());
                self.send(Request::LoadModel(ModelSource::File(p), self.device()));
            }
            Command::OpenBuiltinModel => {
                self.prefs.model = None;
                self.send(Request::LoadModel(ModelSource::Builtin, self.device()));
            }
            Command::OpenSecondModel(p) => {
                if let Some(p) = &p {
                    remember(&mut self.prefs.recent_models, p);
                }
                let source = p.map_or(ModelSource::Builtin, ModelSource::File);
                self.send(Request::LoadSecondModel(Some(source), self.device()));
            }
            Command::CloseSecondModel => {
                for pane in &mut self.prefs.compare {
                    pane.second = false;
                }
                self.prefs.single.second = false;
                self.send(Request::LoadSecondModel(None, self.device()));
            }
            Command::SetGpu(on) => {
                self.prefs.use_gpu = on;
                let source = match &self.prefs.model {
                    Some(p) => ModelSource::File(p.clone()),
                    None => ModelSource::Builtin,
                };
                self.send(Request::LoadModel(source, self.device()));
            }
            Command::Pick(kind, purpose) => {
                let tx = self.picked_tx.clone();
                let ctx = self.ctx.clone();
                let asked = kind.clone();
                self.picker.pick(
                    kind,
                    Box::new(move |picked| {
                        let _ = tx.send((asked, purpose, picked));
                        ctx.request_repaint();
                    }),
                );
            }
            Command::Browse(kind, purpose) => self.open_browser(kind, purpose),
            Command::SetClass(c) => {
                self.mirror.class = c;
                self.mirror.needs_explain = true;
            }
            Command::SetPane(i, spec) => {
                if let Some(pane) = self.prefs.pane_mut(i) {
                    *pane = spec;
                    self.mirror.needs_explain = true;
                }
            }
            Command::AddPane => {
                if self.prefs.compare.len() < MAX_PANES {
                    self.prefs.compare.push(PaneSpec {
                        method: Method::GradCam,
                        layer: None,
                        second: false,
                    });
                    self.mirror.needs_explain = true;
                }
            }
            Command::RemovePane => {
                if self.prefs.compare.len() > MIN_PANES {
                    self.prefs.compare.pop();
                    self.mirror.needs_explain = true;
                }
            }
            Command::SetShowMetrics(on) => {
                self.prefs.show_metrics = on;
                if on {
                    self.apply(Command::ComputeMetrics);
                } else if self.metrics_running() {
                    self.link.cancel_running();
                }
            }
            Command::StopMetrics => {
                if self.metrics_running() {
                    self.link.cancel_running();
                }
            }
            Command::ComputeMetrics => {
                self.mirror.metrics_stopped = None;
                self.requested_metrics = None;
            }
            Command::SetCompare(on) => {
                self.prefs.compare_mode = on;
                self.mirror.needs_explain = true;
            }
            Command::SetSmoothing(s) => {
                self.prefs.smoothing = s;
                self.mirror.needs_explain = true;
            }
            Command::SetDisplay(d) => self.prefs.set_display(d),
            Command::Cancel => {}
            Command::Export {
                kind,
                path,
                generation,
            } => {
                self.mirror.status = Status::info(format!("saving {}…", path.display()));
                self.send(Request::Export {
                    generation,
                    kind,
                    path,
                    style: self.prefs.draw_style(),
                });
            }
            Command::Zoom { factor, at } => {
                self.view.pan = at - (at - self.view.pan) * factor;
                self.view.zoom *= factor;
            }
            Command::Pan(d) => self.view.pan += d,
            Command::ResetView => {
                self.view.zoom = 1.0;
                self.view.pan = Vec2::ZERO;
            }
            Command::Hover(h) => self.view.hover = h,
        }
    }
}
