//! The shape of one convolution, shared by its CPU paths (im2col, Winograd, depthwise).

/// The shape of one convolution.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub n: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
}

impl Geometry {
    pub fn out_hw(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.k) / self.stride + 1,
            (self.w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    pub(super) fn cin_g(&self) -> usize {
        self.cin / self.groups
    }

    pub(super) fn cout_g(&self) -> usize {
        self.cout / self.groups
    }

    /// Rows of the im2col matrix of one group.
    pub(super) fn patch(&self) -> usize {
        self.cin_g() * self.k * self.k
    }

    /// A 1×1, stride-1, unpadded convolution reads its input as it is.
    pub(super) fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}
