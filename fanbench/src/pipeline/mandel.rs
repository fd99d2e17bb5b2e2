//! RustStreamBench's micro-bench as a two-stage pipeline: a square Mandelbrot image, one item
//! per row, each pixel's iterations split over two unbalanced stages.
//!
//! The shape is GMAP/RustStreamBench's `micro-bench` (`<size> <iter1> <iter2>`): a `size` ×
//! `size` image of the region x ∈ [-2.125, 0.875), y ∈ [-1.5, 1.5); stage 1 runs the first
//! `iter1` iterations of every pixel of the row and keeps each pixel's state (z and the
//! iteration count), stage 2 runs up to `iter2` more for the pixels that have not escaped and
//! turns each count into a grey level (`255 - k·255/(iter1+iter2)`); the sink takes the rows
//! in order. With `iter1 > iter2` stage 1 has more work than stage 2 (rows far from the set
//! have almost none in stage 2). A run renders the image `frames` times over (one frame
//! takes only tens of milliseconds on one core), a row per item all the same.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::{OrderedSink, PipeTally, Stage, Tallier, Workload};

/// A micro-bench configuration: `rows` × `rows` pixels, `iter1` then `iter2` iterations, the
/// image `frames` times per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MandelConfig {
    pub rows: u64,
    pub iter1: u32,
    pub iter2: u32,
    pub frames: u64,
}

impl fmt::Display for MandelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}+{}", self.rows, self.iter1, self.iter2)?;
        if self.frames != 1 {
            write!(f, "x{}", self.frames)?;
        }
        Ok(())
    }
}

impl FromStr for MandelConfig {
    type Err = String;

    /// `ROWS:ITER1+ITER2` or `ROWS:ITER1+ITER2xFRAMES`, e.g. `2048:20+10x4`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}`: expected ROWS:ITER1+ITER2[xFRAMES], e.g. 2048:20+10x4");
        let (rows, iters) = s.trim().split_once(':').ok_or_else(bad)?;
        let (i1, rest) = iters.split_once('+').ok_or_else(bad)?;
        let (i2, frames) = rest.split_once('x').unwrap_or((rest, "1"));
        let c = MandelConfig {
            rows: rows.trim().parse().map_err(|_| bad())?,
            iter1: i1.trim().parse().map_err(|_| bad())?,
            iter2: i2.trim().parse().map_err(|_| bad())?,
            frames: frames.trim().parse().map_err(|_| bad())?,
        };
        if c.rows == 0 || c.iter1 == 0 || c.frames == 0 {
            return Err(format!("`{s}`: ROWS, ITER1 and FRAMES must be at least 1"));
        }
        Ok(c)
    }
}

/// The workload: [`MandelConfig`]'s image, a row per item.
#[derive(Clone, Copy, Debug)]
pub struct Mandel {
    pub config: MandelConfig,
}

/// One row on its way: the item's index and which row it is, each pixel's state after stage
/// 1, the grey levels after stage 2 (stage 2 frees the state).
#[derive(Clone, Debug, Default)]
pub struct MandelRow {
    pub index: u64,
    pub y: u64,
    zr: Vec<f64>,
    zi: Vec<f64>,
    /// Iterations done; `iter1` after stage 1 means "not escaped yet".
    k: Vec<u32>,
    pub pixels: Vec<u8>,
}

const X0: f64 = -2.125;
const Y0: f64 = -1.5;
const RANGE: f64 = 3.0;

impl Mandel {
    pub fn new(config: MandelConfig) -> Self {
        Mandel { config }
    }

    fn width(&self) -> usize {
        usize::try_from(self.config.rows).expect("rows fit in usize")
    }

    fn step(&self) -> f64 {
        RANGE / self.config.rows as f64
    }

    /// Stage 1: the first `iter1` iterations of every pixel of the row.
    pub fn first(&self, mut row: MandelRow) -> MandelRow {
        let (w, step, n) = (self.width(), self.step(), self.config.iter1);
        let ci = Y0 + step * row.y as f64;
        row.zr = Vec::with_capacity(w);
        row.zi = Vec::with_capacity(w);
        row.k = Vec::with_capacity(w);
        for x in 0..w {
            let cr = X0 + step * x as f64;
            let (k, zr, zi) = iterate(cr, ci, 0.0, 0.0, 0, n);
            row.zr.push(zr);
            row.zi.push(zi);
            row.k.push(k);
        }
        row
    }

    /// Stage 2: up to `iter2` more iterations for the pixels still inside after stage 1, then
    /// each pixel's grey level; the state is freed.
    pub fn second(&self, mut row: MandelRow) -> MandelRow {
        let (step, n1) = (self.step(), self.config.iter1);
        let total = n1 + self.config.iter2;
        let ci = Y0 + step * row.y as f64;
        row.pixels = Vec::with_capacity(row.k.len());
        for x in 0..row.k.len() {
            let mut k = row.k[x];
            if k == n1 {
                let cr = X0 + step * x as f64;
                k = iterate(cr, ci, row.zr[x], row.zi[x], n1, total).0;
            }
            row.pixels.push(grey(k, total));
        }
        row.zr = Vec::new();
        row.zi = Vec::new();
        row.k = Vec::new();
        row
    }

    /// The row in one pass, all `iter1 + iter2` iterations (the tests' reference).
    pub fn whole(&self, y: u64) -> Vec<u8> {
        let (w, step) = (self.width(), self.step());
        let total = self.config.iter1 + self.config.iter2;
        let ci = Y0 + step * y as f64;
        (0..w)
            .map(|x| {
                grey(
                    iterate(X0 + step * x as f64, ci, 0.0, 0.0, 0, total).0,
                    total,
                )
            })
            .collect()
    }
}

/// `z ← z² + c` from iteration `from` (state `z`) until it leaves the radius-2 disc or
/// iteration `to`: (iterations done, z).
#[inline]
fn iterate(cr: f64, ci: f64, mut zr: f64, mut zi: f64, from: u32, to: u32) -> (u32, f64, f64) {
    for i in from..to {
        let (zr2, zi2) = (zr * zr, zi * zi);
        if zr2 + zi2 > 4.0 {
            return (i, zr, zi);
        }
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    (to, zr, zi)
}

#[inline]
fn grey(k: u32, total: u32) -> u8 {
    (255 - u64::from(k) * 255 / u64::from(total.max(1))) as u8
}

impl Workload for Mandel {
    type Item = MandelRow;
    type Sink = MandelSink;

    fn label(&self) -> String {
        format!("mandelbrot {}", self.config)
    }

    fn describe(&self) -> String {
        let c = self.config;
        format!(
            "{} rows of {} pixels (RustStreamBench's micro-bench){}; stage 1: the first {} \
             iterations of each pixel, stage 2: up to {} more and the grey level; the sink \
             sums each row",
            c.rows,
            c.rows,
            if c.frames > 1 {
                format!(", the image {} times", c.frames)
            } else {
                String::new()
            },
            c.iter1,
            c.iter2
        )
    }

    fn items(&self) -> u64 {
        self.config.rows * self.config.frames
    }

    fn make(&self, index: u64) -> MandelRow {
        MandelRow {
            index,
            y: index % self.config.rows,
            ..MandelRow::default()
        }
    }

    fn stages(&self) -> Vec<Stage<MandelRow>> {
        let (a, b) = (*self, *self);
        vec![
            Arc::new(move |r| a.first(r)),
            Arc::new(move |r| b.second(r)),
        ]
    }

    fn sink(&self) -> MandelSink {
        MandelSink {
            tally: Tallier::default(),
            width: self.width(),
        }
    }
}

/// Sums each row's grey levels; a row of the wrong width counts as wrong.
#[derive(Debug)]
pub struct MandelSink {
    tally: Tallier,
    width: usize,
}

impl OrderedSink<MandelRow> for MandelSink {
    #[inline]
    fn take(&mut self, row: MandelRow) {
        let sum = row.pixels.iter().fold(0u64, |s, &p| s + u64::from(p));
        let ok = row.pixels.len() == self.width;
        self.tally
            .add(row.index, if ok { sum ^ (row.y << 40) } else { u64::MAX });
    }

    fn tally(&self) -> PipeTally {
        self.tally.tally()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_stages_give_the_one_pass_image() {
        let m = Mandel::new("64:7+5x2".parse().unwrap());
        let stages = m.stages();
        let mut sink = m.sink();
        let mut inside = 0;
        for y in 0..m.items() {
            let row = stages.iter().fold(m.make(y), |r, s| s(r));
            assert_eq!(row.pixels, m.whole(y % 64), "item {y}");
            inside += row.pixels.iter().filter(|&&p| p == 0).count();
            sink.take(row);
        }
        // Some pixels never escape (grey 0), most do.
        assert!(inside > 0 && inside < 2 * 64 * 64 / 2, "{inside}");
        let t = sink.tally();
        assert!(t.in_order && t.items == 2 * 64, "{t:?}");
    }

    #[test]
    fn configs_parse_and_print() {
        let c: MandelConfig = " 2048:20+10".parse().unwrap();
        assert_eq!((c.rows, c.iter1, c.iter2, c.frames), (2048, 20, 10, 1));
        assert_eq!(c.to_string(), "2048:20+10");
        let c: MandelConfig = "1024:200+100x3".parse().unwrap();
        assert_eq!((c.rows, c.iter1, c.iter2, c.frames), (1024, 200, 100, 3));
        assert_eq!(c.to_string(), "1024:200+100x3");
        for bad in [
            "2048", "2048:20", "0:1+1", "x:1+2", "16:0+3", "16:1+2x0", "16:1+2x",
        ] {
            assert!(bad.parse::<MandelConfig>().is_err(), "{bad}");
        }
    }
}
