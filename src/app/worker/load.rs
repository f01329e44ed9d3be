//! Opening models and photos on the worker: a photo is prepared (resized, cropped,
//! normalized, one forward pass) for the first model and, when one is open, for the second.

use std::sync::Arc;

use image::RgbImage;

use super::{Photo, Session, View, failed};
use crate::app::protocol::{
    ImageInfo, ImageSource, MAX_DISPLAY_SIDE, ModelInfo, ModelSource, Response,
};
use crate::engine::io::input::{PhotoFit, from_photo};
use crate::engine::io::labels::label_of;
use crate::engine::io::preprocess::{image_warnings, load_image, load_image_bytes, resize_rgb};
use crate::engine::render::fit_size;
use crate::engine::{Explainer, Labels, Model, builtin};

/// Opens `source` on `device`, described for the UI, with its class names.
fn open_model(
    source: &ModelSource,
    device: &candle_core::Device,
) -> Result<(ModelInfo, Option<Labels>), Response> {
    let (name, loaded) = match source {
        ModelSource::Builtin => (builtin::NAME.to_owned(), builtin::model(device)),
        ModelSource::File(p) => (p.display().to_string(), Model::load(p, device)),
    };
    let (m, layers) = loaded
        .and_then(|m| m.layers().map(|l| (m, l)))
        .map_err(|e| failed(format!("open model {name}"), e))?;
    let labels = Labels::for_model(&m);
    let m = Arc::new(m);
    static LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let info = ModelInfo {
        model: m.clone(),
        id: LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        name,
        architecture: m.architecture.clone(),
        device: format!("{:?}", m.device()),
        parameters: m.parameter_count(),
        input_size: m.preprocess.input_size(),
        preprocess: m.preprocess.describe(),
        preprocess_source: m.preprocess_source.clone(),
        layers,
        default_layer: m.default_layer().to_owned(),
        no_cam: m.cam_head().err().map(str::to_owned),
        class_names: (0..m.num_classes())
            .map(|c| label_of(labels.as_ref(), c))
            .collect(),
    };
    Ok((info, labels))
}

/// The photo as `model` sees it, and the photo back.
fn view_of(
    model: &Arc<Model>,
    photo: RgbImage,
    display: (u32, u32),
) -> crate::engine::Result<(View, RgbImage)> {
    let loaded = from_photo(
        model.preprocess,
        model.device(),
        photo,
        PhotoFit::CenterCrop,
    )?;
    let explainer = Explainer::new_shared(model.clone(), &loaded.input)?;
    let view = View {
        mapping: loaded.mapping,
        display_mapping: loaded.mapping.for_photo_size(display.0, display.1),
        explainer,
    };
    Ok((view, loaded.photo))
}

impl Session {
    pub(super) fn load_model(
        &mut self,
        source: ModelSource,
        device: &candle_core::Device,
    ) -> Vec<Response> {
        let (info, labels) = match open_model(&source, device) {
            Ok(r) => r,
            Err(e) => return vec![e],
        };
        self.model = Some(info.model.clone());
        self.labels = labels;
        let mut out = vec![Response::ModelLoaded(Box::new(info))];
        // The photo is preprocessed anew for this model.
        if let Some(img) = self.image.take() {
            out.extend(self.prepare(img.source, img.photo, img.warnings));
        }
        out
    }

    pub(super) fn load_second_model(
        &mut self,
        source: Option<&ModelSource>,
        device: &candle_core::Device,
    ) -> Vec<Response> {
        self.last = None;
        let Some(source) = source else {
            self.second = None;
            if let Some(img) = &mut self.image {
                img.views[1] = None;
            }
            return vec![Response::SecondModelLoaded(None)];
        };
        let (info, labels) = match open_model(source, device) {
            Ok(r) => r,
            Err(e) => return vec![e],
        };
        let model = info.model.clone();
        self.second = Some((model.clone(), labels));
        let mut out = vec![Response::SecondModelLoaded(Some(Box::new(info)))];
        if let Some(img) = &mut self.image {
            let size = img.display.dimensions();
            match view_of(&model, img.photo.clone(), size) {
                Ok((view, _)) => img.views[1] = Some(view),
                Err(e) => {
                    img.views[1] = None;
                    out.push(failed(format!("second model on {}", img.source.name()), e));
                }
            }
        }
        out
    }

    pub(super) fn open_image(&mut self, source: ImageSource) -> Vec<Response> {
        let photo = match &source {
            ImageSource::Sample => load_image_bytes(
                builtin::SAMPLE_IMAGE,
                std::path::Path::new(builtin::SAMPLE_IMAGE_NAME),
            ),
            ImageSource::File(p) => load_image(p),
        };
        let warnings = match &source {
            ImageSource::File(p) => image_warnings(p),
            ImageSource::Sample => Vec::new(),
        };
        match photo {
            Ok(photo) => self.prepare(source, photo, warnings),
            Err(e) => vec![failed(format!("open image {}", source.name()), e)],
        }
    }

    /// Preprocesses (the CLI's photo → input step) and runs the forward pass once per model.
    pub(super) fn prepare(
        &mut self,
        source: ImageSource,
        photo: RgbImage,
        warnings: Vec<String>,
    ) -> Vec<Response> {
        let (w, h) = photo.dimensions();
        let (dw, dh) = fit_size(w, h, MAX_DISPLAY_SIDE);
        let display = match resize_rgb(&photo, dw, dh) {
            Ok(d) => Arc::new(d),
            Err(e) => return vec![failed("display copy", e)],
        };
        let Some(model) = self.model.clone() else {
            self.image = Some(Photo {
                source,
                photo,
                display,
                views: [None, None],
                warnings,
            });
            return Vec::new();
        };
        // On failure the photo is kept (a model that suits it may come next).
        let (view, photo) = match view_of(&model, photo, (dw, dh)) {
            Ok(r) => r,
            Err(e) => return vec![failed(format!("explain {}", source.name()), e)],
        };
        let predictions = match view.explainer.predictions() {
            Ok(p) => p,
            Err(e) => return vec![failed("predictions", e)],
        };
        let mut out = Vec::new();
        let (second, photo) = match &self.second {
            Some((m, _)) => match view_of(m, photo.clone(), (dw, dh)) {
                Ok((v, _)) => (Some(v), photo),
                Err(e) => {
                    out.push(failed(format!("second model on {}", source.name()), e));
                    (None, photo)
                }
            },
            None => (None, photo),
        };
        let info = ImageInfo {
            source: source.clone(),
            original: (w, h),
            display: display.clone(),
            mapping: view.display_mapping,
            predictions,
        };
        self.last = None;
        self.image = Some(Photo {
            source,
            photo,
            display,
            views: [Some(view), second],
            warnings,
        });
        out.insert(0, Response::ImageLoaded(Box::new(info)));
        out
    }
}
