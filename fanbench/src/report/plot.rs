//! Throughput against workers and latency against the offered rate as SVG (`--plot`).
//!
//! Both drawings have a title and a line saying how to read them on top, panels in the middle
//! and the legend below the panels, never over the data. Throughput: one panel per work size
//! (or, with a single worker count and several work sizes, one panel against the work size),
//! one line per configuration (fanring: mode/dispatch/order and batch; a peer: its name), each
//! in its own colour in every panel; fanring solid with dots, peers dashed with squares.
//! Latency: a p50 panel, a p99 panel and a CPU-per-item panel, one line per configuration
//! and worker count, the offered rate on a log axis labelled at the measured rates.

use std::collections::BTreeSet;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::summary::{is_fanring, row_name};
use crate::report::table::fmt_rate;
use crate::report::{LatRow, Machine, PipelineRow, Row};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type PlotResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// fanring's lines: strong colours.
const OURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(227, 119, 194),
    RGBColor(140, 86, 75),
];

/// The peers' lines (dashed): greys and earth tones, unlike fanring's.
const PEERS: [RGBColor; 11] = [
    RGBColor(110, 110, 110),
    RGBColor(170, 170, 20),
    RGBColor(0, 100, 100),
    RGBColor(160, 70, 0),
    RGBColor(90, 90, 200),
    RGBColor(30, 30, 30),
    RGBColor(200, 150, 0),
    RGBColor(110, 0, 110),
    RGBColor(0, 140, 70),
    RGBColor(170, 170, 170),
    RGBColor(120, 80, 40),
];

/// At most this many fanring configurations are drawn (the fastest; every row is in the
/// CSV and JSON).
pub const MAX_FANRING_LINES: usize = 8;

/// A line of the legend: what it stands for, its colour and whether it is fanring's.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub color: RGBColor,
    pub ours: bool,
}

/// The throughput lines, fanring's configurations first: one per configuration, whatever the
/// worker count and work size (those are the x axis and the panels), then the other rows
/// (`fanring-stream` and `fanring-blocking`, drawn as fanring's, and the peers). With more
/// than [`MAX_FANRING_LINES`] fanring configurations, the fastest on average (each row's
/// throughput over the best fanring row of its worker count and work size) are kept. Returns
/// the lines and how many fanring configurations there were in all.
pub fn series(rows: &[Row]) -> (Vec<Series>, usize) {
    let batches: BTreeSet<usize> = rows.iter().filter_map(|r| r.batch).collect();
    let label = |r: &Row| row_name(r, batches.len() > 1);
    let mut ours: Vec<(String, f64, usize)> = Vec::new();
    let mut others: Vec<(String, bool)> = Vec::new();
    for r in rows {
        let l = label(r);
        if r.implementation == "fanring" {
            let best = rows
                .iter()
                .filter(|q| {
                    q.implementation == "fanring"
                        && q.workers == r.workers
                        && q.work_ns == r.work_ns
                })
                .map(|q| q.mitems_per_s)
                .fold(f64::MIN_POSITIVE, f64::max);
            let score = r.mitems_per_s / best;
            match ours.iter_mut().find(|o| o.0 == l) {
                Some(o) => {
                    o.1 += score;
                    o.2 += 1;
                }
                None => ours.push((l, score, 1)),
            }
        } else if !others.iter().any(|o| o.0 == l) {
            others.push((l, is_fanring(&r.implementation)));
        }
    }
    let total = ours.len();
    if total > MAX_FANRING_LINES {
        let mut ranked: Vec<(usize, f64)> = ours
            .iter()
            .enumerate()
            .map(|(i, o)| (i, o.1 / o.2 as f64))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let keep: BTreeSet<usize> = ranked.iter().take(MAX_FANRING_LINES).map(|r| r.0).collect();
        ours = ours
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, o)| o)
            .collect();
    }
    let lines = ours
        .into_iter()
        .map(|o| (o.0, true))
        .chain(others)
        .collect();
    (colored(lines), total)
}

/// Colours for (label, fanring's) lines, in order: fanring's from [`OURS`], the peers' from
/// [`PEERS`].
fn colored(lines: Vec<(String, bool)>) -> Vec<Series> {
    let (mut n_ours, mut n_peers) = (0, 0);
    lines
        .into_iter()
        .map(|(label, ours)| {
            let color = if ours {
                n_ours += 1;
                OURS[(n_ours - 1) % OURS.len()]
            } else {
                n_peers += 1;
                PEERS[(n_peers - 1) % PEERS.len()]
            };
            Series { label, color, ours }
        })
        .collect()
}

/// A tick label with two significant digits, no trailing zeros: `500`, `1.5`, `5`, `0.7`.
pub fn fmt_tick(v: f64) -> String {
    let s = if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Round values between `lo` and `hi` for a log axis: 1-2-5 per decade (1-1.5-2-3-5-7 when
/// that gives fewer than four, powers of ten when it gives more than twelve).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let mut v = Vec::new();
        for d in d0..=d1 {
            for &m in mantissas {
                // Divided for negative powers: 7 / 10 is 0.7, 7 * 0.1 is not.
                let x = if d >= 0 {
                    m * 10f64.powi(d)
                } else {
                    m / 10f64.powi(-d)
                };
                if x >= lo && x <= hi {
                    v.push(x);
                }
            }
        }
        v
    };
    let v = within(&[1.0, 2.0, 5.0]);
    if v.len() < 4 {
        within(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0])
    } else if v.len() > 12 {
        within(&[1.0])
    } else {
        v
    }
}

/// (lowest, highest) of positive values, or `None`.
fn span(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    v.filter(|x| x.is_finite() && *x > 0.0)
        .fold(None, |acc, x| match acc {
            None => Some((x, x)),
            Some((a, b)) => Some((f64::min(a, x), f64::max(b, x))),
        })
}

fn text_style(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, v))
}

/// The height of a title with `notes` lines of explanation.
fn title_height(notes: usize) -> u32 {
    44 + 20 * notes as u32
}

/// The title and its lines of explanation, centred.
fn draw_title(area: &Area<'_>, title: &str, notes: &[&str]) -> PlotResult {
    let (w, _) = area.dim_in_pixel();
    let x = i32::try_from(w / 2)?;
    area.draw(&Text::new(
        title.to_string(),
        (x, 10),
        text_style(20, HPos::Center, VPos::Top),
    ))?;
    for (i, note) in notes.iter().enumerate() {
        area.draw(&Text::new(
            (*note).to_string(),
            (x, 38 + 20 * i32::try_from(i)?),
            text_style(14, HPos::Center, VPos::Top),
        ))?;
    }
    Ok(())
}

/// A short sample of a line (solid, or dashed) with its marker, at `(x, y)` (centre left).
fn draw_sample(area: &Area<'_>, x: i32, y: i32, color: RGBColor, dashed: bool) -> PlotResult {
    let style = color.stroke_width(2);
    if dashed {
        for k in 0..3 {
            let x0 = x + k * 11;
            area.draw(&PathElement::new(vec![(x0, y), (x0 + 6, y)], style))?;
        }
        area.draw(&Rectangle::new([(x + 11, y - 3), (x + 17, y + 3)], style))?;
    } else {
        area.draw(&PathElement::new(vec![(x, y), (x + 28, y)], style))?;
        area.draw(&Circle::new((x + 14, y), 3, color.filled()))?;
    }
    Ok(())
}

/// A legend entry's text: the line's label, `(peer)` after a peer's.
fn legend_label(s: &Series) -> String {
    if s.ours {
        s.label.clone()
    } else if s.label == crate::report::pipeline::PLAIN {
        // The pipeline plot's reference lines.
        "plain loop (one thread, the ratio base)".to_string()
    } else if s.label == crate::report::pipeline::PER_CORE {
        "plain loop per core (no hand-off)".to_string()
    } else {
        format!("{} (peer)", s.label)
    }
}

/// The legend's columns for `width` pixels: (columns, rows, column width).
fn legend_grid(series: &[Series], width: u32) -> (usize, usize, u32) {
    let longest = series
        .iter()
        .map(|s| legend_label(s).chars().count())
        .max()
        .unwrap_or(10);
    let col_w = (40 + 7 * u32::try_from(longest).unwrap_or(40)).max(150);
    let cols = (width.saturating_sub(40) / col_w).clamp(1, 6) as usize;
    (cols, series.len().div_ceil(cols), col_w)
}

/// The legend's height: `heading` lines, then the entries.
fn legend_height(series: &[Series], width: u32, heading: usize) -> u32 {
    let (_, rows, _) = legend_grid(series, width);
    let (heading, rows) = (u32::try_from(heading), u32::try_from(rows));
    14 + 16 * heading.unwrap_or(0) + 22 * rows.unwrap_or(0)
}

/// The legend under the panels: heading lines, then each line's sample and label in columns.
fn draw_legend(area: &Area<'_>, heading: &[String], series: &[Series]) -> PlotResult {
    let (w, _) = area.dim_in_pixel();
    let (cols, _, col_w) = legend_grid(series, w);
    let total_w = i32::try_from(col_w * u32::try_from(cols)?)?;
    let x0 = (i32::try_from(w)? - total_w).max(0) / 2;
    for (k, line) in heading.iter().enumerate() {
        area.draw(&Text::new(
            line.clone(),
            (x0, 4 + 16 * i32::try_from(k)?),
            text_style(13, HPos::Left, VPos::Top),
        ))?;
    }
    let top = 4 + 16 * i32::try_from(heading.len())? + 12;
    for (i, s) in series.iter().enumerate() {
        let (row, col) = (i / cols, i % cols);
        let x = x0 + i32::try_from(col)? * i32::try_from(col_w)?;
        let y = top + 22 * i32::try_from(row)?;
        draw_sample(area, x, y, s.color, !s.ours)?;
        area.draw(&Text::new(
            legend_label(s),
            (x + 36, y),
            text_style(13, HPos::Left, VPos::Center),
        ))?;
    }
    Ok(())
}

/// One panel's x axis: tick positions (in tenths: an integer axis, so the ticks are exactly
/// where given) and their labels.
struct XAxis {
    desc: String,
    ticks: Vec<(i32, String)>,
}

/// A line in one panel: its series and (x in tenths, y) points.
type PanelLine = (usize, Vec<(i32, f64)>);

/// One throughput panel: log y, linear x with labelled ticks only where given.
fn draw_throughput_panel(
    area: &Area<'_>,
    title: &str,
    y_desc: &str,
    x: &XAxis,
    lines: &[PanelLine],
    series: &[Series],
) -> PlotResult {
    let Some((y_lo, y_hi)) = span(lines.iter().flat_map(|l| l.1.iter().map(|p| p.1))) else {
        return Ok(());
    };
    let (x_lo, x_hi) = x
        .ticks
        .iter()
        .fold((i32::MAX, i32::MIN), |(a, b), t| (a.min(t.0), b.max(t.0)));
    let pad = ((x_hi - x_lo) / 12).max(3);
    let (y_lo, y_hi) = (y_lo / 1.3, y_hi * 1.3);
    let y_ticks = log_ticks(y_lo, y_hi);
    let x_ticks: Vec<i32> = x.ticks.iter().map(|t| t.0).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            ((x_lo - pad)..(x_hi + pad)).with_key_points(x_ticks),
            (y_lo..y_hi).log_scale().with_key_points(y_ticks),
        )?;
    let labels = &x.ticks;
    chart
        .configure_mesh()
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(WHITE)
        .x_desc(x.desc.as_str())
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 13))
        .x_label_formatter(&|v| {
            labels
                .iter()
                .find(|t| t.0 == *v)
                .map_or(String::new(), |t| t.1.clone())
        })
        .y_label_formatter(&|y| fmt_tick(*y))
        .draw()?;
    for (i, pts) in lines {
        let s = &series[*i];
        let style = s.color.stroke_width(2);
        if s.ours {
            chart.draw_series(LineSeries::new(pts.clone(), style))?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, s.color.filled())))?;
        } else {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 7, 5, style))?;
            chart.draw_series(pts.iter().map(|&p| {
                EmptyElement::at(p) + Rectangle::new([(-3, -3), (3, 3)], s.color.stroke_width(2))
            }))?;
        }
    }
    Ok(())
}

/// A count as a position on the integer x axis, in tenths.
fn tenths(n: usize) -> i32 {
    i32::try_from(n).map_or(i32::MAX, |v| v.saturating_mul(10))
}

/// Throughput by worker count: one panel per work size, one line per configuration. With a
/// single worker count and several work sizes: one panel against the work size instead.
pub fn write_plot(path: &Path, rows: &[Row], m: &Machine) -> PlotResult {
    let (series, fanring_total) = series(rows);
    let batches: BTreeSet<usize> = rows.iter().filter_map(|r| r.batch).collect();
    let index_of = |r: &Row| {
        let l = row_name(r, batches.len() > 1);
        series.iter().position(|s| s.label == l)
    };
    let workers: Vec<usize> = rows
        .iter()
        .map(|r| r.workers)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let works: Vec<u64> = rows
        .iter()
        .map(|r| r.work_ns)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // (title, x axis, lines)
    let mut panels: Vec<(String, XAxis, Vec<PanelLine>)> = Vec::new();
    let lines_of = |rows: &[&Row], x: &dyn Fn(&Row) -> i32| -> Vec<PanelLine> {
        let mut lines: Vec<PanelLine> = Vec::new();
        for r in rows {
            let Some(i) = index_of(r) else { continue };
            let p = (x(r), r.mitems_per_s);
            match lines.iter_mut().find(|l| l.0 == i) {
                Some(l) => l.1.push(p),
                None => lines.push((i, vec![p])),
            }
        }
        for l in &mut lines {
            l.1.sort_by_key(|p| p.0);
        }
        lines.sort_by_key(|l| l.0);
        lines
    };
    let by_work = workers.len() == 1 && works.len() > 1;
    if by_work {
        let pos = |ns: u64| works.iter().position(|&w| w == ns).map_or(0, tenths);
        let all: Vec<&Row> = rows.iter().collect();
        panels.push((
            format!("W = {} workers", workers[0]),
            XAxis {
                desc: "busy work per item, ns (the sizes measured)".into(),
                ticks: works.iter().map(|&w| (pos(w), w.to_string())).collect(),
            },
            lines_of(&all, &|r| pos(r.work_ns)),
        ));
    } else {
        for &w in &works {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.work_ns == w).collect();
            let title = if w == 0 {
                "0 ns of work per item (a multiply)".to_string()
            } else {
                format!("{w} ns of work per item")
            };
            panels.push((
                title,
                XAxis {
                    desc: "workers (W)".into(),
                    ticks: workers
                        .iter()
                        .map(|&k| (tenths(k), k.to_string()))
                        .collect(),
                },
                lines_of(&mine, &|r| tenths(r.workers)),
            ));
        }
    }

    let cols = match panels.len() {
        0 | 1 => 1,
        2 | 4 => 2,
        _ => 3,
    };
    let panel_rows = panels.len().div_ceil(cols).max(1);
    let width: u32 = if cols == 1 { 1000 } else { 1200 };
    let dispatch: Vec<&str> = [
        ("rr", "rr = round-robin"),
        ("least", "least = least loaded"),
        ("key", "key = by a hash of the item"),
    ]
    .into_iter()
    .filter(|(d, _)| {
        rows.iter()
            .any(|r| r.implementation == "fanring" && r.dispatch == *d)
    })
    .map(|(_, words)| words)
    .collect();
    let heading = [
        "mode: drive = the caller's thread distributes and merges, thread = a distributor \
         thread drains the source"
            .to_string(),
        format!(
            "dispatch: {}; order: any, or preserve (input order)",
            dispatch.join(", ")
        ),
    ];
    let legend_h = legend_height(&series, width, heading.len());
    let shown = (fanring_total > MAX_FANRING_LINES).then(|| {
        format!(
            "the {MAX_FANRING_LINES} fastest of {fanring_total} fanring configurations are drawn \
             (every row is in --csv and --json)"
        )
    });
    let mut notes = vec![
        "fanring configurations (mode/dispatch/order): solid lines, dots; peers: dashed lines, \
         squares",
    ];
    notes.extend(shown.as_deref());
    let title_h = title_height(notes.len());
    let panel_h: u32 = if panel_rows == 1 { 520 } else { 420 };
    let height = title_h + panel_h * panel_rows as u32 + legend_h;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(title_h);
    let (plots, legend) = rest.split_vertically(panel_h * panel_rows as u32);
    draw_title(
        &top,
        &format!(
            "Throughput by {}, higher is better ({}, {})",
            if by_work { "work size" } else { "worker count" },
            crate::report::table::cores_in_words(m.cores),
            m.cpu_model.as_deref().unwrap_or("unknown CPU")
        ),
        &notes,
    )?;
    for (area, (title, x, lines)) in plots.split_evenly((panel_rows, cols)).iter().zip(&panels) {
        draw_throughput_panel(
            area,
            title,
            "million items/s (log scale)",
            x,
            lines,
            &series,
        )?;
    }
    draw_legend(&legend, &heading, &series)?;
    root.present()?;
    Ok(())
}

/// The pipeline table: one panel per workload, items/s against the worker count (threads
/// per stage), one line per implementation; the plain loop (one thread whatever W) is drawn
/// flat across the panel, the reference the other lines climb from.
pub fn write_pipeline_plot(path: &Path, rows: &[PipelineRow], m: &Machine) -> PlotResult {
    let mut labels: Vec<(String, bool)> = Vec::new();
    for r in rows {
        if !labels.iter().any(|l| l.0 == r.implementation) {
            labels.push((
                r.implementation.clone(),
                r.implementation.starts_with("fanring"),
            ));
        }
    }
    // fanring's lines first, so they take the first colours.
    labels.sort_by_key(|l| !l.1);
    let series = colored(labels);
    let workers: Vec<usize> = rows
        .iter()
        .filter(|r| !crate::report::pipeline::is_reference(r))
        .map(|r| r.workers)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut workloads: Vec<&str> = Vec::new();
    for r in rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    let panels: Vec<(String, Vec<PanelLine>)> = workloads
        .iter()
        .map(|&w| {
            let mut lines: Vec<PanelLine> = Vec::new();
            let mut stages = 0;
            for r in rows.iter().filter(|r| r.workload == w) {
                stages = r.stages;
                let Some(i) = series.iter().position(|s| s.label == r.implementation) else {
                    continue;
                };
                let y = r.items_per_s / 1e3;
                let pts: Vec<(i32, f64)> = if crate::report::pipeline::is_reference(r) {
                    workers.iter().map(|&k| (tenths(k), y)).collect()
                } else {
                    vec![(tenths(r.workers), y)]
                };
                match lines.iter_mut().find(|l| l.0 == i) {
                    Some(l) => l.1.extend(pts),
                    None => lines.push((i, pts)),
                }
            }
            for l in &mut lines {
                l.1.sort_by_key(|p| p.0);
            }
            lines.sort_by_key(|l| l.0);
            (format!("{w} ({stages} stages)"), lines)
        })
        .collect();
    let x = XAxis {
        desc: "threads per stage (W)".into(),
        ticks: workers
            .iter()
            .map(|&k| (tenths(k), k.to_string()))
            .collect(),
    };
    let cols = match panels.len() {
        0 | 1 => 1,
        2 | 4 => 2,
        _ => 3,
    };
    let panel_rows = panels.len().div_ceil(cols).max(1);
    let width: u32 = if cols == 1 { 1000 } else { 1200 };
    let heading = [
        "W = threads (workers, tasks) per stage; flat lines: the plain loop (every stage on \
         one thread) and the plain loop per core (one on each core at once)"
            .to_string(),
    ];
    let legend_h = legend_height(&series, width, heading.len());
    let notes = [
        "items/s (median of the interleaved rounds) of each multi-stage workload, the sink \
         taking the items in order",
        "fanring rows: solid lines, dots; peers: dashed lines, squares",
    ];
    let title_h = title_height(notes.len());
    let panel_h: u32 = if panel_rows == 1 { 520 } else { 420 };
    let height = title_h + panel_h * panel_rows as u32 + legend_h;
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(title_h);
    let (plots, legend) = rest.split_vertically(panel_h * panel_rows as u32);
    draw_title(
        &top,
        &format!(
            "Pipelines: throughput by threads per stage, higher is better ({}, {})",
            crate::report::table::cores_in_words(m.cores),
            m.cpu_model.as_deref().unwrap_or("unknown CPU")
        ),
        &notes,
    )?;
    for (area, (title, lines)) in plots.split_evenly((panel_rows, cols)).iter().zip(&panels) {
        draw_throughput_panel(
            area,
            title,
            "thousand items/s (log scale)",
            &x,
            lines,
            &series,
        )?;
    }
    draw_legend(&legend, &heading, &series)?;
    root.present()?;
    Ok(())
}

/// Where each offered rate's label goes: every distinct rate (by its label), left to right, in
/// the first of `rows` rows where it does not overlap the label before it (`None`: no room
/// in any row, the tick stays unlabelled). `px` maps a rate to its x pixel.
fn stagger(
    rates: &[f64],
    px: impl Fn(f64) -> i32,
    width: i32,
    rows: usize,
) -> Vec<(f64, Option<usize>)> {
    let mut v: Vec<f64> = rates.to_vec();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| fmt_rate(*a) == fmt_rate(*b));
    // The right edge of the last label in each row.
    let mut ends: Vec<i32> = vec![i32::MIN; rows];
    v.into_iter()
        .map(|r| {
            let x = px(r);
            let row = ends.iter().position(|&e| x - width / 2 > e + 4);
            if let Some(k) = row {
                ends[k] = x + width / 2;
            }
            (r, row)
        })
        .collect()
}

/// One panel by offered rate (p50, p99 or CPU per item): log x with a tick and a label at each measured rate
/// (staggered over three rows where they crowd), log y.
fn draw_latency_panel(
    area: &Area<'_>,
    title: &str,
    y_desc: &str,
    lines: &[(usize, Vec<(f64, f64)>)],
    series: &[Series],
    rates: &[f64],
) -> PlotResult {
    let Some((x_lo, x_hi)) = span(rates.iter().copied()) else {
        return Ok(());
    };
    let Some((y_lo, y_hi)) = span(lines.iter().flat_map(|l| l.1.iter().map(|p| p.1))) else {
        return Ok(());
    };
    let (x_lo, x_hi) = (x_lo / 1.6, x_hi * 1.6);
    let (y_lo, y_hi) = (y_lo / 1.4, y_hi * 1.4);
    let mut every: Vec<f64> = rates.to_vec();
    every.sort_by(f64::total_cmp);
    every.dedup();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(72)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x_lo..x_hi).log_scale().with_key_points(every.clone()),
            (y_lo..y_hi)
                .log_scale()
                .with_key_points(log_ticks(y_lo, y_hi)),
        )?;
    chart
        .configure_mesh()
        .bold_line_style(RGBColor(225, 225, 225))
        .x_desc("offered rate, items/s (log scale; a tick at each rate measured)")
        .y_desc(y_desc)
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 13))
        // Drawn below, staggered.
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|y| fmt_tick(*y))
        .draw()?;
    for (i, pts) in lines {
        let Series { color: c, ours, .. } = series[*i];
        if ours {
            chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        } else {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 7, 5, c.stroke_width(2)))?;
            chart.draw_series(pts.iter().map(|&p| {
                EmptyElement::at(p) + Rectangle::new([(-3, -3), (3, 3)], c.stroke_width(2))
            }))?;
        }
    }
    // The tick labels, in the area's own pixels, under the axis.
    let (bx, by) = area.get_base_pixel();
    let axis_y = chart.backend_coord(&(x_lo, y_lo)).1 - by;
    let px = |r: f64| chart.backend_coord(&(r, y_lo)).0 - bx;
    // A label like `12.7M` is about 40 px wide at 12 px.
    for (r, row) in stagger(&every, px, 44, 3) {
        let Some(row) = row else { continue };
        let y = axis_y + 8 + 14 * i32::try_from(row)?;
        if row > 0 {
            area.draw(&PathElement::new(
                vec![(px(r), axis_y + 6), (px(r), y)],
                RGBColor(190, 190, 190),
            ))?;
        }
        area.draw(&Text::new(
            fmt_rate(r),
            (px(r), y),
            text_style(12, HPos::Center, VPos::Top),
        ))?;
    }
    Ok(())
}

/// p50 and p99 latency against the offered rate, one panel each, and (where measured) the
/// CPU per item, both axes log, one colour per configuration and worker count.
pub fn write_latency_plot(path: &Path, rows: &[LatRow], m: &Machine) -> PlotResult {
    let mut labels: Vec<(String, bool)> = Vec::new();
    for r in rows {
        let l = format!("{} W={}", r.config, r.workers);
        if !labels.iter().any(|x| x.0 == l) {
            labels.push((l, is_fanring(&r.config)));
        }
    }
    let series = colored(labels);
    let lines = |f: fn(&LatRow) -> Option<f64>| -> Vec<(usize, Vec<(f64, f64)>)> {
        let mut out: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
        for r in rows {
            let l = format!("{} W={}", r.config, r.workers);
            let i = series
                .iter()
                .position(|x| x.label == l)
                .expect("listed above");
            let Some(v) = f(r) else { continue };
            let p = (r.offered_per_s, v.max(1e-3));
            match out.iter_mut().find(|x| x.0 == i) {
                Some(x) => x.1.push(p),
                None => out.push((i, vec![p])),
            }
        }
        for x in &mut out {
            x.1.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out
    };
    let rates: Vec<f64> = rows.iter().map(|r| r.offered_per_s).collect();
    // A third panel, CPU per item, where it was measured (Linux).
    let cpu = rows.iter().any(|r| r.cpu_us_per_item.is_some());
    let width = if cpu { 1650 } else { 1200 };
    let heading = [
        "configuration and worker count (fanring = the builder's defaults; \
                    fanring-lowlat = the --lowlat-* settings)"
            .to_string(),
    ];
    let legend_h = legend_height(&series, width, heading.len());
    let notes = [
        "latency from each item's scheduled release to the consumer (coordinated omission \
         corrected); --load rows run at a fraction of each one's own saturation rate",
        "fanring rows: solid lines, dots; peers: dashed lines, squares",
    ];
    let (title_h, panel_h) = (title_height(notes.len()), 520);
    let root = SVGBackend::new(path, (width, title_h + panel_h + legend_h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(title_h);
    let (plots, legend) = rest.split_vertically(panel_h);
    draw_title(
        &top,
        &format!(
            "Open-loop latency (and CPU) by offered rate, lower is better ({}, {})",
            crate::report::table::cores_in_words(m.cores),
            m.cpu_model.as_deref().unwrap_or("unknown CPU")
        ),
        &notes,
    )?;
    let panels = plots.split_evenly((1, if cpu { 3 } else { 2 }));
    draw_latency_panel(
        &panels[0],
        "p50 (median)",
        "latency, µs (log scale)",
        &lines(|r| Some(r.p50_us)),
        &series,
        &rates,
    )?;
    draw_latency_panel(
        &panels[1],
        "p99",
        "latency, µs (log scale)",
        &lines(|r| Some(r.p99_us)),
        &series,
        &rates,
    )?;
    if cpu {
        draw_latency_panel(
            &panels[2],
            "CPU per item, every thread of the process",
            "CPU time per item, µs (log scale)",
            &lines(|r| r.cpu_us_per_item),
            &series,
            &rates,
        )?;
    }
    draw_legend(&legend, &heading, &series)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_round_and_within_the_range() {
        assert_eq!(
            log_ticks(3.0, 600.0),
            [5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
        );
        // Under a decade: the finer steps.
        assert_eq!(log_ticks(0.4, 2.5), [0.5, 0.7, 1.0, 1.5, 2.0]);
        assert!(log_ticks(1e-3, 1e9)
            .iter()
            .all(|t| t.log10().fract() == 0.0));
    }

    #[test]
    fn tick_labels_have_no_trailing_zeros() {
        let got: Vec<String> = [500.0, 1.5, 5.0, 0.7, 0.15].map(fmt_tick).to_vec();
        assert_eq!(got, ["500", "1.5", "5", "0.7", "0.15"]);
    }

    #[test]
    fn crowded_rate_labels_are_staggered_never_dropped_while_a_row_is_free() {
        // 10 px apart, 44 px wide: three rows hold three of four labels in a row.
        let rates = [1e3, 2e3, 3e3, 4e3, 1e6, 1e6 + 1.0];
        let px = |r: f64| if r < 1e5 { (r / 100.0) as i32 } else { 500 };
        let got = stagger(&rates, px, 44, 3);
        // The last two print alike (`1.00M`): one label.
        assert_eq!(
            got,
            [
                (1e3, Some(0)),
                (2e3, Some(1)),
                (3e3, Some(2)),
                (4e3, None),
                (1e6, Some(0))
            ]
        );
    }
}
