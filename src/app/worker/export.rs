//! Exports on the worker: the explanation on screen (its generation), drawn as the screen
//! draws it, at the photo's full resolution.

use super::Session;
use crate::app::protocol::{DrawStyle, ExportKind};
use crate::engine::Explanation;
use crate::engine::io::labels::label_of;
use crate::engine::render::{
    Caption, GridSettings, annotated_with_caption, compare_grid, grid_caption, photo_boxes,
    save_png,
};

impl Session {
    pub(super) fn export(
        &self,
        generation: u64,
        kind: &ExportKind,
        path: &std::path::Path,
        s: &DrawStyle,
    ) -> anyhow::Result<()> {
        let img = self
            .image
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no image is open"))?;
        let last = self
            .last
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("nothing is explained yet"))?;
        anyhow::ensure!(
            last.generation == generation,
            "the view changed while the export waited; export again"
        );
        let ex = img
            .explainer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no explanation"))?;
        let class = last.class;
        let prob = ex
            .predictions()?
            .iter()
            .find(|p| p.class == class)
            .map_or(0.0, |p| p.probability);
        let label = label_of(self.labels.as_ref(), class);
        let pane = |i: usize| -> anyhow::Result<&Explanation> {
            match last.panes.get(i) {
                Some((_, Ok(e))) => Ok(e),
                Some((_, Err(why))) => Err(anyhow::anyhow!("{why}")),
                None => Err(anyhow::anyhow!("no pane {i}")),
            }
        };
        match kind {
            ExportKind::Annotated(i) => {
                let e = pane(*i)?;
                let boxes = photo_boxes(&e.localization, &img.mapping, s.threshold, s.all_boxes);
                let caption = Caption {
                    label: &label,
                    probability: prob,
                    method: e.method,
                    layer: &e.layer,
                    threshold: s.threshold,
                };
                let shared = last.shared_maps(&s.look);
                let out = annotated_with_caption(
                    &img.photo,
                    &img.mapping,
                    e,
                    &s.look.overlay,
                    shared.get(*i).and_then(Option::as_ref),
                    &boxes,
                    &caption,
                );
                save_png(path, &out)?;
            }
            ExportKind::Composite => {
                let panes = last.grid_panes();
                let architecture = ex.model().architecture.clone();
                let caption = grid_caption(&label, prob, class, s.threshold, &architecture);
                let settings = GridSettings {
                    style: &s.look.overlay,
                    threshold: s.threshold,
                    all_boxes: s.all_boxes,
                    shared_scale: s.look.shared_scale,
                    caption: &caption,
                };
                let grid = compare_grid(&img.photo, &img.mapping, &panes, &settings)?;
                save_png(path, &grid)?;
            }
            ExportKind::RawNpy(i) => pane(*i)?.raw.write_npy(path)?,
        }
        Ok(())
    }
}
