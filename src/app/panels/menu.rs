//! The menu bar: File (open, recent files, export, quit) and View.

use super::{Command, Panel, PanelContext};
use crate::app::command::PickPurpose;
use crate::app::gallery::GalleryCommand;
use crate::app::picker::PickKind;
use crate::app::protocol::ExportKind;

#[derive(Default)]
pub struct MenuBar;

impl Panel for MenuBar {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        egui::Panel::top("menu").show(ui, |ui| {
            egui::MenuBar::new().ui(ui, |ui| {
                ui.menu_button("File", |ui| file_menu_ui(ui, cx, out));
                if cx.gallery.is_some() {
                    let (label, to) = if cx.show_gallery {
                        ("Inspector", false)
                    } else {
                        ("Back to gallery", true)
                    };
                    if ui.button(label).clicked() {
                        out.push(Command::Gallery(GalleryCommand::Show(to)));
                    }
                }
                ui.menu_button("View", |ui| {
                    let label = if cx.prefs.compare_mode {
                        "Single view"
                    } else {
                        "Compare view"
                    };
                    if ui
                        .add(egui::Button::new(label).shortcut_text("Ctrl+Shift+C"))
                        .clicked()
                    {
                        out.push(Command::SetCompare(!cx.prefs.compare_mode));
                        ui.close();
                    }
                    if ui.button("Reset zoom").clicked() {
                        out.push(Command::ResetView);
                        ui.close();
                    }
                });
            });
        });
    }
}

fn file_menu_ui(ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
    if ui.button("Open image…").clicked() {
        out.push(Command::Pick(PickKind::Image, PickPurpose::OpenImage));
        ui.close();
    }
    if ui
        .button("Open folder…")
        .on_hover_text("A gallery of its photos")
        .clicked()
    {
        out.push(Command::Pick(PickKind::Folder, PickPurpose::OpenFolder));
        ui.close();
    }
    if ui.button("Open model…").clicked() {
        out.push(Command::Pick(PickKind::Model, PickPurpose::OpenModel));
        ui.close();
    }
    ui.menu_button("Second model", |ui| {
        if ui.button("Open second model…").clicked() {
            out.push(Command::Pick(PickKind::Model, PickPurpose::OpenSecondModel));
            ui.close();
        }
        if ui
            .button("Built-in EfficientNet-Lite0 as second model")
            .clicked()
        {
            out.push(Command::OpenSecondModel(None));
            ui.close();
        }
        for p in &cx.prefs.recent_models {
            if ui
                .button(format!("{} as second model", p.display()))
                .clicked()
            {
                out.push(Command::OpenSecondModel(Some(p.clone())));
                ui.close();
            }
        }
        let open = cx.mirror.second.is_some();
        if ui
            .add_enabled(open, egui::Button::new("Close second model"))
            .clicked()
        {
            out.push(Command::CloseSecondModel);
            ui.close();
        }
    });
    // For desktops whose own dialog does not work (it opens by itself when none answers).
    ui.menu_button("In camscope's file browser", |ui| {
        if ui.button("Browse for an image…").clicked() {
            out.push(Command::Browse(PickKind::Image, PickPurpose::OpenImage));
            ui.close();
        }
        if ui.button("Browse for a folder…").clicked() {
            out.push(Command::Browse(PickKind::Folder, PickPurpose::OpenFolder));
            ui.close();
        }
        if ui.button("Browse for a model…").clicked() {
            out.push(Command::Browse(PickKind::Model, PickPurpose::OpenModel));
            ui.close();
        }
    });
    ui.menu_button("Recent images", |ui| {
        if ui.button("Sample photo (chelsea.png)").clicked() {
            out.push(Command::OpenSample);
            ui.close();
        }
        for p in &cx.prefs.recent_images {
            if ui.button(p.display().to_string()).clicked() {
                out.push(Command::OpenImage(p.clone()));
                ui.close();
            }
        }
    });
    ui.menu_button("Recent models", |ui| {
        if ui.button("Built-in EfficientNet-Lite0").clicked() {
            out.push(Command::OpenBuiltinModel);
            ui.close();
        }
        for p in &cx.prefs.recent_models {
            if ui.button(p.display().to_string()).clicked() {
                out.push(Command::OpenModel(p.clone()));
                ui.close();
            }
        }
    });
    ui.separator();
    // Exports write the view on screen now: its generation travels with the request.
    let generation = cx.mirror.explained.as_ref().map(|e| e.generation);
    let stem = cx
        .mirror
        .image
        .as_ref()
        .map(|i| i.source.stem())
        .unwrap_or_default();
    let exports = [
        (
            "Export annotated PNG…",
            format!("{stem}.annotated.png"),
            "png",
            ExportKind::Annotated(0),
        ),
        (
            "Export compare panes as one PNG…",
            format!("{stem}.compare.png"),
            "png",
            ExportKind::Composite,
        ),
        (
            "Export raw map (.npy)…",
            format!("{stem}.raw.npy"),
            "npy",
            ExportKind::RawNpy(0),
        ),
    ];
    for (label, suggested, extension, kind) in exports {
        let clicked = ui
            .add_enabled(generation.is_some(), egui::Button::new(label))
            .clicked();
        if let (true, Some(g)) = (clicked, generation) {
            out.push(Command::Pick(
                PickKind::Save {
                    suggested,
                    extension,
                },
                PickPurpose::Export(kind, g),
            ));
            ui.close();
        }
    }
    ui.separator();
    if ui.button("Quit").clicked() {
        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
    }
}
