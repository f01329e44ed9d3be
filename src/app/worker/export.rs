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
        let view = |second: bool| {
            img.view(second)
                .ok_or_else(|| anyhow::anyhow!("no explanation"))
        };
        let ex = &view(false)?.explainer;
        // The probability and name of `class` by the first model or the second.
        let caption_of = |second: bool, class: usize| -> anyhow::Result<(String, f32)> {
            let prob = view(second)?
                .explainer
                .predictions()?
                .iter()
                .find(|p| p.class == class)
                .map_or(0.0, |p| p.probability);
            let labels = if second {
                self.second.as_ref().and_then(|(_, l)| l.as_ref())
            } else {
                self.labels.as_ref()
            };
            Ok((label_of(labels, class), prob))
        };
        let (label, prob) = caption_of(false, last.class)?;
        let pane = |i: usize| -> anyhow::Result<(&Explanation, &super::View)> {
            match last.panes.get(i) {
                Some(p) => match &p.result {
                    Ok(e) => Ok((e, view(p.second)?)),
                    Err(why) => Err(anyhow::anyhow!("{why}")),
                },
                None => Err(anyhow::anyhow!("no pane {i}")),
            }
        };
        match kind {
            ExportKind::Annotated(i) => {
                let (e, v) = pane(*i)?;
                let (label, prob) = caption_of(last.panes[*i].second, e.class)?;
                let boxes = photo_boxes(&e.localization, &v.mapping, s.threshold, s.all_boxes);
                let caption = Caption {
                    label: &label,
                    probability: prob,
                    method: e.method,
                    layer: &e.layer,
                    threshold: s.threshold,
                };
                let shared = last.shared_maps(img, &s.look);
                let out = annotated_with_caption(
                    &img.photo,
                    &v.mapping,
                    e,
                    &s.look.overlay,
                    shared.get(*i).and_then(Option::as_ref),
                    &boxes,
                    &caption,
                );
                save_png(path, &out)?;
            }
            ExportKind::Composite => {
                let panes = last.grid_panes(img);
                let architecture = ex.model().architecture.clone();
                let caption = grid_caption(&label, prob, last.class, s.threshold, &architecture);
                let settings = GridSettings {
                    style: &s.look.overlay,
                    threshold: s.threshold,
                    all_boxes: s.all_boxes,
                    shared_scale: s.look.shared_scale,
                    caption: &caption,
                };
                let grid = compare_grid(&img.photo, &view(false)?.mapping, &panes, &settings)?;
                save_png(path, &grid)?;
            }
            ExportKind::RawNpy(i) => pane(*i)?.0.raw.write_npy(path)?,
        }
        Ok(())
    }
}
