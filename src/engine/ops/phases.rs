//! A padded plane split into stride phases, for windowed ops (depthwise convolutions,
//! max-pooling): with the plane laid out this way, one window tap over the whole output plane
//! reads one contiguous run, so each tap is a single long vectorizable loop.

/// Padding `[top, bottom, left, right]`.
pub type Pads = [usize; 4];

/// The padded plane (`h + top + bottom` × `w + left + right`) as `s × s` phase planes:
/// phase `(p, q)` holds the padded rows `≡ p` and columns `≡ q` (mod `s`), `rows × width`
/// each, so padded `(r, c)` lies at `phase(r mod s, c mod s) + (r / s)·width + c / s`.
pub(super) struct Phases {
    /// The unpadded plane.
    h: usize,
    pub(super) w: usize,
    pub(super) s: usize,
    rows: usize,
    /// Row width of the phases, and of the runs (≥ the output's width).
    pub(super) width: usize,
    pub(super) k: usize,
    pub(super) pads: Pads,
    /// The output plane's size.
    pub(super) out: (usize, usize),
}

impl Phases {
    /// For a `k × k`, stride-`s` window over an `h × w` plane padded by `pads`.
    pub(super) fn new((h, w): (usize, usize), k: usize, s: usize, pads: Pads) -> Self {
        let [t, b, l, r] = pads;
        let (ph, pw) = (h + t + b, w + l + r);
        Self {
            h,
            w,
            s,
            rows: ph.div_ceil(s),
            width: pw.div_ceil(s),
            k,
            pads,
            out: ((ph - k) / s + 1, (pw - k) / s + 1),
        }
    }

    /// Scratch length: the phases, plus the few elements the last tap's run reads past them
    /// (in columns that are dropped).
    pub(super) fn len(&self) -> usize {
        self.s * self.s * self.rows * self.width + self.k
    }

    /// Length of one tap's run: every output row, `width` wide.
    #[inline(always)]
    pub(super) fn run(&self) -> usize {
        self.out.0 * self.width
    }

    /// Where tap `(ky, kx)`'s run starts: output `(oy, ox)` reads padded
    /// `(oy·s + ky, ox·s + kx)`, i.e. this offset plus `oy·width + ox`.
    #[inline(always)]
    pub(super) fn tap(&self, ky: usize, kx: usize) -> usize {
        let s = self.s;
        ((ky % s) * s + kx % s) * self.rows * self.width + (ky / s) * self.width + kx / s
    }

    /// The input position (flat, in the unpadded plane) that output `(oy, ox)` reads at tap
    /// `(ky, kx)`, or `None` in the padding.
    pub(super) fn input_at(
        &self,
        (oy, ox): (usize, usize),
        (ky, kx): (usize, usize),
    ) -> Option<usize> {
        let [t, _, l, _] = self.pads;
        let iy = (oy * self.s + ky).checked_sub(t).filter(|&y| y < self.h)?;
        let ix = (ox * self.s + kx).checked_sub(l).filter(|&x| x < self.w)?;
        Some(iy * self.w + ix)
    }

    /// For input row `iy`, each column phase's `(start, ix0)`: where the phase row's part
    /// for this row starts in the scratch, and the first input column `ix0` of that phase
    /// (then every `s`-th).
    #[inline(always)]
    fn row_phases(&self, iy: usize) -> impl Iterator<Item = (usize, usize)> {
        let (s, w) = (self.s, self.w);
        let [t, _, l, _] = self.pads;
        let r = iy + t;
        let row = (r % s) * s * self.rows * self.width + (r / s) * self.width;
        let phase = self.rows * self.width;
        (0..s).filter_map(move |q| {
            let ix0 = (q + s - l % s) % s;
            (ix0 < w).then(|| (row + q * phase + (ix0 + l) / s, ix0))
        })
    }

    /// Copies an input plane (`h × w`) into the scratch, `pad` everywhere else.
    #[inline(always)]
    pub(super) fn scatter(&self, src: &[f32], buf: &mut [f32], pad: f32) {
        let (h, w) = (self.h, self.w);
        buf.fill(pad);
        for iy in 0..h {
            let row = &src[iy * w..(iy + 1) * w];
            for (at, ix0) in self.row_phases(iy) {
                let n = (w - ix0).div_ceil(self.s);
                let dst = &mut buf[at..at + n];
                if self.s == 1 {
                    dst.copy_from_slice(row);
                } else {
                    // `chunks`, not `step_by`: it vectorizes.
                    for (d, c) in dst.iter_mut().zip(row[ix0..].chunks(self.s)) {
                        *d = c[0];
                    }
                }
            }
        }
    }

    /// Reads the interior of the scratch back into a plane (`h × w`): the transpose of
    /// [`Self::scatter`].
    #[inline(always)]
    pub(super) fn gather(&self, buf: &[f32], dst: &mut [f32]) {
        let (h, w) = (self.h, self.w);
        for iy in 0..h {
            let row = &mut dst[iy * w..(iy + 1) * w];
            for (at, ix0) in self.row_phases(iy) {
                let n = (w - ix0).div_ceil(self.s);
                let src = &buf[at..at + n];
                if self.s == 1 {
                    row.copy_from_slice(src);
                } else {
                    for (c, &v) in row[ix0..].chunks_mut(self.s).zip(src) {
                        c[0] = v;
                    }
                }
            }
        }
    }
}
