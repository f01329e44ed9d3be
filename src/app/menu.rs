//! The menu bar (File, View) and the status bar.

use super::picker::PickKind;
use super::worker::ExportKind;
use super::{CamscopeApp, Command, PickPurpose};

pub fn menu_bar_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| file_menu_ui(app, ui));
            ui.menu_button("View", |ui| {
                let label = if app.prefs.compare_mode {
                    "Single view"
                } else {
                    "Compare view"
                };
                if ui
                    .add(egui::Button::new(label).shortcut_text("Ctrl+Shift+C"))
                    .clicked()
                {
                    app.commands
                        .push(Command::SetCompare(!app.prefs.compare_mode));
                    ui.close();
                }
                if ui.button("Reset zoom").clicked() {
                    app.commands.push(Command::ResetView);
                    ui.close();
                }
            });
        });
    });
}

fn file_menu_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    let cmds = &mut app.commands;
    if ui.button("Open image…").clicked() {
        cmds.push(Command::Pick(PickKind::Image, PickPurpose::OpenImage));
        ui.close();
    }
    if ui.button("Open model…").clicked() {
        cmds.push(Command::Pick(PickKind::Model, PickPurpose::OpenModel));
        ui.close();
    }
    ui.menu_button("Recent images", |ui| {
        if ui.button("Sample photo (chelsea.png)").clicked() {
            cmds.push(Command::OpenSample);
            ui.close();
        }
        for p in &app.prefs.recent_images {
            if ui.button(p.display().to_string()).clicked() {
                cmds.push(Command::OpenImage(p.clone()));
                ui.close();
            }
        }
    });
    ui.menu_button("Recent models", |ui| {
        if ui.button("Built-in EfficientNet-Lite0").clicked() {
            cmds.push(Command::OpenBuiltinModel);
            ui.close();
        }
        for p in &app.prefs.recent_models {
            if ui.button(p.display().to_string()).clicked() {
                cmds.push(Command::OpenModel(p.clone()));
                ui.close();
            }
        }
    });
    ui.separator();
    let ready = app.explained.is_some();
    let stem = app
        .image
        .as_ref()
        .map(|i| match &i.source {
            super::worker::ImageSource::Sample => "chelsea".to_owned(),
            super::worker::ImageSource::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
        .unwrap_or_default();
    let save = |suggested: String, extension| PickKind::Save {
        suggested,
        extension,
    };
    if ui
        .add_enabled(ready, egui::Button::new("Export annotated PNG…"))
        .clicked()
    {
        cmds.push(Command::Pick(
            save(format!("{stem}.annotated.png"), "png"),
            PickPurpose::Export(ExportKind::Annotated(0)),
        ));
        ui.close();
    }
    if ui
        .add_enabled(ready, egui::Button::new("Export compare panes as one PNG…"))
        .clicked()
    {
        cmds.push(Command::Pick(
            save(format!("{stem}.compare.png"), "png"),
            PickPurpose::Export(ExportKind::Composite),
        ));
        ui.close();
    }
    if ui
        .add_enabled(ready, egui::Button::new("Export raw map (.npy)…"))
        .clicked()
    {
        cmds.push(Command::Pick(
            save(format!("{stem}.raw.npy"), "npy"),
            PickPurpose::Export(ExportKind::RawNpy(0)),
        ));
        ui.close();
    }
    ui.separator();
    if ui.button("Quit").clicked() {
        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

pub fn status_bar_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            if app.is_busy() {
                ui.spinner();
                ui.label("Working…");
            }
            let color = if app.status.error {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().text_color()
            };
            ui.colored_label(color, &app.status.text);
            if let Some(h) = &app.hover {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(h);
                });
            }
        });
    });
}
