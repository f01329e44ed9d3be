//! The central area: the photo with each pane's overlay and boxes, zoom (wheel) and pan (drag),
//! synchronised across compare panes, and the map value under the pointer.

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::engine::Colormap;
use crate::engine::render::{BOX_PRIMARY, BOX_SECONDARY};

use super::worker::PaneResult;
use super::{CamscopeApp, Command};

/// Zoom and pan shared by every pane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub zoom: f32,
    pub pan: Vec2,
}

impl Default for View {
    fn default() -> Self {
        Self {
            zoom: 1.0,
            pan: Vec2::ZERO,
        }
    }
}

/// An overlay texture and what it was made from.
pub struct PaneTextures {
    key: TexKey,
    texture: egui::TextureHandle,
}

#[derive(Clone, Copy, PartialEq)]
struct TexKey {
    generation: u64,
    pane: usize,
    colormap: Colormap,
    weight: u32,
    alpha_by_value: bool,
    signed: bool,
}

pub fn central_ui(app: &mut CamscopeApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default_margins().show(ui, |ui| {
        let Some(photo) = app.photo_texture.clone() else {
            ui.centered_and_justified(|ui| {
                if app.is_busy() {
                    ui.spinner();
                } else {
                    ui.label("Drop a photo here, or use File → Open image…");
                }
            });
            return;
        };
        let n = if app.prefs.compare_mode {
            app.prefs.compare.len()
        } else {
            1
        };
        let area = ui.available_rect_before_wrap();
        let gap = 6.0;
        let w = (area.width() - gap * (n as f32 - 1.0)) / n as f32;
        app.hover = None;
        for i in 0..n {
            let rect = Rect::from_min_size(
                area.min + Vec2::new(i as f32 * (w + gap), 0.0),
                Vec2::new(w, area.height()),
            );
            pane_ui(app, ui, i, rect, &photo);
        }
    });
}

fn pane_ui(
    app: &mut CamscopeApp,
    ui: &mut egui::Ui,
    i: usize,
    rect: Rect,
    photo: &egui::TextureHandle,
) {
    let title_h = 22.0;
    let title_rect = Rect::from_min_size(rect.min, Vec2::new(rect.width(), title_h));
    let canvas = Rect::from_min_max(rect.min + Vec2::new(0.0, title_h), rect.max);
    let overlay = overlay_texture(app, i);
    let Some(img) = &app.image else {
        return;
    };
    let (dw, dh) = (img.display.width() as f32, img.display.height() as f32);
    let base = (canvas.width() / dw).min(canvas.height() / dh);
    let s = base * app.view.zoom;
    let photo_rect =
        Rect::from_center_size(canvas.center() + app.view.pan, Vec2::new(dw * s, dh * s));
    let to_screen = |x: f32, y: f32| photo_rect.min + Vec2::new(x, y) * s;

    let response = ui.interact(
        canvas,
        egui::Id::unique(("camscope-pane", i)),
        Sense::click_and_drag(),
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::Image, true, format!("Photo pane {}", i + 1))
    });
    let painter = ui.painter_at(rect);
    painter.image(
        photo.id(),
        photo_rect,
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );

    // The model's crop in screen space; the rest of the photo is dimmed.
    let m = img.mapping;
    let (cx0, cy0) = m.original_from_input(0.0, 0.0);
    let (cx1, cy1) = m.original_from_input(m.input.0 as f32, m.input.1 as f32);
    let crop = Rect::from_min_max(to_screen(cx0, cy0), to_screen(cx1, cy1));
    let dim = Color32::from_black_alpha(166);
    for r in [
        Rect::from_min_max(photo_rect.min, Pos2::new(photo_rect.max.x, crop.min.y)),
        Rect::from_min_max(Pos2::new(photo_rect.min.x, crop.max.y), photo_rect.max),
        Rect::from_min_max(
            Pos2::new(photo_rect.min.x, crop.min.y),
            Pos2::new(crop.min.x, crop.max.y),
        ),
        Rect::from_min_max(
            Pos2::new(crop.max.x, crop.min.y),
            Pos2::new(photo_rect.max.x, crop.max.y),
        ),
    ] {
        if r.is_positive() {
            painter.rect_filled(r, 0.0, dim);
        }
    }

    let pane = app.explained.as_ref().and_then(|e| e.panes.get(i));
    let title = match pane {
        Some(Ok(p)) if p.method.uses_layer() => format!("{} · {}", p.method.title(), p.layer),
        Some(Ok(p)) => p.method.title().to_owned(),
        Some(Err(_)) => "not available".to_owned(),
        None => String::new(),
    };
    let text_color = ui.visuals().text_color();
    painter.text(
        title_rect.left_center() + Vec2::new(4.0, 0.0),
        egui::Align2::LEFT_CENTER,
        title,
        egui::FontId::proportional(14.0),
        text_color,
    );
    match pane {
        Some(Ok(_)) => {
            if let Some(tex) = overlay {
                painter.image(
                    tex.id(),
                    crop,
                    Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                    Color32::WHITE,
                );
            }
            let stroke_w = 2.0;
            for (k, b) in app.pane_boxes(i).iter().enumerate().rev() {
                let [r, g, bl] = if k == 0 { BOX_PRIMARY } else { BOX_SECONDARY };
                painter.rect_stroke(
                    Rect::from_min_max(to_screen(b.x0, b.y0), to_screen(b.x1, b.y1)),
                    0.0,
                    Stroke::new(
                        if k == 0 { stroke_w } else { 1.0 },
                        Color32::from_rgb(r, g, bl),
                    ),
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
        app.view.pan += response.drag_delta();
    }
    if response.double_clicked() {
        app.commands.push(Command::ResetView);
    }
    if let Some(pos) = response.hover_pos() {
        let scroll = ui.input(|inp| inp.smooth_scroll_delta.y);
        if scroll != 0.0 {
            let f = (scroll * 0.002).exp();
            let c = canvas.center();
            app.view.pan = pos - c - (pos - c - app.view.pan) * f;
            app.view.zoom *= f;
        }
        let x = (pos.x - photo_rect.min.x) / s;
        let y = (pos.y - photo_rect.min.y) / s;
        if (0.0..dw).contains(&x) && (0.0..dh).contains(&y) {
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
            app.hover = Some(text);
        }
    }
}

/// The overlay of pane `i` for the current display settings, made when they change.
fn overlay_texture(app: &mut CamscopeApp, i: usize) -> Option<egui::TextureHandle> {
    let e = app.explained.as_ref()?;
    let Ok(p) = e.panes.get(i)? else {
        return None;
    };
    let key = TexKey {
        generation: e.generation,
        pane: i,
        colormap: app.prefs.colormap,
        weight: app.prefs.image_weight.to_bits(),
        alpha_by_value: app.prefs.alpha_by_value,
        signed: app.prefs.signed,
    };
    if let Some(t) = app.textures.iter().find(|t| t.key == key) {
        return Some(t.texture.clone());
    }
    let image = overlay_image(p, &app.prefs);
    let texture = app
        .ctx
        .load_texture(format!("overlay-{i}"), image, egui::TextureOptions::LINEAR);
    app.textures.retain(|t| t.key.pane != i);
    app.textures.push(PaneTextures {
        key,
        texture: texture.clone(),
    });
    Some(texture)
}

/// The heat (or guided-gradient picture) as an RGBA image at model-input resolution, with the
/// blend weight in its alpha: drawn over the photo, `(1 − w)·heat + w·photo`.
fn overlay_image(p: &PaneResult, prefs: &super::prefs::Prefs) -> egui::ColorImage {
    let w = prefs.image_weight;
    let map = if prefs.signed {
        &p.signed
    } else {
        &p.explanation.map
    };
    let (mw, mh) = (map.width, map.height);
    let mut rgba = Vec::with_capacity(mw * mh * 4);
    match (&p.guided_rgb, prefs.signed) {
        (Some(rgb), false) => {
            for i in 0..mw * mh {
                for ch in rgb {
                    rgba.push((ch.data[i] * 255.0).clamp(0.0, 255.0) as u8);
                }
                rgba.push(255);
            }
        }
        _ => {
            let cmap = if prefs.signed {
                Colormap::RdBu
            } else {
                prefs.colormap
            };
            for &v in &map.data {
                let [r, g, b] = cmap.color(v);
                let strength = if prefs.signed {
                    (v - 0.5).abs() * 2.0
                } else {
                    v
                };
                let a = if prefs.alpha_by_value {
                    (2.0 * (1.0 - w) * strength).clamp(0.0, 1.0)
                } else {
                    1.0 - w
                };
                rgba.extend_from_slice(&[r, g, b, (a * 255.0).round() as u8]);
            }
        }
    }
    egui::ColorImage::from_rgba_unmultiplied([mw, mh], &rgba)
}
