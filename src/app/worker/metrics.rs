//! Faithfulness curves on the worker: deletion and insertion of every pane's map of the
//! explanation on screen (docs/metrics.md), stopped as soon as the app wants another
//! generation or stops them; progress is reported before every batch.

use std::sync::atomic::Ordering;

use super::{Session, failed};
use crate::app::protocol::{PaneMetrics, Response};
use crate::engine::Error;
use crate::engine::metrics::faithfulness::{Baseline, CurveSettings, deletion_insertion};
use crate::engine::render::pane_title;

impl Session {
    pub(super) fn metrics(&self, generation: u64, steps: usize) -> Vec<Response> {
        let (Some(img), Some(last)) = (self.image.as_ref(), self.last.as_ref()) else {
            return Vec::new();
        };
        if last.generation != generation {
            return vec![Response::MetricsStopped { generation }];
        }
        let wanted = self.wanted.clone();
        let check = move || {
            if wanted.load(Ordering::Relaxed) == generation {
                Ok(())
            } else {
                Err(Error::Cancelled)
            }
        };
        let maps: Vec<_> = last
            .panes
            .iter()
            .filter_map(|p| Some((p.method, p.result.as_ref().ok()?, img.view(p.second)?)))
            .collect();
        // Forward passes in all: two curves of `steps + 1` points a pane.
        let per_pane = 2 * (steps + 1);
        let total = per_pane * maps.len();
        let mut panes = Vec::new();
        for (k, (method, e, view)) in maps.into_iter().enumerate() {
            let outbox = &self.outbox;
            let progress = move |done: usize, _| {
                outbox.send(Response::MetricsProgress {
                    generation,
                    done: k * per_pane + done,
                    total,
                });
            };
            let settings = CurveSettings {
                class: e.class,
                steps,
                baseline: Baseline::Blur,
                batch_size: 32,
                check: &check,
                progress: Some(&progress),
            };
            let ex = &view.explainer;
            match deletion_insertion(ex.model(), &ex.forward().input, &e.map, &settings) {
                Ok((deletion, insertion)) => panes.push(PaneMetrics {
                    title: pane_title(method, &e.layer),
                    deletion,
                    insertion,
                }),
                Err(Error::Cancelled) => return vec![Response::MetricsStopped { generation }],
                Err(e) => return vec![failed("faithfulness curves", e)],
            }
        }
        vec![Response::Metrics { generation, panes }]
    }
}
