//! How numbers read in tables, the same in the headless output and on the dashboard.

/// Bytes as B, KiB or MiB.
pub fn bytes(n: usize) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// A share in [0,1] as a percentage with two decimals: `98.91 %`.
pub fn percent(share: f64) -> String {
    format!("{:.2} %", 100.0 * share)
}

/// Seconds with two decimals, or `-` when unknown.
pub fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "-".into(), |s| format!("{s:.2}"))
}

/// An age in seconds as the largest whole unit: `42 s`, `5 min`, `3 h`, `2 d`.
pub fn age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    }
}

/// Lines of an aligned table: `header` then `rows`; columns listed in `right` are right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> Vec<String> {
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (s, &w))| {
                if right.contains(&c) {
                    format!("{s:>w$}")
                } else {
                    format!("{s:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(2048), "2.0 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(percent(0.98912), "98.91 %");
        assert_eq!(seconds(None), "-");
        assert_eq!(age(7300), "2 h");
    }

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["cnn".to_string(), "99.10 %".to_string()],
            vec!["logreg".to_string(), "9.50 %".to_string()],
        ];
        let lines = table(&["model", "accuracy"], &rows, &[1]);
        assert_eq!(lines[0], "model   accuracy");
        assert_eq!(lines[1], "cnn      99.10 %");
        assert_eq!(lines[2], "logreg    9.50 %");
    }
}
