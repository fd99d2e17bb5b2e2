//! Throughput against workers and latency against the offered rate as SVG (`--plot`).

use std::path::Path;

use crate::report::table::fmt_rate;
use crate::report::{LatRow, Machine, Row};

/// A plotted line: its label, whether it is a baseline, and (workers, Mitem/s) points.
pub struct Series {
    pub label: String,
    pub baseline: bool,
    pub points: Vec<(f64, f64)>,
}

pub fn series(rows: &[Row]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for r in rows {
        let baseline = r.implementation != "fanring";
        let label = if baseline {
            format!("{} work {}ns", r.implementation, r.work_ns)
        } else {
            format!(
                "fanring {} {} b{} work {}ns",
                r.dispatch,
                r.order,
                r.batch.unwrap_or(0),
                r.work_ns
            )
        };
        let point = (r.workers as f64, r.mitems_per_s);
        match out.iter_mut().find(|s| s.label == label) {
            Some(s) => s.points.push(point),
            None => out.push(Series {
                label,
                baseline,
                points: vec![point],
            }),
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// A tick label with two significant digits.
pub fn fmt_tick(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Throughput against workers, log scale; fanring solid, baselines dashed; the legend sits
/// in head room above the data.
pub fn write_plot(
    path: &Path,
    rows: &[Row],
    m: &Machine,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let lines = series(rows);
    let xs = rows.iter().map(|r| r.workers as f64);
    let (x_lo, x_hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let ys = rows.iter().map(|r| r.mitems_per_s);
    let (y_lo, y_hi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "fanring vs baselines: throughput by workers ({} cores, {})",
        m.cores,
        m.cpu_model.as_deref().unwrap_or("unknown CPU")
    );
    // Head room for the legend: about 1.5 decades above the highest point.
    let head = 10f64.powf(0.25 * lines.len() as f64 / 4.0).max(4.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo - 0.25)..(x_hi + 0.25),
            ((y_lo / 1.5).max(1e-4)..(y_hi * head)).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("workers")
        .y_desc("million items/s (log scale)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .x_labels(((x_hi - x_lo) as usize + 1).clamp(2, 16) * 2)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .y_labels(12)
        .y_label_formatter(&|y| fmt_tick(*y))
        .draw()?;
    for (i, s) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = color.stroke_width(2);
        let drawn = if s.baseline {
            chart.draw_series(DashedLineSeries::new(s.points.clone(), 8, 5, style))?
        } else {
            chart.draw_series(LineSeries::new(s.points.clone(), style))?
        };
        drawn
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// p50 (solid) and p99 (dashed, same colour) latency against the offered rate, both log
/// scales, one colour per configuration and worker count.
pub fn write_latency_plot(
    path: &Path,
    rows: &[LatRow],
    m: &Machine,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    // (label, [(offered rate, p50, p99)])
    type Line = (String, Vec<(f64, f64, f64)>);
    let mut lines: Vec<Line> = Vec::new();
    for r in rows {
        let label = format!("{} W={}", r.config, r.workers);
        let point = (r.offered_per_s, r.p50_us.max(1e-3), r.p99_us.max(1e-3));
        match lines.iter_mut().find(|l| l.0 == label) {
            Some(l) => l.1.push(point),
            None => lines.push((label, vec![point])),
        }
    }
    for l in &mut lines {
        l.1.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let (x_lo, x_hi) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.offered_per_s), b.max(r.offered_per_s))
    });
    let (y_lo, y_hi) = rows.iter().fold((f64::MAX, f64::MIN), |(a, b), r| {
        (a.min(r.p50_us.max(1e-3)), b.max(r.p99_us.max(1e-3)))
    });
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "open-loop latency (from the schedule): p50 solid, p99 dashed ({} cores, {})",
        m.cores,
        m.cpu_model.as_deref().unwrap_or("unknown CPU")
    );
    let head = 10f64.powf(0.2 * lines.len() as f64).max(4.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((x_lo / 1.5).max(1e-3)..(x_hi * 1.5)).log_scale(),
            ((y_lo / 1.5)..(y_hi * head)).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("offered rate, items/s (log scale)")
        .y_desc("latency, µs (log scale)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|x| fmt_rate(*x))
        .y_labels(12)
        .y_label_formatter(&|y| fmt_tick(*y))
        .draw()?;
    for (i, (label, pts)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = color.stroke_width(2);
        let p50: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
        let p99: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.2)).collect();
        chart
            .draw_series(LineSeries::new(p50.clone(), style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(DashedLineSeries::new(p99.clone(), 8, 5, style))?;
        chart.draw_series(
            p50.iter()
                .chain(&p99)
                .map(|&p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
