//! A coarse-grained workload with real data: a Mandelbrot image computed a row at a time.
//!
//! The source allocates each row's buffer ([`RowSpec::alloc`]: a `Vec<u32>` of `width`
//! pixels), a worker fills it with escape counts ([`RowSpec::render`]), the consumer reads it
//! and frees it ([`RowSink`]), usually on another thread than the one that allocated it. The
//! width is calibrated so that a row takes `target` of work on average on this machine
//! ([`RowSpec::calibrate`]); rows through the middle of the set take longer than rows near
//! the edges (up to several times), as in any real image.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// The image: its width and height in pixels and the iteration limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSpec {
    /// Pixels per row.
    pub width: usize,
    /// Rows in the image (the items of a run).
    pub height: u64,
    /// Iterations after which a pixel counts as inside the set.
    pub max_iter: u32,
}

/// One row on its way: which row, and its pixels (escape counts once rendered).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PixelRow {
    pub y: u64,
    pub pixels: Vec<u32>,
}

/// The region drawn: x in [-2.2, 1.0], y in [-1.2, 1.2].
const X0: f64 = -2.2;
const X1: f64 = 1.0;
const Y0: f64 = -1.2;
const Y1: f64 = 1.2;

/// The iteration limit of [`RowSpec::calibrate`].
pub const MAX_ITER: u32 = 256;

impl RowSpec {
    /// The row buffer the source hands out for row `y` (zeroed, `width` pixels).
    #[inline]
    pub fn alloc(&self, y: u64) -> PixelRow {
        PixelRow {
            y,
            pixels: vec![0; self.width],
        }
    }

    /// Fills `row` with each pixel's escape count (the worker's job).
    #[inline]
    pub fn render(&self, mut row: PixelRow) -> PixelRow {
        let ci = Y0 + (row.y as f64 + 0.5) * (Y1 - Y0) / self.height.max(1) as f64;
        let dx = (X1 - X0) / self.width.max(1) as f64;
        for (x, p) in row.pixels.iter_mut().enumerate() {
            *p = escape(X0 + (x as f64 + 0.5) * dx, ci, self.max_iter);
        }
        row
    }

    /// An image of `height` rows whose rows take about `target` each on average here: the
    /// cost of a pixel, averaged over the image, measured on a sample (the fastest of a few
    /// timed passes), and the width set to match. At least one pixel.
    pub fn calibrate(target: Duration, height: u64) -> RowSpec {
        const SAMPLE_WIDTH: usize = 256;
        const SAMPLE_ROWS: u64 = 48;
        let sample = RowSpec {
            width: SAMPLE_WIDTH,
            height: SAMPLE_ROWS,
            max_iter: MAX_ITER,
        };
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let start = Instant::now();
            for y in 0..SAMPLE_ROWS {
                black_box(sample.render(black_box(sample.alloc(y))));
            }
            best = best.min(start.elapsed().as_nanos() as f64);
        }
        let ns_per_pixel = best.max(1.0) / (SAMPLE_WIDTH as u64 * SAMPLE_ROWS) as f64;
        let width = (target.as_nanos() as f64 / ns_per_pixel).round().max(1.0);
        RowSpec {
            width: width as usize,
            height,
            max_iter: MAX_ITER,
        }
    }
}

/// Iterations until `z² + c` leaves the radius-2 disc, at most `max_iter`.
#[inline]
fn escape(cr: f64, ci: f64, max_iter: u32) -> u32 {
    let (mut zr, mut zi) = (0.0f64, 0.0f64);
    for i in 0..max_iter {
        let (zr2, zi2) = (zr * zr, zi * zi);
        if zr2 + zi2 > 4.0 {
            return i;
        }
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    max_iter
}

/// What the consumer saw: rows, a checksum over every pixel (each row's sum weighted by its
/// row number, so a row rendered as another's does not pass), and whether they came in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowTally {
    pub rows: u64,
    pub checksum: u64,
    /// Every row came right after its predecessor (0, 1, 2, …).
    pub in_order: bool,
}

/// The consumer's side: counts, sums and frees each row.
#[derive(Debug)]
pub struct RowSink {
    tally: RowTally,
}

impl Default for RowSink {
    fn default() -> Self {
        RowSink {
            tally: RowTally {
                rows: 0,
                checksum: 0,
                in_order: true,
            },
        }
    }
}

impl RowSink {
    /// Takes one row (and drops its buffer).
    #[inline]
    pub fn take(&mut self, row: PixelRow) {
        let sum = row.pixels.iter().fold(0u64, |s, &p| s + u64::from(p));
        let t = &mut self.tally;
        t.in_order &= row.y == t.rows;
        t.rows += 1;
        t.checksum = t
            .checksum
            .wrapping_add(sum.wrapping_mul(row.y.wrapping_mul(2).wrapping_add(1)));
    }

    /// Another sink's rows added to these (rayon's folds); the order is then unknown.
    pub fn merge(mut self, other: RowSink) -> RowSink {
        self.tally.rows += other.tally.rows;
        self.tally.checksum = self.tally.checksum.wrapping_add(other.tally.checksum);
        self.tally.in_order = false;
        self
    }

    pub fn tally(&self) -> RowTally {
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_the_set_and_calibration_sizes_them() {
        let spec = RowSpec {
            width: 64,
            height: 32,
            max_iter: MAX_ITER,
        };
        // The middle row crosses the set (max_iter pixels) and its outside (fast escapes).
        let mid = spec.render(spec.alloc(16));
        assert!(mid.pixels.contains(&MAX_ITER), "{:?}", mid.pixels);
        assert!(mid.pixels.iter().any(|&p| p < 3), "{:?}", mid.pixels);
        // The top row is outside the set: every pixel escapes.
        assert!(spec
            .render(spec.alloc(0))
            .pixels
            .iter()
            .all(|&p| p < MAX_ITER));
        let mut sink = RowSink::default();
        for y in 0..32 {
            sink.take(spec.render(spec.alloc(y)));
        }
        let t = sink.tally();
        assert_eq!(t.rows, 32);
        assert!(t.in_order && t.checksum > 0, "{t:?}");
        let c = RowSpec::calibrate(Duration::from_micros(40), 2048);
        assert!(c.width >= 1 && c.height == 2048, "{c:?}");
    }
}
