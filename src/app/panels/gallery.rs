//! The gallery's side panel (folder, progress and Cancel, method, sort, filters, class of the
//! maps, AUC column, per-class mean map, display) and its grid of thumbnails: only the rows
//! on screen are laid out, so thousands of photos scroll smoothly.

use egui::{Color32, Rect, Sense, Stroke, StrokeKind, Vec2};

use super::display::DisplaySection;
use super::method::{layer_choices, pane_ui};
use super::{Command, Panel, PanelContext};
use crate::app::gallery::order::{Figures, figures};
use crate::app::gallery::{ClassRule, Filter, Gallery, GalleryCommand, GalleryView, SortKey};
use crate::engine::Colormap;
use crate::engine::render::BOX_PRIMARY;

/// Magenta, as the report draws ground-truth boxes.
const TRUTH: Color32 = Color32::from_rgb(255, 0, 255);
const CELL: Vec2 = Vec2::new(176.0, 228.0);
const IMAGE: f32 = 160.0;

/// What a mean map was made from: the class, whether by true class, the photos counted.
type MeanOf = (Option<usize>, bool, usize);

#[derive(Default)]
pub struct GalleryPanels {
    display: DisplaySection,
    layer_filter: String,
    /// The mean map's texture and what it was made from (class, by truth, photos counted).
    mean: Option<(MeanOf, egui::TextureHandle)>,
}

/// The classes present among the predictions (or the truths), by count, then index.
fn classes_present(g: &Gallery, by_truth: bool) -> Vec<(usize, usize)> {
    let mut counts = std::collections::BTreeMap::<usize, usize>::new();
    let photos = g.photos.as_deref().unwrap_or_default();
    for (p, r) in photos.iter().zip(&g.results) {
        let c = if by_truth {
            p.class
        } else {
            r.as_ref().and_then(|c| c.verdict()).map(|v| v.predicted)
        };
        if let Some(c) = c {
            *counts.entry(c).or_default() += 1;
        }
    }
    let mut v: Vec<(usize, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// A combo box of "any" and the classes present.
fn class_combo(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut Option<usize>,
    classes: &[(usize, usize)],
    name: &dyn Fn(usize) -> String,
) {
    let text = value.map_or("any".to_owned(), name);
    egui::ComboBox::from_label(label)
        .selected_text(text)
        .height(300.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(value, None, "any");
            for &(c, n) in classes {
                ui.selectable_value(value, Some(c), format!("{} ({n})", name(c)));
            }
        });
}

impl GalleryPanels {
    pub fn side_ui(
        &mut self,
        ui: &mut egui::Ui,
        g: &Gallery,
        cx: &PanelContext<'_>,
        out: &mut Vec<Command>,
    ) {
        egui::Panel::left("gallery_controls")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.controls(ui, g, cx, out);
                    ui.separator();
                    self.mean_ui(ui, g, cx, out);
                    ui.separator();
                    self.display.ui(ui, cx, out);
                });
            });
    }

    fn controls(
        &mut self,
        ui: &mut egui::Ui,
        g: &Gallery,
        cx: &PanelContext<'_>,
        out: &mut Vec<Command>,
    ) {
        ui.heading("Gallery");
        ui.label(g.dir.display().to_string());
        if let Some(e) = &g.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let Some(photos) = &g.photos else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("listing the folder…");
            });
            return;
        };
        ui.weak(&g.truth);
        ui.horizontal(|ui| {
            if ui
                .button("Labels CSV…")
                .on_hover_text(
                    "file,label[,x0,y0,x1,y1] rows after a header, paths relative to the folder",
                )
                .clicked()
            {
                out.push(Command::Pick(
                    crate::app::picker::PickKind::Csv,
                    crate::app::command::PickPurpose::GalleryLabels,
                ));
            }
            if ui.button("Close gallery").clicked() {
                out.push(Command::Gallery(GalleryCommand::Close));
            }
        });
        let (done, total) = g.progress();
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("{done} of {total} photos explained")),
        );
        ui.horizontal(|ui| {
            if g.running() && !g.paused && ui.button("Cancel").clicked() {
                out.push(Command::Gallery(GalleryCommand::Pause(true)));
            }
            if g.paused && ui.button("Resume").clicked() {
                out.push(Command::Gallery(GalleryCommand::Pause(false)));
            }
            if g.paused {
                ui.weak("stopped");
            }
        });
        if let Some(t) = g.first_screen {
            ui.weak(format!("first screen in {:.2} s", t.as_secs_f32()));
        }
        ui.label(format!("{} photos", photos.len()));
        ui.separator();
        // The method and layer of the single view, which the inspector opens with.
        let layers = layer_choices(cx.mirror.model.as_ref());
        let single = &cx.prefs.single;
        let no_cam = cx.mirror.model.as_ref().and_then(|m| m.no_cam.as_deref());
        if let Some(spec) = pane_ui(ui, "", single, &layers, no_cam, &mut self.layer_filter) {
            out.push(Command::Gallery(GalleryCommand::SetPane(spec)));
        }
        if let Some(b) = &cx.mirror.second {
            ui.weak(format!(
                "second model: {} at its default layer",
                b.architecture
            ));
        }
        let mut rule = g.rule;
        egui::ComboBox::from_label("Maps explain")
            .selected_text(match rule {
                ClassRule::Predicted => "the predicted class",
                ClassRule::True => "the true class",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut rule, ClassRule::Predicted, "the predicted class");
                ui.selectable_value(&mut rule, ClassRule::True, "the true class");
            });
        if rule != g.rule {
            out.push(Command::Gallery(GalleryCommand::Rule(rule)));
        }
        let mut auc = g.auc;
        if ui
            .checkbox(&mut auc, "Deletion / insertion AUC (slow)")
            .on_hover_text("42 forward passes a photo, blur baseline (docs/metrics.md)")
            .changed()
        {
            out.push(Command::Gallery(GalleryCommand::Auc(auc)));
        }
        ui.separator();
        let mut v = g.view.clone();
        egui::ComboBox::from_label("Sort by")
            .selected_text(v.sort.title())
            .show_ui(ui, |ui| {
                for k in SortKey::ALL {
                    ui.selectable_value(&mut v.sort, k, k.title());
                }
            });
        ui.checkbox(&mut v.descending, "Descending");
        egui::ComboBox::from_label("Show")
            .selected_text(v.filter.title())
            .width(220.0)
            .show_ui(ui, |ui| {
                for f in Filter::ALL {
                    ui.selectable_value(&mut v.filter, f, f.title());
                }
            });
        let names = |c: usize| class_name(cx, c);
        class_combo(
            ui,
            "Predicted class",
            &mut v.predicted_class,
            &classes_present(g, false),
            &names,
        );
        class_combo(
            ui,
            "True class",
            &mut v.true_class,
            &classes_present(g, true),
            &names,
        );
        if v != g.view {
            out.push(Command::Gallery(GalleryCommand::View(v)));
        }
    }

    fn mean_ui(
        &mut self,
        ui: &mut egui::Ui,
        g: &Gallery,
        cx: &PanelContext<'_>,
        out: &mut Vec<Command>,
    ) {
        ui.heading("Mean map of a class");
        let mut v: GalleryView = g.view.clone();
        let names = |c: usize| class_name(cx, c);
        class_combo(
            ui,
            "Class",
            &mut v.mean_class,
            &classes_present(g, v.mean_by_truth),
            &names,
        );
        ui.checkbox(&mut v.mean_by_truth, "Photos of this true class");
        if v != g.view {
            out.push(Command::Gallery(GalleryCommand::View(v)));
        }
        let Some((map, n)) = g.mean_map() else {
            ui.weak("pick a class: the mean of its photos' maps over the model input");
            return;
        };
        let made = (g.view.mean_class, g.view.mean_by_truth, n);
        if self.mean.as_ref().map(|(k, _)| *k) != Some(made) {
            let pixels: Vec<u8> = map
                .data
                .iter()
                .flat_map(|&x| Colormap::Jet.color(x))
                .collect();
            let image = egui::ColorImage::from_rgb([map.width, map.height], &pixels);
            let tex = ui
                .ctx()
                .load_texture("gallery-mean", image, egui::TextureOptions::LINEAR);
            self.mean = Some((made, tex));
        }
        if let Some((_, tex)) = &self.mean {
            ui.add(egui::Image::new((tex.id(), Vec2::splat(200.0))).alt_text("Mean map"));
        }
        ui.weak(format!(
            "{n} photos; 0 blue … 1 red (each map min–max first)"
        ));
    }

    /// The grid; returns the photos on screen.
    pub fn grid_ui(
        &mut self,
        ui: &mut egui::Ui,
        g: &mut Gallery,
        cx: &PanelContext<'_>,
        out: &mut Vec<Command>,
    ) -> Vec<usize> {
        let mut visible = Vec::new();
        egui::CentralPanel::default_margins().show(ui, |ui| {
            let tau = cx.prefs.threshold;
            let order = g.order(tau);
            ui.horizontal(|ui| {
                if ui.button("Open in inspector: first shown").clicked()
                    && let Some(&i) = order.first()
                {
                    out.push(Command::Gallery(GalleryCommand::OpenPhoto(i)));
                }
                ui.weak(format!("{} shown", order.len()));
            });
            if order.is_empty() {
                if g.photos.is_some() {
                    ui.label("no photo matches these filters");
                }
                return;
            }
            let cols = ((ui.available_width() / CELL.x).floor() as usize).max(1);
            let rows = order.len().div_ceil(cols);
            let mut area = egui::ScrollArea::vertical()
                .id_salt("gallery-grid")
                .auto_shrink(false);
            if std::mem::take(&mut g.restore_scroll) {
                area = area.vertical_scroll_offset(g.scroll);
            }
            let shown = area.show_rows(ui, CELL.y, rows, |ui, range| {
                for r in range {
                    ui.horizontal(|ui| {
                        for &i in order.iter().skip(r * cols).take(cols) {
                            visible.push(i);
                            cell_ui(ui, g, cx, i, tau, out);
                        }
                    });
                }
            });
            g.scroll = shown.state.clamped_offset().y;
        });
        visible
    }
}

fn class_name(cx: &PanelContext<'_>, c: usize) -> String {
    cx.mirror
        .model
        .as_ref()
        .and_then(|m| m.class_names.get(c).cloned())
        .unwrap_or_else(|| format!("class {c}"))
}

/// One thumbnail with its boxes and figures; a click opens it in the inspector.
fn cell_ui(
    ui: &mut egui::Ui,
    g: &mut Gallery,
    cx: &PanelContext<'_>,
    i: usize,
    tau: f32,
    out: &mut Vec<Command>,
) {
    let Some(photo) = g.photos.as_ref().and_then(|p| p.get(i)).cloned() else {
        return;
    };
    let (rect, resp) = ui.allocate_exact_size(CELL, Sense::click());
    resp.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Button, true, format!("Photo {}", photo.file))
    });
    let computed = g.results.get(i).cloned().flatten();
    let texture = g.thumb(i);
    let painter = ui.painter_at(rect);
    let image_area = Rect::from_min_size(rect.min + Vec2::new(8.0, 4.0), Vec2::splat(IMAGE));
    if resp.hovered() {
        painter.rect_filled(rect, 4.0, ui.visuals().widgets.hovered.weak_bg_fill);
    }
    let verdict = computed.as_ref().and_then(|c| c.verdict());
    let f: Figures = figures(&photo, computed.as_deref(), tau);
    match (texture, verdict) {
        (Some(tex), Some(v)) => {
            let (w, h) = (v.mapping.original.0 as f32, v.mapping.original.1 as f32);
            let s = IMAGE / w.max(h);
            let img = Rect::from_center_size(image_area.center(), Vec2::new(w * s, h * s));
            let uv = Rect::from_min_max(egui::Pos2::ZERO, egui::Pos2::new(1.0, 1.0));
            painter.image(tex, img, uv, Color32::WHITE);
            let to_screen = |b: &crate::engine::BBox| {
                Rect::from_min_max(
                    img.min + Vec2::new(b.x0, b.y0) * s,
                    img.min + Vec2::new(b.x1, b.y1) * s,
                )
            };
            for b in &photo.boxes {
                painter.rect_stroke(
                    to_screen(b),
                    0.0,
                    Stroke::new(1.5, TRUTH),
                    StrokeKind::Inside,
                );
            }
            if let Some(b) = v.map.boxes(&v.mapping, tau).first() {
                let [r, gr, bl] = BOX_PRIMARY;
                let stroke = Stroke::new(2.0, Color32::from_rgb(r, gr, bl));
                painter.rect_stroke(to_screen(b), 0.0, stroke, StrokeKind::Inside);
            }
        }
        _ => {
            painter.rect_filled(image_area, 2.0, ui.visuals().extreme_bg_color);
            let text = match &computed {
                Some(c) if c.verdict().is_none() => "failed",
                _ => "…",
            };
            painter.text(
                image_area.center(),
                egui::Align2::CENTER_CENTER,
                text,
                egui::FontId::proportional(14.0),
                ui.visuals().weak_text_color(),
            );
        }
    }
    let mut lines = vec![photo.file.clone()];
    if let Some(v) = verdict {
        let mark = match f.correct {
            Some(true) => " ✓",
            Some(false) => " ✗",
            None => "",
        };
        lines.push(format!("{} {:.0}%{mark}", v.label, v.probability * 100.0));
        let mut figs = Vec::new();
        if let Some(x) = f.iou {
            figs.push(format!("IoU {x:.2}"));
        }
        if let Some(x) = f.outside {
            figs.push(format!("out {x:.2}"));
        }
        if let Some(x) = f.insertion {
            figs.push(format!("ins {x:.2}"));
        }
        if let Some(x) = f.disagreement {
            figs.push(format!("dis {x:.2}"));
        }
        lines.push(figs.join(" · "));
    } else if let Some(Err(e)) = computed.as_ref().map(|c| &c.result) {
        lines.push(e.clone());
    }
    let color = if f.correct == Some(false) {
        Color32::from_rgb(230, 90, 80)
    } else {
        ui.visuals().text_color()
    };
    for (k, line) in lines.iter().enumerate() {
        let galley = painter.layout(
            line.clone(),
            egui::FontId::proportional(12.0),
            if k == 1 {
                color
            } else {
                ui.visuals().text_color()
            },
            CELL.x - 8.0,
        );
        let y = image_area.max.y + 4.0 + 16.0 * k as f32;
        painter.galley(egui::pos2(rect.min.x + 4.0, y), galley, Color32::WHITE);
    }
    let resp = resp.on_hover_text(tooltip(&photo, verdict, &f, computed.as_deref(), cx));
    if resp.clicked() {
        out.push(Command::Gallery(GalleryCommand::OpenPhoto(i)));
    }
}

fn tooltip(
    photo: &crate::engine::metrics::dataset::Photo,
    v: Option<&crate::app::gallery::Verdict>,
    f: &Figures,
    c: Option<&crate::app::gallery::Computed>,
    cx: &PanelContext<'_>,
) -> String {
    let mut t = photo.file.clone();
    if let Some(truth) = photo.class {
        t += &format!("\ntrue class: {}", class_name(cx, truth));
    }
    if let Some(v) = v {
        t += &format!(
            "\npredicted: {} ({:.1}%), map of class {}",
            v.label,
            v.probability * 100.0,
            v.explained
        );
    }
    let opt = |x: Option<f32>| x.map_or("–".to_owned(), |x| format!("{x:.3}"));
    t += &format!(
        "\nIoU {} · pointing {} · mass outside {}",
        opt(f.iou),
        f.pointing.map_or("–", |p| if p { "hit" } else { "miss" }),
        opt(f.outside)
    );
    if f.deletion.is_some() {
        t += &format!(
            "\ndeletion AUC {} · insertion AUC {}",
            opt(f.deletion),
            opt(f.insertion)
        );
    }
    if let Some(Some(Ok(b))) = c.map(|c| c.second.as_ref()) {
        t += &format!(
            "\nsecond model: {} ({:.1}%), map correlation {}",
            b.label,
            b.probability * 100.0,
            opt(c.and_then(|c| c.correlation))
        );
    }
    t
}
