//! The side panel: model, method, class, display and faithfulness sections, top to bottom.

use super::class::ClassPanel;
use super::display::DisplaySection;
use super::faithfulness::FaithfulnessSection;
use super::method::MethodSection;
use super::model::ModelSection;
use super::{Command, Panel, PanelContext};

#[derive(Default)]
pub struct SidePanel {
    model: ModelSection,
    method: MethodSection,
    class: ClassPanel,
    display: DisplaySection,
    faithfulness: FaithfulnessSection,
}

impl Panel for SidePanel {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        egui::Panel::left("controls")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.model.ui(ui, cx, out);
                    ui.separator();
                    self.method.ui(ui, cx, out);
                    ui.separator();
                    self.class.ui(ui, cx, out);
                    ui.separator();
                    self.display.ui(ui, cx, out);
                    ui.separator();
                    self.faithfulness.ui(ui, cx, out);
                });
            });
    }
}
