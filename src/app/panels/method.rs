//! The method section: single or compare view, and each pane's method and layer.

use super::{Command, Panel, PanelContext};
use crate::app::command::{MAX_PANES, MIN_PANES};
use crate::app::protocol::PaneSpec;
use crate::engine::Method;

#[derive(Default)]
pub struct MethodSection;

impl Panel for MethodSection {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        ui.heading("Method");
        let prefs = cx.prefs;
        let mut compare = prefs.compare_mode;
        if ui
            .checkbox(&mut compare, "Compare methods side by side")
            .changed()
        {
            out.push(Command::SetCompare(compare));
        }
        let layers: Vec<(String, String)> = cx
            .mirror
            .model
            .as_ref()
            .map(|m| {
                m.layers
                    .iter()
                    .filter(|l| l.shape.len() == 3)
                    .map(|l| {
                        let shape = l.shape_text();
                        let mark = if l.default { ", default" } else { "" };
                        (l.name.clone(), format!("{} ({shape}{mark})", l.name))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let no_cam = cx.mirror.model.as_ref().and_then(|m| m.no_cam.as_deref());
        for (i, pane) in prefs.panes().into_iter().enumerate() {
            let prefix = if prefs.compare_mode {
                format!("Pane {} ", i + 1)
            } else {
                String::new()
            };
            if let Some(spec) = pane_ui(ui, &prefix, &pane, &layers, no_cam) {
                out.push(Command::SetPane(i, spec));
            }
        }
        let mut smoothing = prefs.smoothing;
        ui.checkbox(&mut smoothing.eigen, "Eigen-smooth")
            .on_hover_text(
                "The first principal component of the weighted activations instead of their sum",
            );
        ui.checkbox(&mut smoothing.aug, "Augmentation smoothing")
            .on_hover_text("The mean of the maps of the photo flipped and scaled by 0.9 / 1.0 / 1.1: six passes");
        if smoothing != prefs.smoothing {
            out.push(Command::SetSmoothing(smoothing));
        }
        if prefs.compare_mode {
            ui.horizontal(|ui| {
                if prefs.compare.len() < MAX_PANES && ui.button("Add pane").clicked() {
                    out.push(Command::AddPane);
                }
                if prefs.compare.len() > MIN_PANES && ui.button("Remove pane").clicked() {
                    out.push(Command::RemovePane);
                }
            });
        }
    }
}

/// One pane's method and layer pickers; the edited pane when either changed.
fn pane_ui(
    ui: &mut egui::Ui,
    prefix: &str,
    pane: &PaneSpec,
    layers: &[(String, String)],
    no_cam: Option<&str>,
) -> Option<PaneSpec> {
    let mut edited = pane.clone();
    egui::ComboBox::from_label(format!("{prefix}Method"))
        .selected_text(pane.method.title())
        .height(400.0)
        .show_ui(ui, |ui| {
            for m in Method::ALL {
                let tip = match (m, no_cam) {
                    (Method::Cam, Some(why)) => why,
                    _ => m.description(),
                };
                ui.selectable_value(&mut edited.method, m, m.title())
                    .on_hover_text(tip);
            }
        });
    let current = pane.layer.clone().unwrap_or_else(|| "default".to_owned());
    ui.add_enabled_ui(pane.method.uses_layer(), |ui| {
        egui::ComboBox::from_label(format!("{prefix}Layer"))
            .selected_text(current)
            .height(400.0)
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(pane.layer.is_none(), "default")
                    .clicked()
                {
                    edited.layer = None;
                }
                for (name, text) in layers {
                    let on = pane.layer.as_deref() == Some(name.as_str());
                    if ui.selectable_label(on, text).clicked() {
                        edited.layer = Some(name.clone());
                    }
                }
            });
    });
    (edited != *pane).then_some(edited)
}
