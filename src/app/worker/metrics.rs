//! Faithfulness curves on the worker: deletion and insertion of every pane's map of the
//! explanation on screen (docs/metrics.md), stopped as soon as the app wants another
//! generation.

use std::sync::atomic::Ordering;

use super::{Session, failed};
use crate::app::protocol::{PaneMetrics, Response};
use crate::engine::Error;
use crate::engine::faithfulness::{Baseline, CurveSettings, deletion_insertion};
use crate::engine::render::pane_title;

impl Session {
    pub(super) fn metrics(&self, generation: u64, steps: usize) -> Vec<Response> {
        let (Some(img), Some(last)) = (self.image.as_ref(), self.last.as_ref()) else {
            return Vec::new();
        };
        let Some(ex) = img.explainer.as_ref() else {
            return Vec::new();
        };
        if last.generation != generation {
            return Vec::new();
        }
        let wanted = self.wanted.clone();
        let check = move || {
            if wanted.load(Ordering::Relaxed) == generation {
                Ok(())
            } else {
                Err(Error::Cancelled)
            }
        };
        let settings = CurveSettings {
            class: last.class,
            steps,
            baseline: Baseline::Blur,
            batch_size: 32,
            check: &check,
        };
        let mut panes = Vec::new();
        for (method, r) in &last.panes {
            let Ok(e) = r else { continue };
            match deletion_insertion(ex.model(), &ex.forward().input, &e.map, &settings) {
                Ok((deletion, insertion)) => panes.push(PaneMetrics {
                    title: pane_title(*method, &e.layer),
                    deletion,
                    insertion,
                }),
                Err(Error::Cancelled) => return Vec::new(),
                Err(e) => return vec![failed("faithfulness curves", e)],
            }
        }
        vec![Response::Metrics { generation, panes }]
    }
}
