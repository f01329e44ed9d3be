//! The faithfulness section: each pane's deletion and insertion curves (docs/metrics.md),
//! computed on the worker for the explanation on screen, drawn here with the areas in the
//! legend.

use super::{Command, Panel, PanelContext};
use crate::engine::faithfulness::Curve;

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
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("computing the curves…");
                });
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
