//! The gpu-check report as Markdown: the machine, the agreement table, the speed table, the
//! verdict.

use std::fmt::Write;

use super::Report;

/// `2.31 s`, `0.84 ms`, `12.5 µs`: three significant figures in a readable unit.
fn duration(seconds: f64) -> String {
    let (value, unit) = if seconds >= 1.0 {
        (seconds, "s")
    } else if seconds >= 1e-3 {
        (seconds * 1e3, "ms")
    } else {
        (seconds * 1e6, "µs")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// `0`, `3` (counts) or `2.1e-7`.
pub(super) fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e6 {
        format!("{x}")
    } else {
        format!("{x:.2e}")
    }
}

impl Report {
    /// The report, with `device` (`cuda:0`) naming the device in headings.
    pub fn markdown(&self, device: &str) -> String {
        let mut md = String::new();
        // Writing to a String cannot fail.
        let _ = self.write(&mut md, device);
        md
    }

    fn write(&self, md: &mut String, device: &str) -> std::fmt::Result {
        writeln!(md, "# classgen gpu-check\n")?;
        writeln!(md, "- classgen {}", env!("CARGO_PKG_VERSION"))?;
        writeln!(md, "- CPU: {}", self.cpu)?;
        writeln!(md, "- {device}: {}", self.device)?;
        writeln!(md, "- agreement checks on: {}", self.checks_data)?;
        writeln!(md, "- speed figures on: {}", self.figures_data)?;
        writeln!(md, "- took {:.1} s\n", self.seconds)?;

        writeln!(md, "## Agreement: CPU vs {device}\n")?;
        writeln!(md, "| check | measure | measured | tolerance | result |")?;
        writeln!(md, "| --- | --- | --- | --- | --- |")?;
        for c in &self.checks {
            writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                c.name,
                c.measure,
                number(c.measured),
                number(c.tolerance),
                if c.passed() { "pass" } else { "**FAIL**" }
            )?;
        }

        writeln!(md, "\n## Speed: CPU vs {device}\n")?;
        writeln!(md, "| what | CPU | {device} | CPU / {device} |")?;
        writeln!(md, "| --- | --- | --- | --- |")?;
        for f in &self.figures {
            writeln!(
                md,
                "| {}{} | {} | {} | {:.2}x |",
                f.what,
                if f.scaled { " *" } else { "" },
                duration(f.cpu_seconds),
                duration(f.device_seconds),
                f.cpu_seconds / f.device_seconds
            )?;
        }
        if self.figures.iter().any(|f| f.scaled) {
            writeln!(
                md,
                "\n\\* measured on {} and scaled linearly to the sizes named.",
                self.figures_data
            )?;
        }

        let (total, failed) = (self.checks.len(), self.failed());
        writeln!(
            md,
            "\n**{} of {total} checks passed.**{}",
            total - failed,
            if failed > 0 {
                " The failed ones are marked FAIL above."
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_three_figures() {
        assert_eq!(duration(2.3146), "2.31 s");
        assert_eq!(duration(123.4), "123 s");
        assert_eq!(duration(0.000_84), "840 µs");
        assert_eq!(duration(0.0123), "12.3 ms");
    }

    #[test]
    fn counts_stay_whole_and_differences_get_exponents() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.13e-7), "2.13e-7");
        assert_eq!(number(0.02), "2.00e-2");
    }
}
