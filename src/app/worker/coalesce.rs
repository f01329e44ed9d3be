//! Dropping queued requests that a newer one makes pointless.

use crate::app::protocol::Request;

/// The queued requests in order without those a later one supersedes, and how many were taken.
pub fn coalesce(queue: Vec<Request>) -> (Vec<Request>, u64) {
    let count = queue.len() as u64;
    let keep: Vec<bool> = (0..queue.len())
        .map(|i| !queue[i + 1..].iter().any(|n| queue[i].is_superseded_by(n)))
        .collect();
    let kept = queue
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect();
    (kept, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::protocol::{ImageSource, Look, ModelSource, Smoothing};

    const LOOK: Look = Look {
        overlay: crate::engine::OverlayStyle {
            colormap: crate::engine::Colormap::Jet,
            image_weight: 0.5,
            blend: crate::engine::Blend::Mix,
            outside_dim: 0.35,
        },
        shared_scale: false,
    };

    fn explain(generation: u64) -> Request {
        Request::Explain {
            generation,
            class: None,
            panes: Vec::new(),
            smoothing: Smoothing::default(),
            look: LOOK,
        }
    }

    fn render(generation: u64) -> Request {
        Request::Render {
            generation,
            look: LOOK,
        }
    }

    fn generation(r: &Request) -> Option<u64> {
        match r {
            Request::Explain { generation, .. } | Request::Render { generation, .. } => {
                Some(*generation)
            }
            _ => None,
        }
    }

    /// A newer explanation supersedes older ones and any pending redraw; loads and opens are
    /// never dropped, and the order of what is kept is the order of asking.
    #[test]
    fn coalescing_keeps_loads_and_only_the_newest_explanation() {
        let queue = vec![
            explain(1),
            Request::OpenImage(ImageSource::Sample),
            render(1),
            explain(2),
            Request::LoadModel(ModelSource::Builtin, candle_core::Device::Cpu),
            explain(3),
            render(3),
        ];
        let (kept, count) = coalesce(queue);
        assert_eq!(count, 7, "every request counts as taken");
        assert_eq!(kept.len(), 4);
        assert!(matches!(kept[0], Request::OpenImage(_)));
        assert!(matches!(kept[1], Request::LoadModel(..)));
        assert!(matches!(kept[2], Request::Explain { .. }));
        assert_eq!(generation(&kept[2]), Some(3));
        assert!(matches!(kept[3], Request::Render { .. }));
        assert_eq!(generation(&kept[3]), Some(3));
    }

    #[test]
    fn a_lone_request_is_kept() {
        let (kept, count) = coalesce(vec![render(5)]);
        assert_eq!((kept.len(), count), (1, 1));
    }
}
