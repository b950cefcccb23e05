//! Saved results of other jobs (`runs/<id>-<kind>/result.json`), turned into text the
//! Ablation, Baselines and Confidence tabs show without recomputing anything.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// File a finished job writes into its run directory.
pub const RESULT: &str = "result.json";

/// A saved result, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultView {
    pub file: PathBuf,
    /// Lines of text: scalar fields as `key: value`, arrays of objects as aligned tables.
    pub lines: Vec<String>,
}

/// The newest `runs/*-<kind>*/result.json`, if any.
pub fn latest_result_file(runs: &Path, kind: &str) -> Option<PathBuf> {
    let tag = format!("-{kind}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(runs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(&tag))
        })
        .map(|p| p.join(RESULT))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.pop()
}

/// Reads and formats a result file; errors name the file.
pub fn load(file: &Path) -> Result<ResultView, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
    Ok(ResultView {
        file: file.to_path_buf(),
        lines: format_value(&value),
    })
}

/// Formats a JSON result: top-level scalars as `key: value`, arrays of objects as tables.
pub fn format_value(value: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::Array(rows) if rows.iter().all(Value::is_object) && !rows.is_empty() => {
                        lines.push(format!("{key}:"));
                        lines.extend(table(rows));
                    }
                    Value::Array(_) | Value::Object(_) => {
                        lines.push(format!("{key}: {}", compact(v)));
                    }
                    _ => lines.push(format!("{key}: {}", scalar(v))),
                }
            }
        }
        Value::Array(rows) if rows.iter().all(Value::is_object) => lines.extend(table(rows)),
        other => lines.push(compact(other)),
    }
    lines
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        Value::Null => "-".into(),
        other => compact(other),
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

/// An aligned text table of objects; columns are the keys of the first row (scalars only).
fn table(rows: &[Value]) -> Vec<String> {
    let Some(Value::Object(first)) = rows.first() else {
        return Vec::new();
    };
    let columns: Vec<&String> = first
        .iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .map(|(k, _)| k)
        .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row.get(c.as_str()).map(scalar).unwrap_or_default())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |items: Vec<String>| {
        items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = vec![format!(
        "  {}",
        line(columns.iter().map(|c| c.to_string()).collect())
    )];
    out.extend(cells.into_iter().map(|r| format!("  {}", line(r))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_scalars_and_tables() {
        let v: Value = serde_json::json!({
            "dataset": "mnist",
            "models": [
                {"model": "cnn", "accuracy": 0.9876},
                {"model": "knn", "accuracy": 0.97}
            ]
        });
        let lines = format_value(&v);
        assert_eq!(lines[0], "dataset: mnist");
        assert_eq!(lines[1], "models:");
        assert!(lines[2].contains("model") && lines[2].contains("accuracy"));
        assert!(
            lines[3].contains("cnn") && lines[3].contains("0.9876"),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn finds_the_newest_result_of_a_kind() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["20250101-000000-baselines", "20250102-000000-baselines"] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join(RESULT), "{}").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("20250103-000000-baselines")).unwrap();
        let found = latest_result_file(dir.path(), "baselines").unwrap();
        assert!(found.starts_with(dir.path().join("20250102-000000-baselines")));
        assert!(latest_result_file(dir.path(), "ablation").is_none());
    }
}
