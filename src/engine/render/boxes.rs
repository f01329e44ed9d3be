//! Boxes drawn into pictures: the largest component in the primary colour, the others thinner.

use image::{Rgb, RgbImage};

use crate::engine::metrics::localize::BBox;

pub const BOX_PRIMARY: [u8; 3] = [0, 255, 0];
pub const BOX_SECONDARY: [u8; 3] = [255, 255, 0];

/// A line thickness that reads at any photo size.
pub fn stroke_for(w: u32, h: u32) -> u32 {
    (w.max(h) / 300).max(2)
}

/// Draws boxes (photo pixel-edge coordinates), the first in the primary colour.
pub fn draw_boxes(img: &mut RgbImage, boxes: &[BBox]) {
    let t = stroke_for(img.width(), img.height());
    for (i, b) in boxes.iter().enumerate().rev() {
        let color = if i == 0 { BOX_PRIMARY } else { BOX_SECONDARY };
        draw_rect(img, b, if i == 0 { t } else { t.div_ceil(2) }, color);
    }
}

/// An outline of thickness `t` just inside `b`.
pub fn draw_rect(img: &mut RgbImage, b: &BBox, t: u32, color: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let [x0, y0, x1, y1] = b.to_pixels();
    let (x0, y0, x1, y1) = (x0.max(0), y0.max(0), x1.min(w), y1.min(h));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let t = t as i64;
    for y in y0..y1 {
        for x in x0..x1 {
            let edge = x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t;
            if edge {
                img.put_pixel(x as u32, y as u32, Rgb(color));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_drawn_inside_their_edges() {
        let mut img = RgbImage::new(20, 20);
        draw_rect(&mut img, &BBox::new(2., 3., 10., 12.), 2, [0, 255, 0]);
        assert_eq!(img.get_pixel(2, 3).0, [0, 255, 0]);
        assert_eq!(img.get_pixel(9, 11).0, [0, 255, 0]);
        assert_eq!(img.get_pixel(10, 12).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(5, 6).0, [0, 0, 0]);
    }
}
