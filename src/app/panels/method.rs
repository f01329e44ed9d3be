//! The method section: single or compare view, and each pane's method and layer.

use super::{Command, Panel, PanelContext};
use crate::app::command::{MAX_PANES, MIN_PANES};
use crate::app::protocol::PaneSpec;
use crate::engine::Method;

#[derive(Default)]
pub struct MethodSection {
    /// What the layer pickers' search field holds (shared by every pane's picker).
    layer_filter: String,
}

/// Above this many layers, an unfiltered picker groups them by block.
const GROUP_ABOVE: usize = 24;

/// The block a layer belongs to, for grouping: a stage that holds other layers is its own
/// block (`features.2` with `features.2.0`, …); otherwise the name less its last part when it
/// has three or more (`features.1.0` → `features.1`, `trunk_output.block1.block1-0` →
/// `trunk_output.block1`), else its first part (`layer4.2` → `layer4`).
fn layer_group<'a>(name: &'a str, all: &[&str]) -> &'a str {
    let holds =
        |n: &str| n.len() > name.len() && n.starts_with(name) && n[name.len()..].starts_with('.');
    if name.contains('.') && all.iter().any(|n| holds(n)) {
        return name;
    }
    let parts = name.matches('.').count() + 1;
    if parts >= 3 {
        name.rsplit_once('.').map_or(name, |(a, _)| a)
    } else {
        name.split('.').next().unwrap_or(name)
    }
}

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
        let layers_of = layer_choices;
        let models = [cx.mirror.model.as_ref(), cx.mirror.second.as_ref()];
        let layers = [layers_of(models[0]), layers_of(models[1])];
        for (i, pane) in prefs.panes().into_iter().enumerate() {
            let prefix = if prefs.compare_mode {
                format!("Pane {} ", i + 1)
            } else {
                String::new()
            };
            let mut edited = pane.clone();
            if let Some(b) = models[1] {
                let a = models[0].map_or("", |m| m.architecture.as_str());
                let name = |second: bool| {
                    if second {
                        format!("B: {}", b.architecture)
                    } else {
                        format!("A: {a}")
                    }
                };
                egui::ComboBox::from_label(format!("{prefix}Model"))
                    .selected_text(name(pane.second))
                    .show_ui(ui, |ui| {
                        for second in [false, true] {
                            ui.selectable_value(&mut edited.second, second, name(second));
                        }
                    });
                if edited.second != pane.second {
                    // The other model has other layers.
                    edited.layer = None;
                }
            }
            let model = models[edited.second as usize];
            let no_cam = model.and_then(|m| m.no_cam.as_deref());
            let layers = &layers[edited.second as usize];
            let picked = pane_ui(ui, &prefix, &edited, layers, no_cam, &mut self.layer_filter);
            if let Some(spec) = picked.or((edited != pane).then_some(edited)) {
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

/// The layers a pane of `model` can explain, as `(name, picker text)`.
pub fn layer_choices(model: Option<&crate::app::protocol::ModelInfo>) -> Vec<(String, String)> {
    model
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
        .unwrap_or_default()
}

/// One pane's method and layer pickers; the edited pane when either changed. The layer
/// picker has a search field, and groups long lists by block (the selected one's open).
pub fn pane_ui(
    ui: &mut egui::Ui,
    prefix: &str,
    pane: &PaneSpec,
    layers: &[(String, String)],
    no_cam: Option<&str>,
    filter: &mut String,
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
            // Typing in the search field must not close it; a pick closes it.
            .close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside)
            .show_ui(ui, |ui| {
                ui.horizontal(|ui| {
                    let label = ui.label("Search layers");
                    ui.add(egui::TextEdit::singleline(filter).hint_text("e.g. stage"))
                        .labelled_by(label.id);
                });
                if ui
                    .selectable_label(pane.layer.is_none(), "default")
                    .clicked()
                {
                    edited.layer = None;
                    ui.close();
                }
                let needle = filter.trim().to_lowercase();
                let shown: Vec<&(String, String)> = layers
                    .iter()
                    .filter(|(name, _)| needle.is_empty() || name.to_lowercase().contains(&needle))
                    .collect();
                let mut pick = |ui: &mut egui::Ui, (name, text): &(String, String)| {
                    let on = pane.layer.as_deref() == Some(name.as_str());
                    if ui.selectable_label(on, text).clicked() {
                        edited.layer = Some(name.clone());
                        ui.close();
                    }
                };
                if !needle.is_empty() || shown.len() <= GROUP_ABOVE {
                    if shown.is_empty() {
                        ui.weak("no layer matches");
                    }
                    for l in shown {
                        pick(ui, l);
                    }
                    return;
                }
                // Consecutive layers of one block under one header.
                let names: Vec<&str> = shown.iter().map(|(n, _)| n.as_str()).collect();
                let groups: Vec<&str> = names.iter().map(|n| layer_group(n, &names)).collect();
                let mut i = 0;
                while i < shown.len() {
                    let group = groups[i];
                    let end = i + groups[i..].iter().take_while(|g| **g == group).count();
                    let run = &shown[i..end];
                    if run.len() == 1 {
                        pick(ui, run[0]);
                    } else {
                        let open = run
                            .iter()
                            .any(|(n, _)| pane.layer.as_deref() == Some(n.as_str()));
                        egui::CollapsingHeader::new(format!("{group} ({})", run.len()))
                            .id_salt((prefix, group, i))
                            .default_open(open)
                            .show(ui, |ui| {
                                for l in run {
                                    pick(ui, l);
                                }
                            });
                    }
                    i = end;
                }
            });
    });
    (edited != *pane).then_some(edited)
}

#[cfg(test)]
mod tests {
    use super::layer_group;

    #[test]
    fn layers_group_by_block() {
        let all = [
            "features.1.0",
            "features.1",
            "features.2.0",
            "layer4.2",
            "fc",
        ];
        assert_eq!(layer_group("features.1.0", &all), "features.1");
        assert_eq!(layer_group("features.1", &all), "features.1");
        assert_eq!(layer_group("layer4.2", &all), "layer4");
        assert_eq!(
            layer_group("trunk_output.block1.block1-0", &all),
            "trunk_output.block1"
        );
        assert_eq!(layer_group("fc", &all), "fc");
    }
}
