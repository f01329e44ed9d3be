//! Colormaps as 256-entry RGB tables, indexed like OpenCV's `applyColorMap(uint8(255 · v))`.

use std::fmt;
use std::str::FromStr;

use crate::engine::render::colormap_tables as t;

/// A colormap for heat overlays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// OpenCV's COLORMAP_JET, as pytorch-grad-cam's `show_cam_on_image` uses it.
    Jet,
    Turbo,
    Viridis,
    Inferno,
    Magma,
    Gray,
    /// Diverging blue → white → red (matplotlib's `RdBu_r`), for signed maps.
    RdBu,
}

impl Colormap {
    pub const ALL: [Colormap; 7] = [
        Colormap::Jet,
        Colormap::Turbo,
        Colormap::Viridis,
        Colormap::Inferno,
        Colormap::Magma,
        Colormap::Gray,
        Colormap::RdBu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Jet => "jet",
            Colormap::Turbo => "turbo",
            Colormap::Viridis => "viridis",
            Colormap::Inferno => "inferno",
            Colormap::Magma => "magma",
            Colormap::Gray => "gray",
            Colormap::RdBu => "rdbu",
        }
    }

    pub fn is_diverging(self) -> bool {
        self == Colormap::RdBu
    }

    /// The colour of table entry `i`.
    pub fn lut(self, i: u8) -> [u8; 3] {
        let i = i as usize;
        match self {
            Colormap::Jet => t::JET[i],
            Colormap::Turbo => t::TURBO[i],
            Colormap::Viridis => t::VIRIDIS[i],
            Colormap::Inferno => t::INFERNO[i],
            Colormap::Magma => t::MAGMA[i],
            Colormap::Gray => [i as u8; 3],
            Colormap::RdBu => t::RDBU[i],
        }
    }

    /// The colour of `v` in [0, 1]: entry `uint8(255 · v)` (truncated, as NumPy's cast).
    pub fn color(self, v: f32) -> [u8; 3] {
        self.lut(quantize(v))
    }
}

/// NumPy's `np.uint8(255 * v)` for v in [0, 1] (values outside are clamped; NaN is 0).
pub fn quantize(v: f32) -> u8 {
    (255.0 * v).clamp(0.0, 255.0) as u8
}

impl fmt::Display for Colormap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Colormap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Colormap::ALL
            .into_iter()
            .find(|c| c.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown colormap {s:?}; expected one of: {}",
                    Colormap::ALL.map(Colormap::name).join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample points of OpenCV 5.0's `cv2.applyColorMap(..., cv2.COLORMAP_JET)`, as RGB.
    #[test]
    fn jet_equals_opencv_at_sample_points() {
        let samples: [(u8, [u8; 3]); 20] = [
            (0, [0, 0, 128]),
            (1, [0, 0, 132]),
            (2, [0, 0, 136]),
            (31, [0, 0, 252]),
            (32, [0, 0, 255]),
            (33, [0, 4, 255]),
            (63, [0, 124, 255]),
            (64, [0, 128, 255]),
            (95, [0, 252, 255]),
            (96, [2, 255, 254]),
            (127, [126, 255, 130]),
            (128, [130, 255, 126]),
            (159, [254, 255, 1]),
            (160, [255, 252, 0]),
            (191, [255, 128, 0]),
            (192, [255, 124, 0]),
            (223, [255, 0, 0]),
            (224, [252, 0, 0]),
            (254, [132, 0, 0]),
            (255, [128, 0, 0]),
        ];
        for (i, rgb) in samples {
            assert_eq!(Colormap::Jet.lut(i), rgb, "entry {i}");
        }
        // Indexing like np.uint8(255 * v): 0.5 -> 127, 1.0 -> 255.
        assert_eq!(Colormap::Jet.color(0.5), [126, 255, 130]);
        assert_eq!(Colormap::Jet.color(1.0), [128, 0, 0]);
    }

    #[test]
    fn diverging_map_is_white_in_the_middle() {
        let [r, g, b] = Colormap::RdBu.color(0.5);
        assert!(r > 240 && g > 240 && b > 240);
        assert!(Colormap::RdBu.color(0.0)[2] > Colormap::RdBu.color(0.0)[0]);
        assert!(Colormap::RdBu.color(1.0)[0] > Colormap::RdBu.color(1.0)[2]);
    }
}
