//! Five image filters in a row, one stage each, over generated images (no files): saturation,
//! emboss, gamma, sharpen, grayscale; the sink takes the grey images in order.
//!
//! Emboss and sharpen are the `image` crate's `imageops::filter3x3` with the usual kernels,
//! grayscale its `imageops::grayscale`; the crate has no saturation or gamma, so those two are
//! written per pixel (saturation: each channel pushed away from the pixel's luma by a factor;
//! gamma: a 256-entry table built once, as one would). The source clones one of a few
//! generated RGB images and stamps the item's index into its first pixels, so every item
//! differs.

use std::sync::Arc;

use image::{imageops, GrayImage, Rgb, RgbImage};

use super::{mix, OrderedSink, PipeTally, Rng, Stage, Tallier, Workload};

/// Distinct generated images the source clones from.
const BASES: usize = 4;

/// Saturation factor (1 = unchanged).
pub const SATURATION: f32 = 1.4;
/// The gamma applied (`out = in^(1/GAMMA)` on [0, 1]).
pub const GAMMA: f32 = 1.6;
pub const EMBOSS: [f32; 9] = [-2.0, -1.0, 0.0, -1.0, 1.0, 1.0, 0.0, 1.0, 2.0];
pub const SHARPEN: [f32; 9] = [0.0, -1.0, 0.0, -1.0, 5.0, -1.0, 0.0, -1.0, 0.0];

/// The workload: `images` images of `width` × `height` pixels.
#[derive(Debug)]
pub struct Filters {
    pub images: u64,
    pub width: u32,
    pub height: u32,
    bases: Vec<RgbImage>,
    gamma: [u8; 256],
}

/// One image on its way: its index, the colour image (filtered in place or replaced by each
/// stage), and the grey image the last stage makes (empty until then; the colour image is
/// freed there).
#[derive(Clone, Debug)]
pub struct Frame {
    pub index: u64,
    pub rgb: RgbImage,
    pub gray: GrayImage,
}

impl Filters {
    /// Generates the source's images: smooth gradients, rings and noise, so every filter has
    /// edges and colour to work on.
    pub fn new(images: u64, width: u32, height: u32) -> Self {
        assert!(width >= 3 && height >= 3, "at least 3×3 pixels");
        let bases = (0..BASES as u64)
            .map(|b| {
                let mut rng = Rng::new(b + 1);
                let (cx, cy) = (
                    rng.below(u64::from(width)) as f32,
                    rng.below(u64::from(height)) as f32,
                );
                RgbImage::from_fn(width, height, |x, y| {
                    let (fx, fy) = (x as f32, y as f32);
                    let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
                    let noise = rng.below(32) as f32;
                    Rgb([
                        (255.0 * fx / width as f32) as u8,
                        (127.0 + 100.0 * (d / 6.0).sin() + noise) as u8,
                        (255.0 * fy / height as f32 * 0.7 + noise) as u8,
                    ])
                })
            })
            .collect();
        let mut gamma = [0u8; 256];
        for (v, g) in gamma.iter_mut().enumerate() {
            *g = (255.0 * (v as f32 / 255.0).powf(1.0 / GAMMA)).round() as u8;
        }
        Filters {
            images,
            width,
            height,
            bases,
            gamma,
        }
    }
}

/// Each channel pushed away from the pixel's luma by `factor`, in place.
pub fn saturate(img: &mut RgbImage, factor: f32) {
    for p in img.pixels_mut() {
        let [r, g, b] = p.0.map(f32::from);
        let l = 0.299 * r + 0.587 * g + 0.114 * b;
        p.0 = [r, g, b].map(|c| (l + (c - l) * factor).clamp(0.0, 255.0) as u8);
    }
}

/// Every channel through a 256-entry table, in place.
pub fn apply_table(img: &mut RgbImage, table: &[u8; 256]) {
    for c in img.iter_mut() {
        *c = table[usize::from(*c)];
    }
}

impl Workload for Filters {
    type Item = Frame;
    type Sink = FilterSink;

    fn label(&self) -> String {
        format!("image {}x{}", self.width, self.height)
    }

    fn describe(&self) -> String {
        format!(
            "{} generated RGB images of {}×{} pixels; five stages: saturation ×{SATURATION} \
             (per pixel), emboss (imageops::filter3x3), gamma {GAMMA} (a table), sharpen \
             (filter3x3), grayscale (imageops::grayscale); the sink sums each grey image",
            self.images, self.width, self.height
        )
    }

    fn items(&self) -> u64 {
        self.images
    }

    fn make(&self, index: u64) -> Frame {
        let mut rgb = self.bases[(index % BASES as u64) as usize].clone();
        let stamp = mix(index).to_le_bytes();
        rgb.iter_mut().zip(stamp).for_each(|(c, s)| *c = s);
        Frame {
            index,
            rgb,
            gray: GrayImage::new(0, 0),
        }
    }

    fn stages(&self) -> Vec<Stage<Frame>> {
        let gamma = self.gamma;
        vec![
            Arc::new(|mut f: Frame| {
                saturate(&mut f.rgb, SATURATION);
                f
            }),
            Arc::new(|mut f: Frame| {
                f.rgb = imageops::filter3x3(&f.rgb, &EMBOSS);
                f
            }),
            Arc::new(move |mut f: Frame| {
                apply_table(&mut f.rgb, &gamma);
                f
            }),
            Arc::new(|mut f: Frame| {
                f.rgb = imageops::filter3x3(&f.rgb, &SHARPEN);
                f
            }),
            Arc::new(|mut f: Frame| {
                f.gray = imageops::grayscale(&f.rgb);
                f.rgb = RgbImage::new(0, 0);
                f
            }),
        ]
    }

    fn sink(&self) -> FilterSink {
        FilterSink {
            tally: Tallier::default(),
            pixels: u64::from(self.width) * u64::from(self.height),
        }
    }
}

/// Hashes each grey image; an image of the wrong size counts as wrong.
#[derive(Debug)]
pub struct FilterSink {
    tally: Tallier,
    pixels: u64,
}

impl OrderedSink<Frame> for FilterSink {
    #[inline]
    fn take(&mut self, f: Frame) {
        let g = f.gray.as_raw();
        let ok = g.len() as u64 == self.pixels;
        let h = g
            .chunks(8)
            .fold(0u64, |h, c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                h.rotate_left(5) ^ u64::from_le_bytes(w)
            })
            .wrapping_add(g.iter().map(|&p| u64::from(p)).sum::<u64>() << 32);
        self.tally.add(f.index, if ok { h } else { u64::MAX });
    }

    fn tally(&self) -> PipeTally {
        self.tally.tally()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_changes_the_image_and_the_result_is_grey() {
        let w = Filters::new(6, 40, 30);
        let stages = w.stages();
        let f = w.make(5);
        let mut prev = f.rgb.clone();
        let mut x = f;
        for (k, s) in stages.iter().enumerate().take(4) {
            x = s(x);
            assert_ne!(x.rgb, prev, "stage {k} changed nothing");
            prev = x.rgb.clone();
        }
        let last = stages[4](x);
        assert_eq!(last.gray.dimensions(), (40, 30));
        assert!(last.rgb.is_empty());
        // Two items of the same base differ (the stamp).
        assert_ne!(w.make(1).rgb, w.make(1 + BASES as u64).rgb);
        let mut sink = w.sink();
        for i in 0..6 {
            sink.take(stages.iter().fold(w.make(i), |x, s| s(x)));
        }
        assert!(sink.tally().in_order);
    }
}
