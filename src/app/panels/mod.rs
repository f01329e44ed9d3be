//! The panels: small units that draw from the app's state and push [`Command`]s (egui's
//! `egui_demo_lib` keeps one view per file behind a small trait, as here).

mod canvas;
mod class;
mod display;
mod faithfulness;
mod gallery;
mod menu;
mod method;
mod model;
mod side;
mod status;

use super::CanvasView;
use super::command::Command;
use super::mirror::Mirror;
use super::prefs::Prefs;
use super::textures::Textures;

pub use canvas::Canvas;
pub use gallery::GalleryPanels;
pub use menu::MenuBar;
pub use side::SidePanel;
pub use status::StatusBar;

/// What a panel may look at while it draws.
pub struct PanelContext<'a> {
    pub prefs: &'a Prefs,
    pub mirror: &'a Mirror,
    /// Whether the worker has work in hand.
    pub busy: bool,
    pub textures: &'a Textures,
    pub view: &'a CanvasView,
    /// The gallery's folder when one is open, and whether the gallery is shown.
    pub gallery: Option<&'a std::path::Path>,
    pub show_gallery: bool,
}

/// One panel: draws into `ui`, and pushes what the user asked for onto `out`.
pub trait Panel {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>);
}
