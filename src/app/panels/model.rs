//! The model section: architecture, weights, size, preprocessing (and where it comes from),
//! and the compute device.

use super::{Command, Panel, PanelContext};

#[derive(Default)]
pub struct ModelSection;

impl Panel for ModelSection {
    fn ui(&mut self, ui: &mut egui::Ui, cx: &PanelContext<'_>, out: &mut Vec<Command>) {
        ui.heading("Model");
        let Some(m) = &cx.mirror.model else {
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
            ui.label("Preprocess");
            ui.add(egui::Label::new(&m.preprocess_source).truncate())
                .on_hover_text(format!("{}\nfrom {}", m.preprocess, m.preprocess_source));
            ui.end_row();
        });
        let gpu_available = candle_core::utils::cuda_is_available();
        let mut use_gpu = cx.prefs.use_gpu && gpu_available;
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
                    out.push(Command::SetGpu(use_gpu));
                }
            });
    }
}
