//! Rows of the one table, verdicts against the goals, and the
//! machine description of `BENCHMARKS.md`.

use std::fmt::Write as _;

use clouddc_bench::stats::{Summary, summarize};

/// How a figure is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Ns,
    ReqPerS,
    Ratio,
    /// A fraction, printed as a percentage.
    Percent,
    Ms,
    Secs,
    MiB,
    Count,
}

impl Unit {
    pub(crate) fn fmt(self, x: f64) -> String {
        match self {
            Self::Ns => format!("{x:.0} ns"),
            Self::ReqPerS => format!("{x:.0} req/s"),
            Self::Ratio => format!("{x:.2}×"),
            Self::Percent => format!("{:.2} %", x * 100.0),
            Self::Ms => format!("{x:.1} ms"),
            Self::Secs => format!("{x:.1} s"),
            Self::MiB => format!("{x:.1} MiB"),
            Self::Count => format!("{x:.0}"),
        }
    }

    /// A distance between two figures in this unit.
    fn fmt_diff(self, d: f64) -> String {
        match self {
            Self::Ratio => format!("{d:.2}"),
            Self::Percent => format!("{:.2} points", d * 100.0),
            _ => self.fmt(d),
        }
    }
}

/// A goal of the issue, on the median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Goal {
    AtMost(f64),
    AtLeast(f64),
    None,
}

/// Whether a goal was met, and by how much it was missed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    Met,
    Missed(f64),
    NoGoal,
    NotMeasured,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) item: &'static str,
    pub(crate) what: String,
    pub(crate) median: String,
    pub(crate) spread: String,
    pub(crate) n: String,
    pub(crate) goal: String,
    pub(crate) result: String,
    pub(crate) verdict: Verdict,
    pub(crate) summary: Option<Summary>,
}

impl Row {
    /// A figure measured over rounds: median, min–max, verdict.
    pub(crate) fn measured(
        item: &'static str,
        what: impl Into<String>,
        samples: &[f64],
        unit: Unit,
        goal: Goal,
    ) -> Self {
        let Some(s) = summarize(samples) else {
            return Self::text(item, what, "no samples");
        };
        let (verdict, crosses) = judge(s, goal);
        let result = match verdict {
            Verdict::Met => "met".to_owned(),
            Verdict::Missed(d) => format!("missed by {}", unit.fmt_diff(d)),
            Verdict::NoGoal | Verdict::NotMeasured => "—".to_owned(),
        };
        let result = if crosses {
            format!("{result} (spread crosses the goal)")
        } else {
            result
        };
        let spread = if s.n > 1 {
            format!("{} – {}", unit.fmt(s.min), unit.fmt(s.max))
        } else {
            "— (one run)".to_owned()
        };
        Self {
            item,
            what: what.into(),
            median: unit.fmt(s.median),
            spread,
            n: s.n.to_string(),
            goal: goal_text(goal, unit),
            result,
            verdict,
            summary: Some(s),
        }
    }

    /// A figure that does not vary from run to run (a size, a count).
    pub(crate) fn exact(item: &'static str, what: impl Into<String>, x: f64, unit: Unit) -> Self {
        let mut r = Self::measured(item, what, &[x], unit, Goal::None);
        r.spread = "— (exact)".to_owned();
        r
    }

    /// A row without a figure: not measured, skipped, or a plain fact.
    pub(crate) fn text(
        item: &'static str,
        what: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            item,
            what: what.into(),
            median: "—".to_owned(),
            spread: "—".to_owned(),
            n: "0".to_owned(),
            goal: "—".to_owned(),
            result: why.into(),
            verdict: Verdict::NotMeasured,
            summary: None,
        }
    }

    /// The median, when measured.
    pub(crate) fn median(&self) -> Option<f64> {
        self.summary.map(|s| s.median)
    }
}

fn judge(s: Summary, goal: Goal) -> (Verdict, bool) {
    match goal {
        Goal::AtMost(g) if s.median <= g => (Verdict::Met, s.max > g),
        Goal::AtMost(g) => (Verdict::Missed(s.median - g), s.min <= g),
        Goal::AtLeast(g) if s.median >= g => (Verdict::Met, s.min < g),
        Goal::AtLeast(g) => (Verdict::Missed(g - s.median), s.max >= g),
        Goal::None => (Verdict::NoGoal, false),
    }
}

fn goal_text(goal: Goal, unit: Unit) -> String {
    match goal {
        Goal::AtMost(g) => format!("≤ {}", unit.fmt(g)),
        Goal::AtLeast(g) => format!("≥ {}", unit.fmt(g)),
        Goal::None => "—".to_owned(),
    }
}

/// The rows of one item and what to say about them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub(crate) rows: Vec<Row>,
    /// Paragraphs for the discussion, in Markdown.
    pub(crate) notes: Vec<String>,
}

/// The one table, in Markdown.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | Measurement | Median | Spread (min – max) | n | Goal | Result |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let cell = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|")
    };
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.item,
            cell(&r.what),
            r.median,
            r.spread,
            r.n,
            r.goal,
            cell(&r.result)
        );
    }
    out
}

/// CPU, cores, memory, kernel and load, from `/proc` where it exists.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let processors = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(
            || "unknown".to_owned(),
            |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| std::env::consts::OS.to_owned(), |s| s.trim().to_owned());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "rustc (version unknown)".to_owned());
    format!(
        "{model}, {processors} logical CPUs in /proc/cpuinfo, nproc {nproc}, {mem} RAM; \
         Linux {kernel}; {rustc}"
    )
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a load average line says the machine had other work: a
/// 1-minute load of half the CPUs or more.
pub(crate) fn busy(load: &str) -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    load.split_whitespace()
        .next()
        .and_then(|l| l.parse::<f64>().ok())
        .is_some_and(|l| l >= cpus / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_median_and_flag_the_spread() {
        let r = Row::measured("1", "x", &[2.4, 2.5, 2.6], Unit::Ratio, Goal::AtMost(1.5));
        assert_eq!(r.median, "2.50×");
        assert_eq!(r.result, "missed by 1.00");
        assert!(matches!(r.verdict, Verdict::Missed(_)));
        let r = Row::measured(
            "2",
            "x",
            &[0.94, 0.97, 0.99],
            Unit::Ratio,
            Goal::AtLeast(0.95),
        );
        assert_eq!(r.result, "met (spread crosses the goal)");
        let r = Row::measured("3", "x", &[0.02], Unit::Percent, Goal::AtMost(0.01));
        assert_eq!(r.result, "missed by 1.00 points");
        assert_eq!(r.spread, "— (one run)");
        let r = Row::measured("4", "x", &[1.0, 2.0], Unit::Ns, Goal::None);
        assert_eq!((r.result.as_str(), r.verdict), ("—", Verdict::NoGoal));
    }

    #[test]
    fn table_escapes_pipes() {
        let t = table(&[Row::text("5", "a | b", "not\nmeasured")]);
        assert!(t.contains("a \\| b"), "{t}");
        assert!(t.contains("not measured"), "{t}");
        assert_eq!(t.lines().count(), 3);
    }
}
