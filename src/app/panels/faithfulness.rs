//! The faithfulness section: each pane's deletion and insertion curves (docs/metrics.md),
//! computed on the worker for the explanation on screen, drawn here with the areas in the
//! legend.

use super::{Command, Panel, PanelContext};
use crate::engine::metrics::faithfulness::Curve;

/// Curve colours (Okabe–Ito), one per pane, as in `camscope metrics --plot`.
const COLOURS: [egui::Color32; 4] = [
    egui::Color32::from_rgb(86, 180, 233),
    egui::Color32::from_rgb(230, 159, 0),
    egui::Color32::from_rgb(0, 158, 115),
    egui::Color32::from_rgb(204, 121, 167),
];

#[derive(Default)]
pub struct FaithfulnessSection;

fn plot(ui: &mut egui::Ui, title: &str, curves: &[&Curve]) {
    ui.label(title);
    let width = ui.available_width().min(280.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 110.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let grid = ui.visuals().weak_text_color().gamma_multiply(0.4);
    painter.rect_stroke(
        rect,
        0.0,
        egui::Stroke::new(1.0, grid),
        egui::StrokeKind::Inside,
    );
    for i in 1..4 {
        let f = i as f32 / 4.0;
        let y = rect.bottom() - rect.height() * f;
        let x = rect.left() + rect.width() * f;
        painter.line_segment(
            [egui::pos2(rect.left(), y), egui::pos2(rect.right(), y)],
            (0.5, grid),
        );
        painter.line_segment(
            [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
            (0.5, grid),
        );
    }
    for (k, c) in curves.iter().enumerate() {
        let points: Vec<egui::Pos2> = c
            .fractions
            .iter()
            .zip(&c.scores)
            .filter(|(_, s)| s.is_finite())
            .map(|(&f, &s)| {
                egui::pos2(
                    rect.left() + rect.width() * f,
                    rect.bottom() - rect.height() * s.clamp(0.0, 1.0),
                )
            })
            .collect();
        painter.add(egui::Shape::line(
            points,
            egui::Stroke::new(1.5, COLOURS[k % COLOURS.len()]),
        ));
    }
}

/// While the curves of the explanation on screen are not there: how far they have come and a
/// Stop button, or, once stopped, a button that computes them again.
fn waiting(ui: &mut egui::Ui, cx: &PanelContext<'_>, current: Option<u64>, out: &mut Vec<Command>) {
    let m = cx.mirror;
    if current.is_some() && m.metrics_stopped == current {
        ui.horizontal(|ui| {
            ui.label("curves stopped");
            if ui.button("Compute the curves").clicked() {
                out.push(Command::ComputeMetrics);
            }
        });
        return;
    }
    ui.horizontal(|ui| match m.metrics_progress {
        Some((g, done, total)) if Some(g) == current => {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(180.0)
                    .text(format!("curves: {done} / {total} forward passes")),
            );
            if ui.button("Stop").clicked() {
                out.push(Command::StopMetrics);
            }
        }
        _ => {
            ui.spinner();
            ui.label(if current.is_some() {
                "computing the curves…"
            } else {
                "the curves follow the first map"
            });
        }
    });
}

impl Panel for FaithfulnessSection {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        let mut on = cx.prefs.show_metrics;
        if ui
            .checkbox(&mut on, "Faithfulness curves (deletion / insertion)")
            .on_hover_text(
                "The class probability as the pixels the map ranks highest are deleted (blurred) \
                 or inserted into the blurred photo; lower deletion and higher insertion areas \
                 mean a more faithful map (docs/metrics.md)",
            )
            .changed()
        {
            out.push(Command::SetShowMetrics(on));
        }
        if !on {
            return;
        }
        let current = cx.mirror.explained.as_ref().map(|e| e.generation);
        let panes = match &cx.mirror.metrics {
            Some((g, panes)) if Some(*g) == current => panes,
            _ => {
                waiting(ui, cx, current, out);
                return;
            }
        };
        let del: Vec<&Curve> = panes.iter().map(|p| &p.deletion).collect();
        let ins: Vec<&Curve> = panes.iter().map(|p| &p.insertion).collect();
        plot(ui, "Deletion (lower is better)", &del);
        plot(ui, "Insertion (higher is better)", &ins);
        for (k, p) in panes.iter().enumerate() {
            ui.colored_label(
                COLOURS[k % COLOURS.len()],
                format!(
                    "{}: deletion AUC {:.3}, insertion AUC {:.3}",
                    p.title, p.deletion.auc, p.insertion.auc
                ),
            );
        }
    }
}
