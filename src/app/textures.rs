//! GPU copies of what the worker drew: the display photo and each pane's pixels.

use image::RgbImage;

use super::protocol::Rendered;

#[derive(Default)]
pub struct Textures {
    pub photo: Option<egui::TextureHandle>,
    /// One per pane of the current drawing (`None` where the method did not apply).
    pub panes: Vec<Option<egui::TextureHandle>>,
}

fn color_image(img: &RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

impl Textures {
    /// A new photo: its texture, and no pane drawings until they come.
    pub fn set_photo(&mut self, ctx: &egui::Context, display: &RgbImage) {
        self.photo =
            Some(ctx.load_texture("photo", color_image(display), egui::TextureOptions::LINEAR));
        self.panes.clear();
    }

    pub fn set_panes(&mut self, ctx: &egui::Context, r: &Rendered) {
        self.panes = r
            .panes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.as_ref().map(|img| {
                    ctx.load_texture(
                        format!("pane-{i}"),
                        color_image(img),
                        egui::TextureOptions::LINEAR,
                    )
                })
            })
            .collect();
    }
}
