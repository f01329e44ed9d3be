//! The desktop inspector (eframe / egui). A thin layer over the engine: panels draw from the
//! app's state and push [`Command`]s, which are applied after drawing; everything slow —
//! decoding, inference, backward passes, drawing the panes, export — runs on the worker
//! thread (docs/architecture.md).

pub mod browser;

/// Points of the app's deletion / insertion curves after the first (the CLI's default is 50;
/// fewer keep the panel quick: 2 × 21 forward passes a pane).
pub const METRIC_STEPS: usize = 20;
mod command;
pub mod gallery;
mod link;
pub mod mirror;
mod panels;
pub mod picker;
pub mod prefs;
pub mod protocol;
mod textures;
mod worker;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};

use image::RgbImage;

use crate::engine::metrics::localize::BBox;

pub use command::{Command, PickPurpose};
use link::WorkerLink;
use mirror::{Mirror, Status};
use panels::{Canvas, MenuBar, Panel, PanelContext, SidePanel, StatusBar};
use picker::{FilePicker, PickKind, Picked};
use prefs::Prefs;
use protocol::{ImageSource, ModelSource, Request};
use textures::Textures;

/// What the app opens on instead of the saved photo and model (`camscope view IMG --model M`).
#[derive(Clone, Debug, Default)]
pub struct Startup {
    pub image: Option<PathBuf>,
    pub model: Option<PathBuf>,
    /// A folder to open as the gallery (`camscope view DIR`).
    pub folder: Option<PathBuf>,
}

impl Startup {
    /// The preferences with these files as the ones to open, remembered as recent.
    pub fn apply(self, mut prefs: Prefs) -> Prefs {
        if let Some(p) = self.image {
            prefs::remember(&mut prefs.recent_images, &p);
            prefs.image = Some(p);
        }
        if let Some(p) = self.model {
            prefs::remember(&mut prefs.recent_models, &p);
            prefs.model = Some(p);
        }
        prefs
    }
}

/// Zoom and pan shared by every pane, and what the pointer is over.
#[derive(Clone, Debug, PartialEq)]
pub struct CanvasView {
    pub zoom: f32,
    pub pan: egui::Vec2,
    pub hover: Option<String>,
}

impl Default for CanvasView {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            pan: egui::Vec2::ZERO,
            hover: None,
        }
    }
}

/// The panels, each a small unit that draws and pushes commands.
#[derive(Default)]
struct Panels {
    menu: MenuBar,
    status: StatusBar,
    side: SidePanel,
    canvas: Canvas,
    gallery: panels::GalleryPanels,
}

pub struct CamscopeApp {
    pub prefs: Prefs,
    /// What the worker has loaded, explained and drawn, as the app knows it.
    pub mirror: Mirror,
    link: WorkerLink,
    picker: Box<dyn FilePicker>,
    picked_tx: Sender<(PickKind, PickPurpose, Picked)>,
    picked_rx: Receiver<(PickKind, PickPurpose, Picked)>,
    /// camscope's own file browser, when open.
    browser: Option<browser::FileBrowser>,
    textures: Textures,
    view: CanvasView,
    panels: Panels,
    /// The folder open as a gallery, if any, and whether it is shown (else the inspector).
    pub gallery: Option<gallery::Gallery>,
    pub show_gallery: bool,
    /// The last drawing asked for: `(generation, look)`.
    requested_render: Option<(u64, protocol::Look)>,
    /// The generation whose faithfulness curves were asked for.
    requested_metrics: Option<u64>,
    commands: Vec<Command>,
    ctx: egui::Context,
}

impl CamscopeApp {
    /// The app with its saved preferences (if any), opening `startup`'s files, and the given
    /// file picker.
    pub fn new(
        cc: &eframe::CreationContext<'_>,
        startup: Startup,
        picker: Box<dyn FilePicker>,
    ) -> Self {
        let prefs: Prefs = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let folder = startup.folder.clone();
        let mut app = Self::with_prefs(cc.egui_ctx.clone(), startup.apply(prefs), picker);
        if let Some(dir) = folder {
            app.apply(Command::Gallery(gallery::GalleryCommand::OpenFolder(dir)));
        }
        app
    }

    pub fn with_prefs(ctx: egui::Context, prefs: Prefs, picker: Box<dyn FilePicker>) -> Self {
        install_fallback_font(&ctx);
        let (link, started) = match WorkerLink::spawn(&ctx) {
            Ok(link) => (link, Ok(())),
            Err(e) => (WorkerLink::dead(), Err(e)),
        };
        let (picked_tx, picked_rx) = std::sync::mpsc::channel();
        let mut app = Self {
            prefs,
            mirror: Mirror::default(),
            link,
            picker,
            picked_tx,
            picked_rx,
            browser: None,
            textures: Textures::default(),
            view: CanvasView::default(),
            panels: Panels::default(),
            gallery: None,
            show_gallery: false,
            requested_render: None,
            requested_metrics: None,
            commands: Vec::new(),
            ctx,
        };
        if let Err(e) = started {
            // Without a worker nothing can be computed; say so and keep a window up.
            app.mirror.status = Status::error(format!("cannot start the worker thread: {e}"));
            return app;
        }
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

    /// Whether the worker still has requests to finish (or an explanation is about to be asked
    /// for; without an image or a model none will be).
    pub fn is_busy(&self) -> bool {
        self.gallery_busy()
            || self.link.pending()
            || (self.mirror.needs_explain
                && self.mirror.image.is_some()
                && self.mirror.model.is_some())
    }

    /// Carries out `cmd` as if a panel had asked for it (scripts and tests).
    pub fn command(&mut self, cmd: Command) {
        self.apply(cmd);
    }

    /// Whether the gallery is still listing or explaining its photos.
    pub fn gallery_busy(&self) -> bool {
        self.gallery
            .as_ref()
            .is_some_and(|g| g.photos.is_none() && g.error.is_none() || g.running())
    }

    /// The boxes of pane `i` in display-photo coordinates, at the current threshold.
    pub fn pane_boxes(&self, i: usize) -> Vec<BBox> {
        self.mirror
            .pane_boxes(i, self.prefs.threshold, self.prefs.all_boxes)
    }

    /// The pixels pane `i` shows (the display photo with its overlay, without boxes), once
    /// drawn for the current explanation.
    pub fn pane_pixels(&self, i: usize) -> Option<&RgbImage> {
        self.mirror.rendered.as_ref()?.panes.get(i)?.as_ref()
    }

    fn device(&self) -> candle_core::Device {
        crate::engine::device(!self.prefs.use_gpu).unwrap_or(candle_core::Device::Cpu)
    }

    fn send(&mut self, req: Request) {
        if !self.link.send(req) {
            self.mirror.status = Status::error("the worker thread has stopped");
        }
    }

    fn receive(&mut self) {
        while let Ok((kind, purpose, picked)) = self.picked_rx.try_recv() {
            match picked {
                Picked::File(p) => self.commands.push(purpose.command(p)),
                Picked::Cancelled => {}
                Picked::NoDialog => {
                    self.mirror.status = Status::info(
                        "no system file dialog answered (is an XDG desktop portal running?): \
                         using camscope's own file browser",
                    );
                    self.commands.push(Command::Browse(kind, purpose));
                }
            }
        }
        if let Some(g) = &mut self.gallery {
            g.receive(&self.ctx);
        }
        while let Some(r) = self.link.try_recv() {
            let changed = self.mirror.absorb(r);
            if changed.photo
                && let Some(img) = &self.mirror.image
            {
                self.textures.set_photo(&self.ctx, &img.display);
            }
            if changed.rendered
                && let Some(r) = &self.mirror.rendered
            {
                self.textures.set_panes(&self.ctx, r);
            }
        }
    }

    fn request_explanation(&mut self) {
        let m = &self.mirror;
        if !m.needs_explain || m.image.is_none() || m.model.is_none() {
            return;
        }
        self.mirror.needs_explain = false;
        self.mirror.generation += 1;
        let generation = self.mirror.generation;
        let look = self.prefs.look();
        self.requested_render = Some((generation, look));
        self.link.want(generation);
        self.mirror.progress = None;
        self.send(Request::Explain {
            generation,
            class: self.mirror.class,
            panes: self.prefs.panes(),
            smoothing: self.prefs.smoothing,
            look,
        });
    }

    /// Asks for the faithfulness curves of the explanation on screen, once per generation,
    /// while they are shown.
    fn request_metrics(&mut self) {
        let Some(e) = &self.mirror.explained else {
            return;
        };
        let generation = e.generation;
        let have = self.mirror.metrics.as_ref().map(|(g, _)| *g) == Some(generation);
        // Only for the newest explanation (an older one's curves would stop at once), and not
        // again after the user stopped them.
        if !self.prefs.show_metrics
            || have
            || generation != self.mirror.generation
            || self.requested_metrics == Some(generation)
            || self.mirror.metrics_stopped == Some(generation)
        {
            return;
        }
        self.requested_metrics = Some(generation);
        // The explanation is done: the worker works for its curves now (a Stop may have
        // said otherwise since).
        self.link.want(generation);
        self.send(Request::Metrics {
            generation,
            steps: METRIC_STEPS,
        });
    }

    /// Whether curves for the explanation on screen were asked for and have not come back.
    fn metrics_running(&self) -> bool {
        let g = self.mirror.generation;
        self.requested_metrics == Some(g)
            && self.mirror.metrics.as_ref().map(|(m, _)| *m) != Some(g)
            && self.mirror.metrics_stopped != Some(g)
    }

    /// Asks for the panes to be drawn again when the look changed.
    fn request_render(&mut self) {
        let Some(generation) = self.mirror.explained.as_ref().map(|e| e.generation) else {
            return;
        };
        let want = (generation, self.prefs.look());
        if self.requested_render == Some(want) {
            return;
        }
        self.requested_render = Some(want);
        self.send(Request::Render {
            generation,
            look: want.1,
        });
    }

    /// camscope's own file browser for a `kind` of file, starting where the last photo was.
    fn open_browser(&mut self, kind: PickKind, purpose: PickPurpose) {
        let start = self
            .prefs
            .recent_images
            .first()
            .and_then(|p| p.parent())
            .map(std::path::Path::to_path_buf);
        self.browser = Some(browser::FileBrowser::new(kind, purpose, start.as_deref()));
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
            self.commands.push(command::command_for_dropped(&p));
        }
    }
}

/// DejaVu Sans after egui's own fonts, for the symbols they lack (τ, →, …) in messages.
fn install_fallback_font(ctx: &egui::Context) {
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "dejavu".to_owned(),
        std::sync::Arc::new(egui::FontData::from_static(
            crate::engine::render::text::FONT,
        )),
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
        let gallery_dir = self.gallery.as_ref().map(|g| g.dir.clone());
        let cx = PanelContext {
            prefs: &self.prefs,
            mirror: &self.mirror,
            busy: self.is_busy(),
            textures: &self.textures,
            view: &self.view,
            gallery: gallery_dir.as_deref(),
            show_gallery: self.show_gallery,
        };
        let out = &mut self.commands;
        let p = &mut self.panels;
        // Order matters to egui: bars and side panel first, the canvas takes what is left.
        p.menu.ui(ui, &cx, out);
        p.status.ui(ui, &cx, out);
        match self.gallery.as_mut().filter(|_| self.show_gallery) {
            Some(g) => {
                p.gallery.side_ui(ui, g, &cx, out);
                let visible = p.gallery.grid_ui(ui, g, &cx, out);
                g.after_frame(visible);
            }
            None => {
                p.side.ui(ui, &cx, out);
                p.canvas.ui(ui, &cx, out);
            }
        }
        if let Some(b) = &mut self.browser
            && !b.show(&ctx, out)
        {
            self.browser = None;
        }
        for cmd in std::mem::take(&mut self.commands) {
            self.apply(cmd);
        }
        self.sync_gallery();
        self.request_explanation();
        self.request_render();
        self.request_metrics();
        if self.is_busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}

/// Opens the window (README's run command ends here).
pub fn run_native(startup: Startup) -> anyhow::Result<()> {
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
        Box::new(|cc| {
            Ok(Box::new(CamscopeApp::new(
                cc,
                startup,
                Box::new(picker::RfdPicker),
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
