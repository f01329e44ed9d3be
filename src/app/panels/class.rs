//! The class section: the top-5 predictions and a searchable list of every class. Owns the
//! search text.

use super::{Command, Panel, PanelContext};

#[derive(Default)]
pub struct ClassPanel {
    filter: String,
}

impl Panel for ClassPanel {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        ui.heading("Class");
        let (Some(img), Some(model)) = (&cx.mirror.image, &cx.mirror.model) else {
            return;
        };
        let shown = cx.mirror.explained.as_ref().map(|e| e.class);
        ui.label("Top predictions:");
        for p in img.predictions.iter().take(5) {
            let name = model.class_names.get(p.class).cloned().unwrap_or_default();
            let text = format!("{name}  {:.1}%", p.probability * 100.0);
            if ui.selectable_label(shown == Some(p.class), text).clicked() {
                out.push(Command::SetClass(Some(p.class)));
            }
        }
        let label = ui.label("Search all classes:");
        ui.add(egui::TextEdit::singleline(&mut self.filter).hint_text("e.g. cat"))
            .labelled_by(label.id);
        let filter = self.filter.to_lowercase();
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
                        out.push(Command::SetClass(Some(c)));
                    }
                }
            });
    }
}
