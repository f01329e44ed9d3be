//! The side panel: model summary, method / layer / class pickers, display settings.

use crate::engine::{Colormap, Method};

use super::worker::PaneSpec;
use super::{CamscopeApp, Command};

pub fn side_panel_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(300.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                model_ui(app, ui);
                ui.separator();
                methods_ui(app, ui);
                ui.separator();
                class_ui(app, ui);
                ui.separator();
                display_ui(app, ui);
            });
        });
}

fn model_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    ui.heading("Model");
    let Some(m) = &app.model else {
        ui.label("loading…");
        return;
    };
    egui::Grid::new("model_grid").num_columns(2).show(ui, |ui| {
        ui.label("Architecture");
        ui.label(&m.architecture);
        ui.end_row();
        ui.label("Weights");
        ui.label(&m.name).on_hover_text(&m.name);
        ui.end_row();
        ui.label("Parameters");
        ui.label(format!("{:.2} M", m.parameters as f64 / 1e6));
        ui.end_row();
        ui.label("Input");
        ui.label(format!("3×{}×{}", m.input_size.0, m.input_size.1));
        ui.end_row();
    });
    let gpu_available = candle_core::utils::cuda_is_available();
    let mut use_gpu = app.prefs.use_gpu && gpu_available;
    let device = if use_gpu { "CUDA" } else { "CPU" };
    egui::ComboBox::from_label("Device")
        .selected_text(device)
        .show_ui(ui, |ui| {
            let cpu = ui.selectable_value(&mut use_gpu, false, "CPU");
            let gpu = ui.add_enabled(
                gpu_available,
                egui::Button::selectable(use_gpu, "CUDA").small(),
            );
            if gpu.clicked() {
                use_gpu = true;
            }
            if cpu.changed() || gpu.clicked() {
                app.commands.push(Command::SetGpu(use_gpu));
            }
        });
}

fn methods_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    ui.heading("Method");
    let mut compare = app.prefs.compare_mode;
    if ui
        .checkbox(&mut compare, "Compare methods side by side")
        .changed()
    {
        app.commands.push(Command::SetCompare(compare));
    }
    let n = if app.prefs.compare_mode {
        app.prefs.compare.len()
    } else {
        1
    };
    let layers: Vec<(String, String)> = app
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
    let no_cam = app.model.as_ref().and_then(|m| m.no_cam.clone());
    let mut changed = false;
    for i in 0..n {
        let prefix = if app.prefs.compare_mode {
            format!("Pane {} ", i + 1)
        } else {
            String::new()
        };
        let Some(pane) = app.prefs.pane_mut(i) else {
            continue;
        };
        changed |= pane_ui(ui, &prefix, pane, &layers, no_cam.as_deref());
    }
    if app.prefs.compare_mode {
        ui.horizontal(|ui| {
            if app.prefs.compare.len() < 4 && ui.button("Add pane").clicked() {
                app.prefs.compare.push(PaneSpec {
                    method: Method::GradCam,
                    layer: None,
                });
                changed = true;
            }
            if app.prefs.compare.len() > 2 && ui.button("Remove pane").clicked() {
                app.prefs.compare.pop();
                changed = true;
            }
        });
    }
    if changed {
        app.commands.push(Command::Reexplain);
    }
}

/// One pane's method and layer pickers; returns whether either changed.
fn pane_ui(
    ui: &mut egui::Ui,
    prefix: &str,
    pane: &mut PaneSpec,
    layers: &[(String, String)],
    no_cam: Option<&str>,
) -> bool {
    let mut changed = false;
    egui::ComboBox::from_label(format!("{prefix}Method"))
        .selected_text(pane.method.title())
        .show_ui(ui, |ui| {
            for m in Method::ALL {
                let r = ui.selectable_value(&mut pane.method, m, m.title());
                let r = match (m, no_cam) {
                    (Method::Cam, Some(why)) => r.on_hover_text(why),
                    _ => r,
                };
                changed |= r.changed();
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
                    pane.layer = None;
                    changed = true;
                }
                for (name, text) in layers {
                    let on = pane.layer.as_deref() == Some(name.as_str());
                    if ui.selectable_label(on, text).clicked() {
                        pane.layer = Some(name.clone());
                        changed = true;
                    }
                }
            });
    });
    changed
}

fn class_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    ui.heading("Class");
    let (Some(img), Some(model)) = (&app.image, &app.model) else {
        return;
    };
    let shown = app.explained.as_ref().map(|e| e.class);
    ui.label("Top predictions:");
    for p in img.predictions.iter().take(5) {
        let name = model.class_names.get(p.class).cloned().unwrap_or_default();
        let text = format!("{name}  {:.1}%", p.probability * 100.0);
        if ui.selectable_label(shown == Some(p.class), text).clicked() {
            app.commands.push(Command::SetClass(Some(p.class)));
        }
    }
    let label = ui.label("Search all classes:");
    ui.add(egui::TextEdit::singleline(&mut app.class_filter).hint_text("e.g. cat"))
        .labelled_by(label.id);
    let filter = app.class_filter.to_lowercase();
    let matches: Vec<usize> = (0..model.class_names.len())
        .filter(|&c| filter.is_empty() || model.class_names[c].to_lowercase().contains(&filter))
        .collect();
    let probs: std::collections::HashMap<usize, f32> = img
        .predictions
        .iter()
        .map(|p| (p.class, p.probability))
        .collect();
    let row = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("all_classes")
        .max_height(160.0)
        .show_rows(ui, row, matches.len(), |ui, range| {
            for &c in &matches[range] {
                let text = format!(
                    "{c}: {}  {:.2}%",
                    model.class_names[c],
                    probs.get(&c).copied().unwrap_or(0.0) * 100.0
                );
                if ui.selectable_label(shown == Some(c), text).clicked() {
                    app.commands.push(Command::SetClass(Some(c)));
                }
            }
        });
}

fn display_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    ui.heading("Display");
    let p = &mut app.prefs;
    ui.add(egui::Slider::new(&mut p.threshold, 0.0..=1.0).text("Threshold"));
    ui.add(egui::Slider::new(&mut p.image_weight, 0.0..=1.0).text("Image weight"));
    egui::ComboBox::from_label("Colormap")
        .selected_text(p.colormap.name())
        .show_ui(ui, |ui| {
            for c in Colormap::ALL {
                ui.selectable_value(&mut p.colormap, c, c.name());
            }
        });
    ui.checkbox(&mut p.alpha_by_value, "Transparent where low");
    ui.checkbox(&mut p.signed, "Signed view (before ReLU)")
        .on_hover_text(
            "CAM and Grad-CAM before ReLU, guided gradients summed over colour; blue < 0 < red",
        );
    ui.checkbox(&mut p.all_boxes, "Box every component");
}
