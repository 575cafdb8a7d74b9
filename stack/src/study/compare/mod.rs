//! `stack compare <run-A> <run-B>`: the point of the study, two runs of the same k6 script side by side.
//!
//! [`compare`] reads both runs through [`crate::study::record`] (so a run of another implementation that
//! follows the documented format compares as well), and for every scenario they share sets p50,
//! p99, throughput, and each process's mean CPU and peak memory of A beside B, with B/A. It marks a
//! difference as beyond the noise when the runs' repeats say so ([`Verdict`]), lists the scenarios
//! only one run has, and writes an HTML page with the two latency distributions overlaid.
//!
//! This module is the comparison itself (the rows and their verdicts); [`table`] prints it for the
//! terminal and [`page`] draws it as HTML. The statistics it uses live with the others, in
//! [`crate::study::bench::stats`].

mod page;
mod table;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::study::{
    bench::stats::welch_p,
    page::MIB,
    record::{Results, Run, ScenarioResult, Stat},
};

/// Two-sided significance level of Welch's t-test.
const ALPHA: f64 = 0.05;

pub const RULE: &str = "beyond the noise (*): both runs have at least 2 repeats and the 95 % confidence \
intervals of the two means do not overlap, or both have at least 3 repeats and Welch's t-test over the \
per-repeat values gives p < 0.05 (two-sided)";

/// Compares run `a` with run `b`, writes the HTML page to `out`, and returns the comparison.
pub fn compare(a: &Path, b: &Path, out: &Path) -> Result<Comparison> {
    let run_a = Run::read(a)?;
    let run_b = Run::read(b)?;
    let results_a = results_of(&run_a)?;
    let results_b = results_of(&run_b)?;
    let names_a: BTreeSet<&String> = results_a.scenarios.keys().collect();
    let names_b: BTreeSet<&String> = results_b.scenarios.keys().collect();
    let scenarios = names_a
        .intersection(&names_b)
        .map(|name| {
            compare_scenario(
                name,
                &results_a.scenarios[name.as_str()],
                &results_b.scenarios[name.as_str()],
            )
        })
        .collect();
    let comparison = Comparison {
        a: describe(&run_a),
        b: describe(&run_b),
        scenarios,
        only_in_a: names_a.difference(&names_b).map(|n| (*n).clone()).collect(),
        only_in_b: names_b.difference(&names_a).map(|n| (*n).clone()).collect(),
        html: out.to_path_buf(),
    };
    let page = page::render(&comparison, results_a, results_b);
    std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
    Ok(comparison)
}

fn results_of(run: &Run) -> Result<&Results> {
    run.results.as_ref().with_context(|| {
        format!(
            "{} has no results.json: the run is under way or stopped before its end",
            run.dir.display()
        )
    })
}

fn describe(run: &Run) -> String {
    format!(
        "{} ({}, profile {}, {} repeat{})",
        run.meta.run_id,
        run.meta.implementation,
        run.meta.profile,
        run.meta.repeats,
        if run.meta.repeats == 1 { "" } else { "s" }
    )
}

/// Both runs, scenario by scenario.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    /// The scenarios both runs have.
    pub scenarios: Vec<ScenarioComparison>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    /// Where the HTML page was written.
    pub html: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ScenarioComparison {
    pub scenario: String,
    pub rows: Vec<Row>,
}

impl ScenarioComparison {
    /// p50, p99 and throughput.
    pub fn headline(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|row| row.figure.process().is_none())
            .collect()
    }

    /// Each process's CPU row with its memory row.
    pub fn by_process(&self) -> Vec<(&Row, &Row)> {
        let rss = |process: &str| {
            self.rows
                .iter()
                .find(|row| matches!(&row.figure, Figure::Rss(of) if of == process))
        };
        self.rows
            .iter()
            .filter_map(|cpu| match &cpu.figure {
                Figure::Cpu(process) => Some((cpu, rss(process)?)),
                _ => None,
            })
            .collect()
    }
}

/// What a row compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figure {
    P50,
    P99,
    Throughput,
    /// A process's mean CPU, in % of one core.
    Cpu(String),
    /// A process's peak resident memory.
    Rss(String),
}

impl Figure {
    /// How the figure is labelled in the tables.
    pub fn label(&self) -> String {
        match self {
            Self::P50 => "p50 ms".into(),
            Self::P99 => "p99 ms".into(),
            Self::Throughput => "throughput /s".into(),
            Self::Cpu(process) => format!("CPU % {process}"),
            Self::Rss(process) => format!("RSS MiB {process}"),
        }
    }

    /// The process a per-process figure is about.
    pub fn process(&self) -> Option<&str> {
        match self {
            Self::Cpu(process) | Self::Rss(process) => Some(process),
            Self::P50 | Self::P99 | Self::Throughput => None,
        }
    }

    /// What the recorded value is multiplied by for display (bytes to MiB).
    pub fn scale(&self) -> f64 {
        match self {
            Self::Rss(_) => MIB,
            _ => 1.0,
        }
    }
}

/// One figure of one scenario in both runs; a side is `None` when that run did not record it
/// (a process the other implementation does not have).
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: Figure,
    pub a: Option<Stat>,
    pub b: Option<Stat>,
    pub verdict: Verdict,
}

impl Row {
    /// B's mean over A's.
    pub fn ratio(&self) -> Option<f64> {
        let (a, b) = (self.a.as_ref()?, self.b.as_ref()?);
        (a.mean != 0.0).then(|| b.mean / a.mean)
    }

    /// B/A to two decimals, marked `*` when beyond the noise; `–` when there is no ratio.
    fn ratio_text(&self) -> String {
        let ratio = self.ratio().map_or("–".into(), |r| format!("{r:.2}"));
        if self.verdict.beyond_noise() {
            format!("{ratio} *")
        } else {
            ratio
        }
    }
}

/// Whether a difference stands out from the run-to-run noise. See [`RULE`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The 95 % intervals do not overlap (with Welch's p when both runs have 3 repeats or more).
    Disjoint { welch_p: Option<f64> },
    /// The intervals overlap, but Welch's t-test says the means differ.
    Welch { p: f64 },
    /// Within the noise (Welch's p when it could be computed).
    Noise { welch_p: Option<f64> },
    /// A run has one repeat, or a side is missing: no noise to judge against.
    Unknown,
}

impl Verdict {
    pub fn beyond_noise(self) -> bool {
        matches!(self, Verdict::Disjoint { .. } | Verdict::Welch { .. })
    }
}

pub fn judge(a: &Stat, b: &Stat) -> Verdict {
    let (Some([a_low, a_high]), Some([b_low, b_high])) = (a.ci95, b.ci95) else {
        return Verdict::Unknown;
    };
    let welch_p = (a.runs.len() >= 3 && b.runs.len() >= 3).then(|| welch_p(&a.runs, &b.runs));
    if a_high < b_low || b_high < a_low {
        Verdict::Disjoint { welch_p }
    } else {
        match welch_p {
            Some(p) if p < ALPHA => Verdict::Welch { p },
            _ => Verdict::Noise { welch_p },
        }
    }
}

fn compare_scenario(name: &str, a: &ScenarioResult, b: &ScenarioResult) -> ScenarioComparison {
    let row = |figure: Figure, a: Option<&Stat>, b: Option<&Stat>| Row {
        verdict: match (a, b) {
            (Some(a), Some(b)) => judge(a, b),
            _ => Verdict::Unknown,
        },
        figure,
        a: a.cloned(),
        b: b.cloned(),
    };
    let mut rows = vec![
        row(Figure::P50, a.p50_ms.as_ref(), b.p50_ms.as_ref()),
        row(Figure::P99, a.p99_ms.as_ref(), b.p99_ms.as_ref()),
        row(Figure::Throughput, Some(&a.rate_per_s), Some(&b.rate_per_s)),
    ];
    let processes: BTreeSet<&String> = a.resources.keys().chain(b.resources.keys()).collect();
    for process in &processes {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        rows.push(row(
            Figure::Cpu((*process).clone()),
            ra.map(|r| &r.cpu_mean_percent),
            rb.map(|r| &r.cpu_mean_percent),
        ));
    }
    for process in &processes {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        rows.push(row(
            Figure::Rss((*process).clone()),
            ra.map(|r| &r.rss_max_bytes),
            rb.map(|r| &r.rss_max_bytes),
        ));
    }
    ScenarioComparison {
        scenario: name.into(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(runs: &[f64], ci95: Option<[f64; 2]>) -> Stat {
        Stat {
            mean: runs.iter().sum::<f64>() / runs.len() as f64,
            ci95,
            runs: runs.to_vec(),
        }
    }

    #[test]
    fn intervals_that_do_not_overlap_are_beyond_the_noise() {
        let a = stat(&[2.0, 2.2], Some([1.9, 2.3]));
        let b = stat(&[3.0, 3.2], Some([2.9, 3.3]));
        assert!(judge(&a, &b).beyond_noise());
    }

    #[test]
    fn overlapping_intervals_with_two_repeats_are_noise() {
        let a = stat(&[2.0, 2.4], Some([1.0, 3.4]));
        let b = stat(&[2.3, 2.7], Some([1.3, 3.7]));
        assert_eq!(judge(&a, &b), Verdict::Noise { welch_p: None });
    }

    #[test]
    fn one_repeat_gives_no_verdict() {
        let a = stat(&[2.0], None);
        let b = stat(&[9.0], None);
        assert_eq!(judge(&a, &b), Verdict::Unknown);
    }
}
