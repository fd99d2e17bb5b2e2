//! End to end: `examples/fanbench.rs` on a tiny workload, through `cargo run`.
//!
//! Examples have no `CARGO_BIN_EXE_*`, so this runs `$CARGO run --example fanbench` with the
//! same profile as the test (debug unless the tests are optimised) and the same target folder.
//! `cargo test` has built the examples already and released its build lock before running
//! tests, so the inner `cargo run` only checks that the example is fresh.

// Under `--cfg fanring_loom` the engine runs on loom's threads, outside any model.
#![cfg(not(fanring_loom))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// `cargo run --example fanbench -- ARGS`.
fn fanbench(args: &[&str]) -> Output {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // `<target-dir>/tmp`: build where the outer `cargo test` builds, whatever --target-dir.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target folder");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.arg("run")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(["--example", "fanbench"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.arg("--")
        .args(args)
        .output()
        .expect("could not run cargo")
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

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

const IMPLS: [&str; 4] = ["fanring", "crossbeam-seed", "std-seed", "rtrb-pipeline"];

/// (implementation, workers, order, work-ns) of every table row printed on stdout.
/// (impl, mode, workers, order, work-ns) of each printed row.
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
        assert!(
            stdout.contains(&format!("plan with 2 worker(s), {mode}:")),
            "no {mode} plan:\n{stdout}"
        );
    }

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

    for r in rows {
        let thr = r["mitems_per_s"].as_f64().expect("throughput");
        assert!(thr > 0.0 && thr.is_finite(), "{r}");
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
}

#[test]
fn bad_flag_value_exits_2() {
    let out = fanbench(&["--wait", "nope"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
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
