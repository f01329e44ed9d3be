//! The status bar: work in progress, the last message, the value under the pointer.

use super::{Command, Panel, PanelContext};

#[derive(Default)]
pub struct StatusBar;

impl Panel for StatusBar {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                if let Some(p) = &cx.mirror.progress {
                    let fraction = p.done as f32 / p.total.max(1) as f32;
                    ui.add(
                        egui::ProgressBar::new(fraction)
                            .desired_width(220.0)
                            .text(format!(
                                "{} (pane {}): {} / {} channels",
                                p.method.title(),
                                p.pane + 1,
                                p.done,
                                p.total
                            )),
                    );
                    if ui.button("Cancel").clicked() {
                        out.push(Command::Cancel);
                    }
                } else if cx.busy {
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
