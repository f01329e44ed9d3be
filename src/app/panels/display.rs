//! The display section: threshold, blend weight, colormap and view options. None of them
//! touches the model: boxes follow on the UI thread, pixels are redrawn by the worker.

use super::{Command, Panel, PanelContext};
use crate::engine::Colormap;

#[derive(Default)]
pub struct DisplaySection;

impl Panel for DisplaySection {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        ui.heading("Display");
        let before = cx.prefs.display();
        let mut d = before;
        ui.add(egui::Slider::new(&mut d.threshold, 0.0..=1.0).text("Threshold"));
        ui.add(egui::Slider::new(&mut d.image_weight, 0.0..=1.0).text("Image weight"));
        egui::ComboBox::from_label("Colormap")
            .selected_text(d.colormap.name())
            .show_ui(ui, |ui| {
                for c in Colormap::ALL {
                    ui.selectable_value(&mut d.colormap, c, c.name());
                }
            });
        ui.checkbox(&mut d.alpha_by_value, "Transparent where low");
        ui.checkbox(&mut d.signed, "Signed view (before ReLU)")
            .on_hover_text(
                "Layer maps before ReLU, input gradients summed over colour; blue < 0 < red",
            );
        ui.checkbox(&mut d.all_boxes, "Box every component");
        ui.checkbox(&mut d.shared_scale, "One colour scale for all panes")
            .on_hover_text(
                "Raw maps on a shared minimum and maximum instead of each pane's own: compares methods by magnitude",
            );
        if d != before {
            out.push(Command::SetDisplay(d));
        }
    }
}
