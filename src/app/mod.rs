//! The desktop inspector (eframe / egui). A thin layer over the engine: panels push
//! [`Command`]s, which are applied after drawing; everything slow runs on the worker thread.

mod canvas;
mod menu;
pub mod picker;
pub mod prefs;
mod side_panel;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};

use crate::engine::localize::BBox;

use canvas::{PaneTextures, View};
use picker::{FilePicker, PickKind};
use prefs::{Prefs, remember};
use worker::{
    ExportKind, ExportStyle, ImageInfo, ImageSource, ModelInfo, ModelSource, PaneResult, Request,
    Response,
};

/// Everything a panel may ask for. Applied after the frame is drawn.
#[derive(Clone, Debug)]
pub enum Command {
    OpenImage(PathBuf),
    OpenSample,
    OpenModel(PathBuf),
    OpenBuiltinModel,
    /// Ask the picker for a file of this kind.
    Pick(PickKind, PickPurpose),
    /// `None`: the top-1 class.
    SetClass(Option<usize>),
    /// The panes' method / layer changed.
    Reexplain,
    SetCompare(bool),
    SetGpu(bool),
    Export(ExportKind, PathBuf),
    ResetView,
}

/// What a picked file is for.
#[derive(Clone, Debug, PartialEq)]
pub enum PickPurpose {
    OpenImage,
    OpenModel,
    Export(ExportKind),
}

/// The status line: the last thing that happened.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// The current explanation, as received from the worker.
pub struct Explained {
    pub generation: u64,
    pub class: usize,
    pub panes: Vec<Result<PaneResult, String>>,
}

pub struct CamscopeApp {
    pub prefs: Prefs,
    picker: Box<dyn FilePicker>,
    tx: Sender<Request>,
    rx: Receiver<Response>,
    picked_tx: Sender<(PickPurpose, Option<PathBuf>)>,
    picked_rx: Receiver<(PickPurpose, Option<PathBuf>)>,
    /// Requests sent and requests the worker has taken (busy while they differ).
    sent: u64,
    done: u64,
    generation: u64,
    pub model: Option<ModelInfo>,
    pub image: Option<ImageInfo>,
    photo_texture: Option<egui::TextureHandle>,
    pub explained: Option<Explained>,
    /// The class asked for; `None` follows the top-1 prediction.
    pub class: Option<usize>,
    needs_explain: bool,
    view: View,
    textures: Vec<PaneTextures>,
    pub status: Status,
    /// The last export written.
    pub last_export: Option<PathBuf>,
    hover: Option<String>,
    class_filter: String,
    commands: Vec<Command>,
    ctx: egui::Context,
}

impl CamscopeApp {
    /// The app with its saved preferences (if any) and the given file picker.
    pub fn new(cc: &eframe::CreationContext<'_>, picker: Box<dyn FilePicker>) -> Self {
        let prefs: Prefs = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        Self::with_prefs(cc.egui_ctx.clone(), prefs, picker)
    }

    pub fn with_prefs(ctx: egui::Context, prefs: Prefs, picker: Box<dyn FilePicker>) -> Self {
        install_fallback_font(&ctx);
        let repaint = ctx.clone();
        let (tx, rx) = match worker::spawn(move || repaint.request_repaint()) {
            Ok(pair) => pair,
            Err(e) => {
                // Without a worker nothing can be computed; say so and keep a window up.
                let (tx, _) = std::sync::mpsc::channel();
                let (_, rx) = std::sync::mpsc::channel();
                let mut app = Self::parts(ctx, prefs, picker, tx, rx);
                app.status = Status {
                    text: format!("cannot start the worker thread: {e}"),
                    error: true,
                };
                return app;
            }
        };
        let mut app = Self::parts(ctx, prefs, picker, tx, rx);
        let model = match app.prefs.model.clone() {
            Some(p) if p.is_file() => ModelSource::File(p),
            _ => ModelSource::Builtin,
        };
        let image = match app.prefs.image.clone() {
            Some(p) if p.is_file() => ImageSource::File(p),
            _ => ImageSource::Sample,
        };
        app.send(Request::LoadModel(model, app.device()));
        app.send(Request::OpenImage(image));
        app
    }

    fn parts(
        ctx: egui::Context,
        prefs: Prefs,
        picker: Box<dyn FilePicker>,
        tx: Sender<Request>,
        rx: Receiver<Response>,
    ) -> Self {
        let (picked_tx, picked_rx) = std::sync::mpsc::channel();
        Self {
            prefs,
            picker,
            tx,
            rx,
            picked_tx,
            picked_rx,
            sent: 0,
            done: 0,
            generation: 0,
            model: None,
            image: None,
            photo_texture: None,
            explained: None,
            class: None,
            needs_explain: false,
            view: View::default(),
            textures: Vec::new(),
            status: Status::default(),
            last_export: None,
            hover: None,
            class_filter: String::new(),
            commands: Vec::new(),
            ctx,
        }
    }

    /// Whether the worker still has requests to finish (or an explanation is about to be asked
    /// for; without an image or a model none will be).
    pub fn is_busy(&self) -> bool {
        self.done < self.sent
            || (self.needs_explain && self.image.is_some() && self.model.is_some())
    }

    fn device(&self) -> candle_core::Device {
        crate::engine::device(!self.prefs.use_gpu).unwrap_or(candle_core::Device::Cpu)
    }

    fn send(&mut self, req: Request) {
        if self.tx.send(req).is_ok() {
            self.sent += 1;
        } else {
            self.status = Status {
                text: "the worker thread has stopped".into(),
                error: true,
            };
        }
    }

    fn receive(&mut self) {
        while let Ok((purpose, path)) = self.picked_rx.try_recv() {
            if let Some(p) = path {
                self.commands.push(match purpose {
                    PickPurpose::OpenImage => Command::OpenImage(p),
                    PickPurpose::OpenModel => Command::OpenModel(p),
                    PickPurpose::Export(kind) => Command::Export(kind, p),
                });
            }
        }
        while let Ok(r) = self.rx.try_recv() {
            match r {
                Response::Taken(n) => self.done = n,
                Response::ModelLoaded(info) => {
                    self.status = Status {
                        text: format!("model {} ({})", info.name, info.architecture),
                        error: false,
                    };
                    self.model = Some(*info);
                    self.class = None;
                    self.needs_explain = true;
                }
                Response::ImageLoaded(info) => {
                    self.photo_texture = Some(self.ctx.load_texture(
                        "photo",
                        egui::ColorImage::from_rgb(
                            [
                                info.display.width() as usize,
                                info.display.height() as usize,
                            ],
                            info.display.as_raw(),
                        ),
                        egui::TextureOptions::LINEAR,
                    ));
                    self.status = Status {
                        text: format!(
                            "opened {} ({}×{})",
                            info.source.name(),
                            info.original.0,
                            info.original.1
                        ),
                        error: false,
                    };
                    self.image = Some(*info);
                    self.class = None;
                    self.needs_explain = true;
                }
                Response::Explained {
                    generation,
                    class,
                    panes,
                } => {
                    if generation == self.generation {
                        self.textures.clear();
                        self.explained = Some(Explained {
                            generation,
                            class,
                            panes,
                        });
                    }
                }
                Response::Exported(path) => {
                    self.status = Status {
                        text: format!("saved {}", path.display()),
                        error: false,
                    };
                    self.last_export = Some(path);
                }
                Response::Failed { what, message } => {
                    self.status = Status {
                        text: format!("{what}: {message}"),
                        error: true,
                    };
                }
            }
        }
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
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
                self.picker.pick(
                    kind,
                    Box::new(move |path| {
                        let _ = tx.send((purpose, path));
                        ctx.request_repaint();
                    }),
                );
            }
            Command::SetClass(c) => {
                self.class = c;
                self.needs_explain = true;
            }
            Command::Reexplain => self.needs_explain = true,
            Command::SetCompare(on) => {
                self.prefs.compare_mode = on;
                self.needs_explain = true;
            }
            Command::Export(kind, path) => {
                let style = ExportStyle {
                    style: self.overlay_style(),
                    threshold: self.prefs.threshold,
                    all_boxes: self.prefs.all_boxes,
                };
                self.status = Status {
                    text: format!("saving {}…", path.display()),
                    error: false,
                };
                self.send(Request::Export { kind, path, style });
            }
            Command::ResetView => self.view = View::default(),
        }
    }

    /// The overlay settings for exports (the signed view uses the diverging colormap).
    fn overlay_style(&self) -> crate::engine::OverlayStyle {
        crate::engine::OverlayStyle {
            colormap: if self.prefs.signed {
                crate::engine::Colormap::RdBu
            } else {
                self.prefs.colormap
            },
            image_weight: self.prefs.image_weight,
            blend: if self.prefs.alpha_by_value {
                crate::engine::Blend::AlphaByValue
            } else {
                crate::engine::Blend::Mix
            },
            ..Default::default()
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_owned())
                .collect()
        });
        for p in dropped {
            self.commands.push(command_for_dropped(&p));
        }
    }

    /// The boxes of pane `i` in display-photo coordinates, at the current threshold.
    pub fn pane_boxes(&self, i: usize) -> Vec<BBox> {
        let (Some(img), Some(Ok(p))) = (
            &self.image,
            self.explained.as_ref().and_then(|e| e.panes.get(i)),
        ) else {
            return Vec::new();
        };
        crate::engine::annotate::photo_boxes(
            &p.explanation.localization,
            &img.mapping,
            self.prefs.threshold,
            self.prefs.all_boxes,
        )
    }

    fn request_explanation(&mut self) {
        if !self.needs_explain || self.image.is_none() || self.model.is_none() {
            return;
        }
        self.needs_explain = false;
        self.generation += 1;
        let generation = self.generation;
        let panes = self.prefs.panes();
        self.send(Request::Explain {
            generation,
            class: self.class,
            panes,
        });
    }
}

/// DejaVu Sans after egui's own fonts, for the symbols they lack (τ, →, …) in messages.
fn install_fallback_font(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "dejavu".to_owned(),
        std::sync::Arc::new(egui::FontData::from_static(crate::engine::text::FONT)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("dejavu".to_owned());
    }
    ctx.set_fonts(fonts);
}

/// A dropped `.safetensors` opens as a model; anything else is tried as an image.
fn command_for_dropped(p: &Path) -> Command {
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

impl eframe::App for CamscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.receive();
        self.handle_dropped_files(&ctx);
        let toggle = egui::KeyboardShortcut::new(
            egui::Modifiers::CTRL | egui::Modifiers::SHIFT,
            egui::Key::C,
        );
        if ctx.input_mut(|i| i.consume_shortcut(&toggle)) {
            self.commands
                .push(Command::SetCompare(!self.prefs.compare_mode));
        }
        menu::menu_bar_ui(self, ui);
        menu::status_bar_ui(self, ui);
        side_panel::side_panel_ui(self, ui);
        canvas::central_ui(self, ui);
        for cmd in std::mem::take(&mut self.commands) {
            self.apply(cmd);
        }
        self.request_explanation();
        if self.is_busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}

/// Opens the window (README's run command ends here).
pub fn run_native() -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("camscope")
            .with_inner_size([1280.0, 820.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "camscope",
        options,
        Box::new(|cc| Ok(Box::new(CamscopeApp::new(cc, Box::new(picker::RfdPicker))))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
