//! The status bar: work in progress, the last message, the value under the pointer.

use super::{Command, Panel, PanelContext};

#[derive(Default)]
pub struct StatusBar;

impl Panel for StatusBar {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, _out: &mut Vec<Command>) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                if cx.busy {
                    ui.spinner();
                    ui.label("Working…");
                }
                let status = &cx.mirror.status;
                let color = if status.error {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().text_color()
                };
                ui.colored_label(color, &status.text);
                if let Some(h) = &cx.view.hover {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        ui.label(h);
                    });
                }
            });
        });
    }
}
