//! End to end: the `fanbench` binary on a tiny workload, run as a process
//! (`CARGO_BIN_EXE_fanbench`: cargo builds it, with the test's profile, before the tests).

// Under `--cfg fanring_loom` the engine runs on loom's threads, outside any model.
#![cfg(not(fanring_loom))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// `fanbench ARGS`.
fn fanbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fanbench"))
        .args(args)
        .output()
        .expect("could not run fanbench")
}

/// A file name in the temporary folder, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(ext: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        TempFile(
            Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("fanbench-cli-{}-{nanos}.{ext}", std::process::id())),
        )
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Where the process CPU clock and the context switch counts are read.
const LINUX: bool = cfg!(target_os = "linux");

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `path` with `-latency` after its stem, as fanbench names the second CSV and SVG.
fn latency_sibling(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap().to_string_lossy();
    let ext = path.extension().unwrap().to_string_lossy();
    path.with_file_name(format!("{stem}-latency.{ext}"))
}

/// The CSV's header and rows, as fields (fanbench writes no quoted fields).
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

/// Asserts that the `key` columns of the CSV rows are unique, and returns the keys.
fn unique_keys(header: &[String], rows: &[Vec<String>], key: &[&str]) -> Vec<Vec<String>> {
    let idx: Vec<usize> = key
        .iter()
        .map(|k| {
            header
                .iter()
                .position(|h| h == k)
                .unwrap_or_else(|| panic!("no `{k}` column in {header:?}"))
        })
        .collect();
    let keys: Vec<Vec<String>> = rows
        .iter()
        .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
        .collect();
    for (i, k) in keys.iter().enumerate() {
        assert!(
            !keys[..i].contains(k),
            "two CSV rows share the key {key:?} = {k:?}"
        );
    }
    keys
}

/// The texts of an SVG's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

const IMPLS: [&str; 7] = [
    "fanring",
    "crossbeam-seed",
    "std-seed",
    "rtrb-pipeline",
    "sequential",
    "rayon-bridge",
    "pariter",
];

/// (impl, mode, workers, order, work-ns) of each printed throughput row.
type RowKey = (String, String, u64, String, u64);

fn printed_rows(stdout: &str) -> Vec<RowKey> {
    stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || !IMPLS.contains(&f[0]) {
                return None;
            }
            Some((
                f[0].to_string(),
                f[1].to_string(),
                f[2].parse().ok()?,
                f[4].to_string(),
                f[6].parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn tiny_run_writes_every_printed_row_to_json() {
    let json = TempFile::new("json");
    let csv = TempFile::new("csv");
    let out = fanbench(&[
        "--measure",
        "throughput",
        "--items",
        "10000",
        "--workers",
        "1,2",
        "--reps",
        "1",
        "--work-ns",
        "0,200",
        "--baseline",
        "all,rtrb",
        "--json",
        json.path(),
        "--csv",
        csv.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains("machine:"), "no machine line:\n{stdout}");
    for mode in ["drive", "thread"] {
        let plan = stdout
            .lines()
            .find(|l| l.contains(&format!("plan with 2 worker(s), {mode}:")))
            .unwrap_or_else(|| panic!("no {mode} plan:\n{stdout}"));
        // In words: `workers unpinned` / `workers on cores 1, 0`, not `workers: [-, -]`.
        assert!(
            plan.contains("workers unpinned") || plan.contains("workers on cores "),
            "{plan}"
        );
        assert!(!plan.contains('['), "{plan}");
        let stages = match mode {
            "drive" => "the caller's thread distributes and merges",
            _ => "a distributor thread ",
        };
        assert!(plan.contains(stages), "{plan}");
    }
    // A winner line under each group, against the next best and the best peer (or, when a
    // peer wins, the best fanring row).
    for work in [0, 200] {
        for w in [1, 2] {
            let head = format!("  throughput W={w}, {work} ns of work per item: ");
            let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&head)).collect();
            assert_eq!(lines.len(), 1, "{head:?}:\n{stdout}");
            let l = lines[0];
            assert!(
                l.contains(" is fastest, ") && l.contains(" M items/s: "),
                "{l}"
            );
            assert!(l.contains("× the next best"), "{l}");
            assert!(
                l.contains("the best peer (") || l.contains("the best fanring row ("),
                "{l}"
            );
        }
    }
    // Where the files went, on stderr.
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wrote {}", json.path())),
        "stderr:\n{stderr}"
    );
    // Throughput only: no latency CSV.
    assert!(
        stderr.lines().any(|l| l == format!("wrote {}", csv.path())),
        "stderr:\n{stderr}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    let rows = report["rows"].as_array().expect("rows array");
    // 2 work sizes × 2 worker counts × (fanring drive + thread × any + preserve, crossbeam,
    // std, rtrb)
    assert_eq!(rows.len(), 2 * 2 * 7, "{rows:#?}");

    let printed = printed_rows(&stdout);
    let in_json: Vec<RowKey> = rows
        .iter()
        .map(|r| {
            (
                r["implementation"].as_str().unwrap().to_string(),
                r["mode"].as_str().unwrap_or("-").to_string(),
                r["workers"].as_u64().unwrap(),
                r["order"].as_str().unwrap().to_string(),
                r["work_ns"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(printed, in_json, "stdout:\n{stdout}");

    let header = stdout
        .lines()
        .find(|l| l.starts_with("impl "))
        .unwrap_or_else(|| panic!("no throughput header:\n{stdout}"));
    for c in ["Mitem/s", "ns/item", "cpu-s/M", "cores"] {
        assert!(
            header.split_whitespace().any(|h| h == c),
            "no `{c}` column in {header:?}"
        );
    }
    for r in rows {
        let thr = r["mitems_per_s"].as_f64().expect("throughput");
        assert!(thr > 0.0 && thr.is_finite(), "{r}");
        if LINUX {
            // The whole process's CPU over the run: at least what one busy thread burns.
            let cpu = r["cpu_s_per_mitem"].as_f64().expect("cpu_s_per_mitem");
            assert!(cpu > 0.0, "{r}");
            assert!(r["cores_busy"].as_f64().is_some_and(|c| c > 0.0), "{r}");
            assert!(
                r["switches_per_item"].as_f64().is_some_and(|c| c >= 0.0),
                "{r}"
            );
        }
        assert!(r["ns_per_item"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["p50_ns"].as_f64().unwrap() > 0.0, "{r}");
        assert!(
            r["p99_ns"].as_f64().unwrap() >= r["p50_ns"].as_f64().unwrap(),
            "{r}"
        );
        assert_eq!(r["items"].as_u64(), Some(10_000));
        let ours = r["implementation"] == "fanring";
        for k in ["vs_crossbeam", "vs_std", "vs_rtrb"] {
            assert_eq!(r[k].as_f64().is_some_and(|v| v > 0.0), ours, "{k} in {r}");
        }
    }
    for w in [1, 2] {
        for order in ["any", "preserve"] {
            for mode in ["drive", "thread"] {
                assert!(
                    rows.iter().any(|r| r["implementation"] == "fanring"
                        && r["mode"] == mode
                        && r["workers"] == w
                        && r["order"] == order),
                    "no fanring row for W={w} {order} {mode}"
                );
            }
        }
    }

    let csv_text = std::fs::read_to_string(&csv.0).expect("CSV file written");
    assert_eq!(csv_text.lines().count(), 1 + rows.len(), "{csv_text}");
    let (header, csv) = csv_rows(&csv_text);
    assert!(
        csv_text.starts_with("implementation,mode,workers,"),
        "{csv_text}"
    );
    for c in [
        "cpu_s_per_mitem",
        "cores_busy",
        "switches_per_item",
        "vs_seq_round_min",
        "vs_seq_round_max",
    ] {
        assert!(header.iter().any(|h| h == c), "no `{c}` in {header:?}");
    }
    assert!(
        csv.iter().all(|r| r.len() == header.len()),
        "ragged CSV:\n{csv_text}"
    );
    let keys = unique_keys(
        &header,
        &csv,
        &[
            "implementation",
            "mode",
            "workers",
            "dispatch",
            "order",
            "batch",
            "work_ns",
        ],
    );
    // `drive` and `thread` told apart: each fanring (W, order, work) once per mode.
    for mode in ["drive", "thread"] {
        assert_eq!(
            keys.iter()
                .filter(|k| k[0] == "fanring" && k[1] == mode)
                .count(),
            2 * 2 * 2,
            "{csv_text}"
        );
    }
    // The peers have no mode.
    assert!(
        keys.iter().all(|k| (k[0] == "fanring") != k[1].is_empty()),
        "{csv_text}"
    );
}

#[test]
fn alternatives_and_work_sweep_report_the_break_even() {
    let json = TempFile::new("json");
    let out = fanbench(&[
        "--measure",
        "throughput",
        "--items",
        "5000",
        "--workers",
        "2",
        "--reps",
        "1",
        "--mode",
        "drive",
        "--order",
        "any",
        "--work-ns",
        "0,200",
        "--baseline",
        "alt",
        "--json",
        json.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let printed = printed_rows(&stdout);
    for work in [0, 200] {
        for imp in ["fanring", "sequential", "rayon-bridge", "pariter"] {
            assert!(
                printed.iter().any(|r| r.0 == imp && r.4 == work),
                "no {imp} row at {work} ns:\n{stdout}"
            );
        }
    }
    assert_eq!(printed.len(), 2 * 4, "{stdout}");
    // The comparison with the plain loop, in words.
    assert!(
        stdout.contains(
            "fanring against the plain loop (the sequential row: one thread, no engine) at W=2: "
        ),
        "{stdout}"
    );
    let per = stdout
        .lines()
        .find(|l| l.starts_with("  fanring (W=2, drive/rr/any) "))
        .unwrap_or_else(|| panic!("no line for drive/rr/any:\n{stdout}"));
    assert!(
        per.contains("beats the plain loop from ") || per.contains("does not beat the plain loop"),
        "{per}"
    );
    assert!(
        per.contains("× at 0 ns") && per.contains("× at 200 ns"),
        "{per}"
    );
    assert!(!stdout.contains("never"), "{stdout}");
    // One rep: no round-by-round block (a single round is the ratio above).
    assert!(!stdout.contains("round by round"), "{stdout}");
    for work in [0, 200] {
        assert!(
            stdout.contains(&format!("  throughput W=2, {work} ns of work per item: ")),
            "no winner line at {work} ns:\n{stdout}"
        );
    }
    for col in ["vs seq", "vs rayon", "vs pariter"] {
        assert!(stdout.contains(col), "no `{col}` column:\n{stdout}");
    }

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    for r in report["rows"].as_array().expect("rows") {
        let ours = r["implementation"] == "fanring";
        for k in ["vs_seq", "vs_rayon", "vs_pariter"] {
            assert_eq!(r[k].as_f64().is_some_and(|v| v > 0.0), ours, "{k} in {r}");
        }
        assert!(r["mitems_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    let be = &report["break_even"];
    assert_eq!(be["workers"].as_u64(), Some(2), "{be}");
    let per = be["per_config"].as_array().expect("per_config");
    assert_eq!(per.len(), 1, "{be}");
    assert_eq!(per[0]["ratios"].as_array().map(Vec::len), Some(2), "{be}");
    // Either a size it wins from, or none; the summary agrees with the configuration.
    assert_eq!(be["work_ns"], per[0]["work_ns"], "{be}");
}

#[test]
fn latency_mode_prints_percentiles_for_every_config_and_rate() {
    let json = TempFile::new("json");
    let csv = TempFile::new("csv");
    let out = fanbench(&[
        "--measure",
        "latency",
        "--items",
        "20000",
        "--reps",
        "1",
        "--latency-workers",
        "1",
        "--rate",
        "2000",
        "--load",
        "0.5",
        "--latency-secs",
        "0.05",
        "--json",
        json.path(),
        "--csv",
        csv.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("config "))
        .unwrap_or_else(|| panic!("no latency table header:\n{stdout}"));
    let cols: Vec<&str> = header.split_whitespace().collect();
    for c in [
        "W",
        "offered/s",
        "achieved/s",
        "p50(µs)",
        "p99(µs)",
        "p99.9(µs)",
        "max(µs)",
        "cpu-µs/item",
        "cores",
        "csw/item",
    ] {
        assert!(cols.contains(&c), "no `{c}` column in {header:?}");
    }
    assert!(stdout.contains("saturation (unpaced"), "{stdout}");
    // (config, load) of every printed latency row.
    let rows: Vec<(String, String)> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("config "))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == cols.len()).then(|| (f[0].to_string(), f[3].to_string()))
        })
        .collect();
    for config in [
        "fanring",
        "fanring-lowlat",
        "fanring-graph3",
        "crossbeam-seed",
        "rtrb-pipeline",
    ] {
        for load in ["0.50", "-"] {
            assert!(
                rows.contains(&(config.to_string(), load.to_string())),
                "no {config} row at load {load}:\n{stdout}"
            );
        }
    }
    assert_eq!(rows.len(), 5 * 2, "{stdout}");
    // The lowest p50 and p99 of each group (load 0.5, and 2000 items/s), lower is better.
    for at in [
        "load 0.50 (each row paced at 50% of its own saturation rate)",
        "2.0k items/s offered",
    ] {
        for pct in ["p50", "p99"] {
            let head = format!("  latency W=1, {at}, {pct}: ");
            let l = stdout
                .lines()
                .find(|l| l.starts_with(&head))
                .unwrap_or_else(|| panic!("no {head:?} line:\n{stdout}"));
            assert!(l.contains(" is lowest, ") && l.contains("as long"), "{l}");
            assert!(
                l.contains("the best peer") || l.contains("the best fanring row"),
                "{l}"
            );
        }
    }
    // Latency only: the throughput CSV is not written, the latency one is, and said so.
    let lat_csv = latency_sibling(&csv.0);
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wrote {}", lat_csv.display())),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wrote {}", json.path())),
        "stderr:\n{stderr}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(0));
    let sat = report["latency_saturation"].as_array().expect("saturation");
    assert_eq!(sat.len(), 5, "{sat:#?}");
    let lat = report["latency"].as_array().expect("latency rows");
    assert_eq!(lat.len(), 5 * 2, "{lat:#?}");
    for r in lat {
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert!(f("p50_us") > 0.0, "{r}");
        assert!(f("p99_us") >= f("p50_us"), "{r}");
        assert!(f("p999_us") >= f("p99_us"), "{r}");
        assert!(f("max_us") >= f("p999_us"), "{r}");
        assert!(f("achieved_per_s") > 0.0, "{r}");
        if LINUX {
            assert!(f("cpu_us_per_item") > 0.0, "{r}");
            assert!(f("cores_busy") > 0.0, "{r}");
            assert!(f("switches_per_item") >= 0.0, "{r}");
        }
        match r["load"].as_f64() {
            // 0.05 s at 2000 items/s.
            None => {
                assert_eq!(f("offered_per_s"), 2000.0, "{r}");
                assert_eq!(r["items"].as_u64(), Some(100), "{r}");
            }
            Some(l) => {
                assert_eq!(l, 0.5, "{r}");
                let s = sat
                    .iter()
                    .find(|s| s["config"] == r["config"])
                    .expect("a saturation for each config");
                let want = 0.5 * s["items_per_s"].as_f64().unwrap();
                assert!((f("offered_per_s") - want).abs() < 1e-6 * want, "{r} {s}");
            }
        }
    }
    // The paced source alone at the one --rate, under the table and in JSON.
    let source = report["latency_source_cpu"].as_array().expect("source CPU");
    assert_eq!(source.len(), 1, "{source:#?}");
    assert_eq!(source[0]["offered_per_s"].as_f64(), Some(2000.0));
    if LINUX {
        assert!(
            stdout.contains("the paced source alone (no pipeline, on one thread), CPU: 2.0k/s "),
            "{stdout}"
        );
        assert!(
            source[0]["cpu_us_per_item"]
                .as_f64()
                .is_some_and(|v| v > 0.0),
            "{source:#?}"
        );
    }
    let lat_text = std::fs::read_to_string(&lat_csv).expect("latency CSV written");
    let _ = std::fs::remove_file(&lat_csv);
    assert_eq!(lat_text.lines().count(), 1 + lat.len(), "{lat_text}");
    assert!(
        lat_text.starts_with("config,workers,work_ns,load,offered_per_s"),
        "{lat_text}"
    );
    let (header, lat_rows) = csv_rows(&lat_text);
    for c in ["cpu_us_per_item", "cores_busy", "switches_per_item"] {
        assert!(header.iter().any(|h| h == c), "no `{c}` in {header:?}");
    }
    unique_keys(
        &header,
        &lat_rows,
        &["config", "workers", "work_ns", "load", "offered_per_s"],
    );
}

/// `--plot`: both SVGs, their paths on stderr; the throughput one with one legend entry per
/// configuration (drive and thread apart) and peer, a panel per work size and the worker
/// counts as tick labels; the latency one with a labelled tick at each measured rate.
#[test]
fn plots_label_their_axes_and_lines() {
    let svg = TempFile::new("svg");
    let lat_svg = latency_sibling(&svg.0);
    let out = fanbench(&[
        "--items",
        "5000",
        "--reps",
        "1",
        "--workers",
        "1,2",
        "--order",
        "any",
        "--work-ns",
        "0,200",
        "--baseline",
        "crossbeam,rtrb",
        "--latency-workers",
        "1",
        "--rate",
        "2000,20000",
        "--latency-secs",
        "0.02",
        "--plot",
        svg.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wrote {}, {}", svg.path(), lat_svg.display())),
        "stderr:\n{stderr}"
    );

    let thr = svg_texts(&std::fs::read_to_string(&svg.0).expect("throughput SVG written"));
    for entry in [
        "fanring drive/rr/any",
        "fanring thread/rr/any",
        "crossbeam-seed (peer)",
        "rtrb-pipeline (peer)",
    ] {
        assert_eq!(
            thr.iter().filter(|t| *t == entry).count(),
            1,
            "legend entry {entry:?} once: {thr:?}"
        );
    }
    for t in [
        "0 ns of work per item (a multiply)",
        "200 ns of work per item",
        "1",
        "2",
        "workers (W)",
        "million items/s (log scale)",
    ] {
        assert!(thr.iter().any(|x| x == t), "no {t:?} in {thr:?}");
    }
    assert!(
        thr.iter()
            .any(|t| t.contains("solid") && t.contains("dashed")),
        "no note on solid and dashed lines: {thr:?}"
    );

    let lat_text = std::fs::read_to_string(&lat_svg).expect("latency SVG written");
    let _ = std::fs::remove_file(&lat_svg);
    let lat = svg_texts(&lat_text);
    for t in [
        "2.0k",
        "20.0k",
        "p50 (median)",
        "p99",
        "fanring W=1",
        "fanring-lowlat W=1",
        "crossbeam-seed W=1 (peer)",
        "rtrb-pipeline W=1 (peer)",
    ] {
        assert!(lat.iter().any(|x| x == t), "no {t:?} in {lat:?}");
    }
    assert!(
        lat.iter().any(|t| t.starts_with("offered rate, items/s")),
        "no x axis description with units: {lat:?}"
    );
    if LINUX {
        for t in [
            "CPU per item, every thread of the process",
            "CPU time per item, µs (log scale)",
        ] {
            assert!(lat.iter().any(|x| x == t), "no {t:?} in {lat:?}");
        }
    }
}

/// `--baseline seq` with several reps: each fanring configuration's ratio to the plain loop
/// round by round (min, median, max) under the table, and every round in JSON.
#[test]
fn round_by_round_ratios_to_the_plain_loop() {
    let json = TempFile::new("json");
    let out = fanbench(&[
        "--measure",
        "throughput",
        "--items",
        "4000",
        "--workers",
        "2",
        "--reps",
        "3",
        "--work-ns",
        "600",
        "--baseline",
        "seq",
        "--json",
        json.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("round by round: rep k of each row against rep k of the sequential row, 3 interleaved rounds"),
        "{stdout}"
    );
    for config in [
        "drive/rr/any",
        "drive/rr/preserve",
        "thread/rr/any",
        "thread/rr/preserve",
    ] {
        let line = stdout
            .lines()
            .find(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() == 6 && f[0] == "2" && f[1] == "600" && f[2] == config
            })
            .unwrap_or_else(|| panic!("no round line for {config}:\n{stdout}"));
        let r: Vec<f64> = line
            .split_whitespace()
            .skip(3)
            .map(|t| t.trim_end_matches('×').parse().expect("a ratio"))
            .collect();
        assert!(r[0] > 0.0 && r[0] <= r[1] && r[1] <= r[2], "{line}");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    for r in report["rows"].as_array().expect("rows") {
        if r["implementation"] == "fanring" {
            let rounds = r["vs_seq_rounds"].as_array().expect("vs_seq_rounds");
            assert_eq!(rounds.len(), 3, "{r}");
            assert!(
                rounds.iter().all(|v| v.as_f64().is_some_and(|v| v > 0.0)),
                "{r}"
            );
        } else {
            assert!(r["vs_seq_rounds"].is_null(), "{r}");
        }
    }
}

/// Without --rate and --load the latency table has the fixed rates 10k, 100k and 1M items/s
/// beside the loads 0.1 and 0.5; --rate alone still means no loads.
#[test]
fn default_latency_table_has_fixed_rates_beside_the_loads() {
    let json = TempFile::new("json");
    let out = fanbench(&[
        "--measure",
        "latency",
        "--items",
        "2000",
        "--reps",
        "1",
        "--latency-workers",
        "1",
        "--latency-secs",
        "0.002",
        "--json",
        json.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    let lat = report["latency"].as_array().expect("latency rows");
    for config in [
        "fanring",
        "fanring-lowlat",
        "crossbeam-seed",
        "rtrb-pipeline",
    ] {
        let mine: Vec<&Value> = lat.iter().filter(|r| r["config"] == config).collect();
        let loads: Vec<f64> = mine.iter().filter_map(|r| r["load"].as_f64()).collect();
        assert_eq!(loads, [0.1, 0.5], "{config}: {mine:#?}");
        let rates: Vec<(f64, u64)> = mine
            .iter()
            .filter(|r| r["load"].is_null())
            .map(|r| {
                (
                    r["offered_per_s"].as_f64().unwrap(),
                    r["items"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            rates,
            [(10_000.0, 20), (100_000.0, 200), (1_000_000.0, 2000)],
            "{config}: {mine:#?}"
        );
    }
    assert_eq!(
        report["latency_source_cpu"].as_array().map(Vec::len),
        Some(3)
    );
    for at in ["10.0k", "100.0k", "1.00M"] {
        assert!(
            stdout.contains(&format!("  latency W=1, {at} items/s offered, p50: ")),
            "no winner line at {at}/s:\n{stdout}"
        );
    }

    let out = fanbench(&[
        "--measure",
        "latency",
        "--reps",
        "1",
        "--latency-workers",
        "1",
        "--rate",
        "20000",
        "--latency-secs",
        "0.005",
        "--json",
        json.path(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    let lat = report["latency"].as_array().expect("latency rows");
    assert_eq!(lat.len(), 5, "{lat:#?}");
    assert!(lat.iter().all(|r| r["load"].is_null()), "{lat:#?}");
    assert_eq!(
        report["latency_saturation"].as_array().map(Vec::len),
        Some(0)
    );
}

/// `--measure rows`: the image-rows table at a tiny size: the plain loop, fanring in each mode
/// and order, rayon and the crossbeam seed at each worker count, a winner line per worker
/// count, JSON `image_rows` and `FILE-rows.csv`.
#[test]
fn rows_table_compares_with_the_plain_loop() {
    let json = TempFile::new("json");
    let csv = TempFile::new("csv");
    let rows_csv = csv.0.with_file_name(format!(
        "{}-rows.csv",
        csv.0.file_stem().unwrap().to_string_lossy()
    ));
    let out = fanbench(&[
        "--measure",
        "rows",
        "--rows",
        "40",
        "--row-us",
        "5",
        "--workers",
        "1,2",
        "--reps",
        "1",
        "--json",
        json.path(),
        "--csv",
        csv.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("image rows: 40 rows of a Mandelbrot image, "),
        "{stdout}"
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("impl "))
        .unwrap_or_else(|| panic!("no rows header:\n{stdout}"));
    let cols: Vec<&str> = header.split_whitespace().collect();
    for c in ["rows/s", "µs/row", "cpu-µs/row", "cores", "csw/row"] {
        assert!(cols.contains(&c), "no `{c}` column in {header:?}");
    }
    assert!(header.contains("vs seq"), "{header}");
    // (impl, mode, W, order) of each printed row.
    let printed: Vec<(String, String, String, String)> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("impl "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect();
    let row = |i: &str, m: &str, w: &str, o: &str| (i.into(), m.into(), w.into(), o.into());
    assert_eq!(
        printed[0],
        row("sequential", "-", "1", "preserve"),
        "{stdout}"
    );
    for w in ["1", "2"] {
        for m in ["drive", "thread"] {
            for o in ["any", "preserve"] {
                assert!(printed.contains(&row("fanring", m, w, o)), "{stdout}");
            }
        }
        for p in ["rayon-bridge", "crossbeam-seed"] {
            assert!(printed.contains(&row(p, "-", w, "any")), "{stdout}");
        }
        let l = format!("  rows W={w}: ");
        let line = stdout
            .lines()
            .find(|x| x.starts_with(&l))
            .unwrap_or_else(|| panic!("no {l:?} line:\n{stdout}"));
        assert!(
            line.contains(" is fastest, ") && line.contains("× the plain loop"),
            "{line}"
        );
    }
    assert_eq!(printed.len(), 1 + 2 * 6, "{stdout}");
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wrote {}", rows_csv.display())),
        "stderr:\n{stderr}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    let rows = report["image_rows"].as_array().expect("image_rows");
    assert_eq!(rows.len(), printed.len(), "{rows:#?}");
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert_eq!(r["rows"].as_u64(), Some(40), "{r}");
        assert!(r["width"].as_u64().is_some_and(|w| w >= 1), "{r}");
        assert!(f("rows_per_s") > 0.0 && f("vs_seq") > 0.0, "{r}");
        if r["implementation"] == "sequential" {
            assert_eq!(f("vs_seq"), 1.0, "{r}");
        }
        if LINUX {
            assert!(f("cpu_us_per_row") > 0.0 && f("cores_busy") > 0.0, "{r}");
            assert!(f("switches_per_row") >= 0.0, "{r}");
        }
    }
    let csv_text = std::fs::read_to_string(&rows_csv).expect("rows CSV written");
    let _ = std::fs::remove_file(&rows_csv);
    assert_eq!(csv_text.lines().count(), 1 + rows.len(), "{csv_text}");
    let (header, csv_rows) = csv_rows(&csv_text);
    unique_keys(
        &header,
        &csv_rows,
        &["implementation", "mode", "workers", "order"],
    );
    for c in ["rows_per_s", "vs_seq", "cpu_us_per_row", "switches_per_row"] {
        assert!(header.iter().any(|h| h == c), "no `{c}` in {header:?}");
    }
}

/// `--measure pipeline` on tiny workloads: every workload's rows (the plain loop, then each
/// implementation at each W), the winner lines, JSON, `FILE-pipeline.csv` and
/// `FILE-pipeline.svg`.
#[test]
fn pipeline_table_runs_every_workload_through_every_row() {
    let json = TempFile::new("json");
    let csv = TempFile::new("csv");
    let svg = TempFile::new("svg");
    let sibling = |p: &Path, ext: &str| {
        p.with_file_name(format!(
            "{}-pipeline.{ext}",
            p.file_stem().unwrap().to_string_lossy()
        ))
    };
    let (pipe_csv, pipe_svg) = (sibling(&csv.0, "csv"), sibling(&svg.0, "svg"));
    let out = fanbench(&[
        "--measure",
        "pipeline",
        "--mandel",
        "48:6+3,32:20+10x2",
        "--images",
        "6",
        "--image-size",
        "16x12",
        "--blocks",
        "5",
        "--block-kib",
        "4",
        "--workers",
        "1,3",
        "--reps",
        "2",
        "--json",
        json.path(),
        "--csv",
        csv.path(),
        "--plot",
        svg.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let impls = [
        "fanring",
        "fanring unfused",
        "fanring chained",
        "std threads + crossbeam",
        "rayon par_bridge",
        "tokio pipeline",
    ];
    let workloads = [
        ("mandelbrot 48:6+3", 48),
        ("mandelbrot 32:20+10x2", 64),
        ("image 16x12", 6),
        ("compress 4KiB", 5),
    ];
    for (name, items) in workloads {
        let head = format!("{name}: ");
        let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&head));
        let heading = lines
            .next()
            .unwrap_or_else(|| panic!("no {head:?} heading:\n{stdout}"));
        assert!(
            heading.ends_with(&format!("; {items} items a run")),
            "{heading}"
        );
        let header = lines.next().unwrap();
        for c in [
            "items/s",
            "µs/item",
            "vs plain",
            "cpu-µs/item",
            "cores",
            "csw/item",
        ] {
            assert!(header.contains(c), "no `{c}` column in {header:?}");
        }
        let rows: Vec<&str> = lines.take_while(|l| !l.starts_with("  ")).collect();
        assert_eq!(rows.len(), 2 + 2 * impls.len(), "{stdout}");
        assert!(
            rows[0].starts_with("plain loop ") && rows[0].contains(" 1.00× "),
            "{stdout}"
        );
        // A plain loop on each core, once per workload, never the fastest.
        assert!(
            rows[1].starts_with("plain loop per core ") && !rows[1].ends_with(" *"),
            "{stdout}"
        );
        for w in ["1", "3"] {
            for i in impls {
                assert!(
                    rows.iter()
                        .any(|r| r.starts_with(&format!("{i:<24} {w:>3} "))),
                    "no {i} W={w} row:\n{stdout}"
                );
            }
            let mine: Vec<&&str> = rows.iter().filter(|r| r[25..28].trim() == w).collect();
            assert_eq!(
                mine.iter().filter(|r| r.ends_with(" *")).count(),
                1,
                "{stdout}"
            );
            let l = format!("  {name}, W={w}: ");
            let line = stdout
                .lines()
                .find(|x| x.starts_with(&l))
                .unwrap_or_else(|| panic!("no {l:?} line:\n{stdout}"));
            assert!(
                line.contains(" is fastest, ")
                    && line.contains("× the plain loop")
                    && line.contains(" of 2 rounds (")
                    && line.contains("× round by round")
                    && line.contains("; a plain loop on ")
                    && (line.contains(" % of it") || line.contains("too low to compare")),
                "{line}"
            );
        }
    }
    for p in [&pipe_csv, &pipe_svg] {
        assert!(
            stderr.contains(&p.display().to_string()),
            "{} not written:\n{stderr}",
            p.display()
        );
    }

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    let rows = report["pipeline"].as_array().expect("pipeline");
    assert_eq!(rows.len(), 4 * (2 + 2 * impls.len()), "{rows:#?}");
    assert!(report["settings"]["heap"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    for r in rows {
        let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert!(f("items_per_s") > 0.0 && f("vs_plain") > 0.0, "{r}");
        assert_eq!(
            r["items_per_s_rounds"].as_array().map(Vec::len),
            Some(2),
            "{r}"
        );
        if r["implementation"] == "plain loop" {
            assert_eq!(f("vs_plain"), 1.0, "{r}");
        }
        if r["implementation"]
            .as_str()
            .unwrap()
            .starts_with("plain loop")
        {
            assert_eq!(r["fastest"], false, "{r}");
        }
        if LINUX {
            assert!(f("cpu_us_per_item") > 0.0 && f("cores_busy") > 0.0, "{r}");
        }
    }
    let csv_text = std::fs::read_to_string(&pipe_csv).expect("pipeline CSV written");
    let svg_text = std::fs::read_to_string(&pipe_svg).expect("pipeline SVG written");
    let _ = std::fs::remove_file(&pipe_csv);
    let _ = std::fs::remove_file(&pipe_svg);
    let (header, csv_rows) = csv_rows(&csv_text);
    assert_eq!(csv_rows.len(), rows.len(), "{csv_text}");
    unique_keys(
        &header,
        &csv_rows,
        &["workload", "implementation", "workers"],
    );
    let texts = svg_texts(&svg_text);
    for t in [
        "mandelbrot 48:6+3 (2 stages)",
        "image 16x12 (5 stages)",
        "threads per stage (W)",
        "fanring chained",
        "tokio pipeline (peer)",
        "plain loop per core (no hand-off)",
    ] {
        assert!(
            texts.iter().any(|x| x == t),
            "no {t:?} in the SVG: {texts:?}"
        );
    }
}

/// `--heap`: the allocator's policy for freed memory is set before anything runs and named in
/// the header (kept in the process by default; glibc's defaults on request).
#[test]
fn heap_policy_is_set_and_named() {
    let run = |heap: Option<&str>| {
        let mut a = vec![
            "--measure",
            "pipeline",
            "--pipelines",
            "compress",
            "--blocks",
            "3",
            "--block-kib",
            "1",
            "--workers",
            "1",
            "--reps",
            "1",
        ];
        if let Some(h) = heap {
            a.extend(["--heap", h]);
        }
        let out = fanbench(&a);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .find(|l| l.starts_with("heap: "))
            .expect("a heap line in the header")
            .to_string()
    };
    let kept = run(None);
    assert_eq!(kept, run(Some("keep")));
    if LINUX && cfg!(target_env = "gnu") {
        assert!(
            kept.contains("M_TRIM_THRESHOLD 1 GiB, M_MMAP_THRESHOLD 32 MiB"),
            "{kept}"
        );
    }
    assert!(run(Some("glibc")).contains("glibc's defaults"));
}

/// `--measure idle`: every latency configuration and the rtrb pipeline fed, then quiet for
/// 10 ms: the CPU of the window as % of one core, in the table, JSON and `FILE-idle.csv`.
#[test]
fn idle_check_reports_the_quiet_windows_cpu() {
    let json = TempFile::new("json");
    let csv = TempFile::new("csv");
    let idle_csv = csv.0.with_file_name(format!(
        "{}-idle.csv",
        csv.0.file_stem().unwrap().to_string_lossy()
    ));
    let out = fanbench(&[
        "--measure",
        "idle",
        "--latency-workers",
        "1",
        "--reps",
        "1",
        "--json",
        json.path(),
        "--csv",
        csv.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("idle: each pipeline fed 64 items"),
        "{stdout}"
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("config "))
        .unwrap_or_else(|| panic!("no idle header:\n{stdout}"));
    for c in ["window-ms", "cpu%", "cpu%-max", "csw"] {
        assert!(
            header.split_whitespace().any(|h| h == c),
            "no `{c}` column in {header:?}"
        );
    }
    let configs = [
        "fanring",
        "fanring-lowlat",
        "fanring-graph3",
        "crossbeam-seed",
        "rtrb-pipeline",
    ];
    for c in configs {
        assert!(
            stdout.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() == 6 && f[0] == c && f[1] == "1"
            }),
            "no {c} row:\n{stdout}"
        );
    }
    assert!(
        stderr
            .lines()
            .any(|l| l == format!("wrote {}", idle_csv.display())),
        "stderr:\n{stderr}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    let idle = report["idle"].as_array().expect("idle rows");
    let names: Vec<&str> = idle.iter().map(|r| r["config"].as_str().unwrap()).collect();
    assert_eq!(names, configs, "{idle:#?}");
    for r in idle {
        assert_eq!(r["fed"].as_u64(), Some(64), "{r}");
        if LINUX {
            assert!(r["window_ms"].as_f64().is_some_and(|w| w >= 10.0), "{r}");
            let pct = r["cpu_pct"].as_f64().expect("cpu_pct");
            assert!(pct >= 0.0 && r["cpu_pct_max"].as_f64() >= Some(pct), "{r}");
        }
    }
    let csv_text = std::fs::read_to_string(&idle_csv).expect("idle CSV written");
    let _ = std::fs::remove_file(&idle_csv);
    assert_eq!(csv_text.lines().count(), 1 + idle.len(), "{csv_text}");
    assert!(
        csv_text.starts_with("config,workers,fed,gap_us,reps,window_ms,cpu_pct,"),
        "{csv_text}"
    );
}

#[test]
fn help_documents_the_new_tables() {
    let out = fanbench(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for s in [
        "--rows",
        "--row-us",
        "Image rows (--measure rows",
        "Idle (--measure idle",
        "Pipelines (--measure pipeline",
        "--mandel <ROWS:I1+I2[xF]>",
        "--image-size",
        "--block-kib",
        "10000, 100000 and 1000000 items/s",
        "cpu-s/M",
        "round by round",
    ] {
        assert!(help.contains(s), "no {s:?} in --help:\n{help}");
    }
}

#[test]
fn bad_flag_value_exits_2() {
    let out = fanbench(&["--wait", "nope"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
}

/// A reader that stops after the first line (`fanbench | head -1`): fanbench ends by SIGPIPE,
/// as Unix tools do, with no panic (Linux: where fanbench restores SIGPIPE's default).
#[cfg(target_os = "linux")]
#[test]
fn closed_stdout_ends_without_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fanbench"))
        .args([
            "--measure",
            "pipeline",
            "--pipelines",
            "compress",
            "--blocks",
            "200",
            "--block-kib",
            "4",
            "--workers",
            "1",
            "--reps",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not run fanbench");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a first line");
    assert!(first.starts_with("machine: "), "{first}");
    let out = child.wait_with_output().expect("fanbench ends");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[test]
fn repeated_worker_count_exits_2() {
    for args in [
        &["--workers", "3,1,3"][..],
        &["--workers", "1,2", "--workers", "1"],
        &["--latency-workers", "2,2"],
    ] {
        let out = fanbench(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("more than once"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn unknown_core_exits_2() {
    let out = fanbench(&["--workers", "1", "--pin", "0,100000,-"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("core 100000 does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn engine_config_error_exits_2() {
    let out = fanbench(&["--items", "1000", "--workers", "1", "--batch", "0"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("engine configuration error"),
        "{}",
        text(&out.stderr)
    );
}

/// The async rows (`--features async`): every peer of `--baseline async` in the throughput
/// table at W = 1 and 2, the ratio line under each group, the JSON ratios, and the async rows
/// of the latency table.
#[cfg(feature = "async")]
#[test]
fn async_rows_in_both_tables() {
    let json = TempFile::new("json");
    let out = fanbench(&[
        "--measure",
        "throughput,latency",
        "--items",
        "3000",
        "--workers",
        "1,2",
        "--reps",
        "1",
        "--work-ns",
        "0",
        "--mode",
        "thread",
        "--order",
        "any",
        "--baseline",
        "async",
        "--latency-workers",
        "2",
        "--rate",
        "2000",
        "--load",
        "0.5",
        "--latency-secs",
        "0.02",
        "--json",
        json.path(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "fanbench failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    const ASYNC: [&str; 5] = [
        "fanring-stream",
        "fanring-blocking",
        "tokio-mpsc",
        "buffered",
        "buffer-unordered",
    ];
    for w in ["1", "2"] {
        for name in ASYNC {
            assert!(
                stdout.lines().any(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    f.len() > 2 && f[0] == name && f[2] == w
                }),
                "no {name} row at W={w}:\n{stdout}"
            );
        }
        assert!(
            stdout.contains(&format!("W={w} fanring-stream ÷ fanring-blocking: ")),
            "no ratio line at W={w}:\n{stdout}"
        );
        assert!(
            stdout.contains(&format!("  throughput W={w}, 0 ns of work per item: ")),
            "no winner line at W={w}:\n{stdout}"
        );
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json.0).expect("JSON file written"))
            .expect("valid JSON");
    let rows = report["rows"].as_array().expect("rows");
    for name in ASYNC {
        assert_eq!(
            rows.iter().filter(|r| r["implementation"] == name).count(),
            2,
            "{name}: {rows:#?}"
        );
    }
    for r in rows
        .iter()
        .filter(|r| r["implementation"] == "fanring-stream")
    {
        for k in ["vs_blocking", "vs_tokio_mpsc"] {
            assert!(r[k].as_f64().is_some_and(|v| v > 0.0), "{k} in {r}");
        }
    }
    let lat = report["latency"].as_array().expect("latency rows");
    for name in [
        "fanring-stream",
        "tokio-mpsc",
        "buffered",
        "buffer-unordered",
    ] {
        let mine: Vec<&Value> = lat.iter().filter(|r| r["config"] == name).collect();
        // One row at --load 0.5, one at --rate 2000.
        assert_eq!(mine.len(), 2, "{name}: {lat:#?}");
        for r in mine {
            assert!(r["p50_us"].as_f64().is_some_and(|v| v > 0.0), "{r}");
            assert!(r["p99_us"].as_f64() >= r["p50_us"].as_f64(), "{r}");
        }
    }
}

/// Without the feature, asking for an async row is a usage error that says what to do.
#[cfg(not(feature = "async"))]
#[test]
fn async_rows_without_the_feature_exit_2() {
    for b in ["stream", "tokio", "buffered", "async"] {
        let out = fanbench(&["--items", "1000", "--baseline", b]);
        assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("--features async"),
            "{}",
            text(&out.stderr)
        );
    }
}
