//! The whole report as JSON (`--json`).

use std::path::Path;

use crate::report::Report;

pub fn write_json(path: &Path, report: &Report<'_>) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}
