//! The central area: each pane as the worker drew it (photo, overlay, dimmed outside the
//! model's crop), boxes drawn on top so they follow the threshold live, zoom (wheel) and pan
//! (drag) shared across compare panes, and the map value under the pointer.

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use super::{Command, Panel, PanelContext};
use crate::engine::render::{BOX_PRIMARY, BOX_SECONDARY, pane_title};

#[derive(Default)]
pub struct Canvas;

impl Panel for Canvas {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        egui::CentralPanel::default_margins().show(ui, |ui| {
            let Some(photo) = &cx.textures.photo else {
                ui.centered_and_justified(|ui| {
                    if cx.busy {
                        ui.spinner();
                    } else {
                        ui.label("Drop a photo here, or use File → Open image…");
                    }
                });
                return;
            };
            let n = cx.prefs.pane_count();
            let area = ui.available_rect_before_wrap();
            let gap = 6.0;
            let w = (area.width() - gap * (n as f32 - 1.0)) / n as f32;
            let mut hover = None;
            for i in 0..n {
                let rect = Rect::from_min_size(
                    area.min + Vec2::new(i as f32 * (w + gap), 0.0),
                    Vec2::new(w, area.height()),
                );
                if let Some(h) = pane_ui(ui, cx, i, rect, photo, out) {
                    hover = Some(h);
                }
            }
            if hover != cx.view.hover {
                out.push(Command::Hover(hover));
            }
        });
    }
}

/// Draws pane `i`; returns the text for the pointer when it is over this pane's photo.
fn pane_ui(
    ui: &mut egui::Ui,
    cx: &PanelContext<'_>,
    i: usize,
    rect: Rect,
    photo: &egui::TextureHandle,
    out: &mut Vec<Command>,
) -> Option<String> {
    let img = cx.mirror.image.as_ref()?;
    let title_h = 22.0;
    let title_rect = Rect::from_min_size(rect.min, Vec2::new(rect.width(), title_h));
    let canvas = Rect::from_min_max(rect.min + Vec2::new(0.0, title_h), rect.max);
    let (dw, dh) = (img.display.width() as f32, img.display.height() as f32);
    let base = (canvas.width() / dw).min(canvas.height() / dh);
    let s = base * cx.view.zoom;
    let photo_rect =
        Rect::from_center_size(canvas.center() + cx.view.pan, Vec2::new(dw * s, dh * s));
    let to_screen = |x: f32, y: f32| photo_rect.min + Vec2::new(x, y) * s;
    let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));

    let response = ui.interact(
        canvas,
        egui::Id::unique(("camscope-pane", i)),
        Sense::click_and_drag(),
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Image, true, format!("Photo pane {}", i + 1))
    });
    let painter = ui.painter_at(rect);
    let drawn = cx.textures.panes.get(i).and_then(Option::as_ref);
    painter.image(drawn.unwrap_or(photo).id(), photo_rect, uv, Color32::WHITE);

    let pane = cx.mirror.explained.as_ref().and_then(|e| e.panes.get(i));
    // The crop of the pane's own model (the second model may crop otherwise).
    let m = match pane {
        Some(Ok(p)) => p.mapping,
        _ => img.mapping,
    };
    let (cx0, cy0) = m.original_from_input(0.0, 0.0);
    let (cx1, cy1) = m.original_from_input(m.input.0 as f32, m.input.1 as f32);
    let crop = Rect::from_min_max(to_screen(cx0, cy0), to_screen(cx1, cy1));

    let title = match pane {
        Some(Ok(p)) if p.second => format!("B · {}", pane_title(p.method, &p.layer)),
        Some(Ok(p)) => pane_title(p.method, &p.layer),
        Some(Err(_)) => "not available".to_owned(),
        None => String::new(),
    };
    painter.text(
        title_rect.left_center() + Vec2::new(4.0, 0.0),
        egui::Align2::LEFT_CENTER,
        title,
        egui::FontId::proportional(14.0),
        ui.visuals().text_color(),
    );
    match pane {
        Some(Ok(_)) => {
            let boxes = cx
                .mirror
                .pane_boxes(i, cx.prefs.threshold, cx.prefs.all_boxes);
            for (k, b) in boxes.iter().enumerate().rev() {
                let [r, g, bl] = if k == 0 { BOX_PRIMARY } else { BOX_SECONDARY };
                painter.rect_stroke(
                    Rect::from_min_max(to_screen(b.x0, b.y0), to_screen(b.x1, b.y1)),
                    0.0,
                    Stroke::new(if k == 0 { 2.0 } else { 1.0 }, Color32::from_rgb(r, g, bl)),
                    StrokeKind::Inside,
                );
            }
        }
        Some(Err(why)) => {
            painter.rect_filled(crop, 0.0, Color32::from_black_alpha(180));
            let galley = painter.layout(
                why.clone(),
                egui::FontId::proportional(15.0),
                Color32::from_rgb(255, 210, 120),
                (canvas.width() - 24.0).max(40.0),
            );
            painter.galley(
                canvas.center() - galley.size() / 2.0,
                galley,
                Color32::WHITE,
            );
        }
        None => {}
    }

    // Zoom around the pointer, pan by dragging; every pane shares the view.
    if response.dragged() {
        out.push(Command::Pan(response.drag_delta()));
    }
    if response.double_clicked() {
        out.push(Command::ResetView);
    }
    let pos = response.hover_pos()?;
    let scroll = ui.input(|inp| inp.smooth_scroll_delta.y);
    if scroll != 0.0 {
        out.push(Command::Zoom {
            factor: (scroll * 0.002).exp(),
            at: pos - canvas.center(),
        });
    }
    let x = (pos.x - photo_rect.min.x) / s;
    let y = (pos.y - photo_rect.min.y) / s;
    if !(0.0..dw).contains(&x) || !(0.0..dh).contains(&y) {
        return None;
    }
    let ox = x * img.original.0 as f32 / dw;
    let oy = y * img.original.1 as f32 / dh;
    let mut text = format!("x {ox:.0}, y {oy:.0}");
    if let Some(Ok(p)) = pane {
        let (u, v) = m.input_from_original(x, y);
        let map = &p.explanation.map;
        if (0.0..map.width as f32).contains(&u) && (0.0..map.height as f32).contains(&v) {
            text += &format!(" · map {:.3}", map.sample(u - 0.5, v - 0.5));
        }
    }
    Some(text)
}
