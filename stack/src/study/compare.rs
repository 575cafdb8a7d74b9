//! `stack compare <run-A> <run-B>`: the point of the study, two runs of the same k6 script side by side.
//!
//! [`compare`] reads both runs through [`crate::study::record`] (so a run of another implementation that
//! follows the documented format compares as well), and for every scenario they share sets p50,
//! p99, throughput, and each process's mean CPU and peak memory of A beside B, with B/A. It marks a
//! difference as beyond the noise when the runs' repeats say so ([`Verdict`]), lists the scenarios
//! only one run has, and writes an HTML page with the two latency distributions overlaid.

use std::{
    collections::BTreeSet,
    fmt::{self, Write as _},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::{
    scenario::Scenario,
    study::{
        page::{escape, number, stat_cell, Bar, BarSeries, Chart, Page, Series, MIB},
        record::{Results, Run, ScenarioResult, Stat},
        report::{distribution_points, percentile_plot},
    },
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
    let page = render(&comparison, results_a, results_b);
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
        self.rows.iter().filter(|row| row.process().is_none()).collect()
    }

    /// Each process's CPU row with its memory row.
    pub fn by_process(&self) -> Vec<(&Row, &Row)> {
        let rss = |process: &str| {
            self.rows
                .iter()
                .find(|row| row.figure.strip_prefix(RSS) == Some(process))
        };
        self.rows
            .iter()
            .filter_map(|cpu| {
                let process = cpu.figure.strip_prefix(CPU)?;
                Some((cpu, rss(process)?))
            })
            .collect()
    }
}

/// One figure of one scenario in both runs; a side is `None` when that run did not record it
/// (a process the other implementation does not have).
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub a: Option<Stat>,
    pub b: Option<Stat>,
    /// Multiplies the recorded value for display (bytes to MiB).
    pub scale: f64,
    pub verdict: Verdict,
}

/// How the per-process figures are named: `CPU % <process>`, `RSS MiB <process>`.
const CPU: &str = "CPU % ";
const RSS: &str = "RSS MiB ";

impl Row {
    /// The process a per-process figure is about.
    pub fn process(&self) -> Option<&str> {
        self.figure
            .strip_prefix(CPU)
            .or_else(|| self.figure.strip_prefix(RSS))
    }

    /// B's mean over A's.
    pub fn ratio(&self) -> Option<f64> {
        let (a, b) = (self.a.as_ref()?, self.b.as_ref()?);
        (a.mean != 0.0).then(|| b.mean / a.mean)
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

/// Two-sided p-value of Welch's unequal-variances t-test.
pub fn welch_p(a: &[f64], b: &[f64]) -> f64 {
    let (mean_a, var_a) = mean_and_variance(a);
    let (mean_b, var_b) = mean_and_variance(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (sa, sb) = (var_a / na, var_b / nb);
    if sa + sb == 0.0 {
        // No spread at all: the means are equal or they certainly differ.
        return if mean_a == mean_b { 1.0 } else { 0.0 };
    }
    let t = (mean_a - mean_b) / (sa + sb).sqrt();
    let df = (sa + sb).powi(2) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => 2.0 * (1.0 - dist.cdf(t.abs())),
        Err(_) => 1.0,
    }
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

fn compare_scenario(name: &str, a: &ScenarioResult, b: &ScenarioResult) -> ScenarioComparison {
    let row = |figure: String, a: Option<&Stat>, b: Option<&Stat>, scale: f64| Row {
        verdict: match (a, b) {
            (Some(a), Some(b)) => judge(a, b),
            _ => Verdict::Unknown,
        },
        figure,
        a: a.cloned(),
        b: b.cloned(),
        scale,
    };
    let mut rows = vec![
        row("p50 ms".into(), Some(&a.p50_ms), Some(&b.p50_ms), 1.0),
        row("p99 ms".into(), Some(&a.p99_ms), Some(&b.p99_ms), 1.0),
        row(
            "throughput /s".into(),
            Some(&a.rate_per_s),
            Some(&b.rate_per_s),
            1.0,
        ),
    ];
    let processes: BTreeSet<&String> = a.resources.keys().chain(b.resources.keys()).collect();
    for process in &processes {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        rows.push(row(
            format!("{CPU}{process}"),
            ra.map(|r| &r.cpu_mean_percent),
            rb.map(|r| &r.cpu_mean_percent),
            1.0,
        ));
    }
    for process in &processes {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        rows.push(row(
            format!("{RSS}{process}"),
            ra.map(|r| &r.rss_max_bytes),
            rb.map(|r| &r.rss_max_bytes),
            MIB,
        ));
    }
    ScenarioComparison {
        scenario: name.into(),
        rows,
    }
}

/// `2.61 ±0.21`: the mean and the half-width of its 95 % interval.
fn text_cell(stat: Option<&Stat>, scale: f64) -> String {
    match stat {
        None => "–".into(),
        Some(stat) => match stat.ci95 {
            Some([low, high]) => format!(
                "{} ±{}",
                number(stat.mean * scale),
                number((high - low) / 2.0 * scale)
            ),
            None => number(stat.mean * scale),
        },
    }
}

fn ratio_cell(row: &Row) -> String {
    let ratio = row.ratio().map_or("–".into(), |r| format!("{r:.2}"));
    if row.verdict.beyond_noise() {
        format!("{ratio} *")
    } else {
        ratio
    }
}

/// B/A for the terminal: the mark, or as much space, so the column stays aligned.
fn text_ratio(row: &Row) -> String {
    let ratio = ratio_cell(row);
    if row.verdict.beyond_noise() {
        ratio
    } else {
        ratio + "  "
    }
}

/// Columns aligned, the first to the left and the figures to the right.
fn write_table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: Vec<Vec<String>>) -> fmt::Result {
    let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|row| row.get(i).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::from(" ");
        for (i, cell) in row.iter().enumerate() {
            let width = widths[i];
            if i == 0 {
                let _ = write!(line, " {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The table `stack compare` prints.
impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "A = {}", self.a)?;
        writeln!(f, "B = {}", self.b)?;
        writeln!(
            f,
            "figures: mean ±half-width of its 95 % interval; CPU: mean % of one core; RSS: peak"
        )?;
        writeln!(f, "{RULE}")?;
        for scenario in &self.scenarios {
            writeln!(
                f,
                "\n{} {}",
                scenario.scenario,
                Scenario::title_of(&scenario.scenario)
            )?;
            let headline = scenario.headline().into_iter().map(|row| {
                vec![
                    row.figure.clone(),
                    text_cell(row.a.as_ref(), row.scale),
                    text_cell(row.b.as_ref(), row.scale),
                    text_ratio(row),
                ]
            });
            write_table(f, &["figure", "A", "B", "B/A"], headline.collect())?;
            let by_process = scenario.by_process().into_iter().map(|(cpu, rss)| {
                vec![
                    cpu.process().unwrap_or_default().to_string(),
                    text_cell(cpu.a.as_ref(), cpu.scale),
                    text_cell(cpu.b.as_ref(), cpu.scale),
                    text_ratio(cpu),
                    text_cell(rss.a.as_ref(), rss.scale),
                    text_cell(rss.b.as_ref(), rss.scale),
                    text_ratio(rss),
                ]
            });
            let header = [
                "process",
                "CPU % A",
                "CPU % B",
                "B/A",
                "RSS MiB A",
                "RSS MiB B",
                "B/A",
            ];
            write_table(f, &header, by_process.collect())?;
        }
        if !self.only_in_a.is_empty() {
            writeln!(f, "\nonly in A (not compared): {}", self.only_in_a.join(", "))?;
        }
        if !self.only_in_b.is_empty() {
            writeln!(f, "\nonly in B (not compared): {}", self.only_in_b.join(", "))?;
        }
        Ok(())
    }
}

fn render(comparison: &Comparison, a: &Results, b: &Results) -> String {
    let mut page = Page::new("stack comparison");
    page.html(&format!(
        r#"<h1>Comparison</h1><p class="subtitle"><b>A</b> = {}<br><b>B</b> = {}</p><p class="note">Each cell: the mean over the repeats, its 95 % interval in brackets. B/A is B's mean over A's, marked <span class="beyond">*</span> when {}.</p>"#,
        escape(&comparison.a),
        escape(&comparison.b),
        escape(RULE.trim_start_matches("beyond the noise (*): ")),
    ));
    if !comparison.only_in_a.is_empty() || !comparison.only_in_b.is_empty() {
        let mut html = String::from(r#"<div class="warnings"><b>Not compared</b><ul>"#);
        for (side, names) in [("A", &comparison.only_in_a), ("B", &comparison.only_in_b)] {
            if !names.is_empty() {
                html.push_str(&format!("<li>only in {side}: {}</li>", escape(&names.join(", "))));
            }
        }
        html.push_str("</ul></div>");
        page.html(&html);
    }
    for scenario in &comparison.scenarios {
        let name = &scenario.scenario;
        let (Some(sa), Some(sb)) = (a.scenarios.get(name), b.scenarios.get(name)) else {
            continue;
        };
        page.html(&format!("<h2>{} {}</h2>", escape(name), Scenario::title_of(name)));
        page.grid(false);
        page.chart(
            &format!("{name}-percentiles"),
            Chart::Xy(percentile_plot(
                &format!("{name}: latency by percentile, A and B"),
                vec![
                    Series::line("A", distribution_points(sa), 0).dots(),
                    Series::line("B", distribution_points(sb), 1).dots(),
                ],
            )),
            "Each run's distribution pooled over its repeats; each decade to the right is one more nine.",
        );
        let cpu_rows: Vec<&Row> = scenario
            .rows
            .iter()
            .filter(|r| r.figure.starts_with(CPU))
            .collect();
        let mean = |stat: &Option<Stat>| stat.as_ref().map_or(0.0, |s| s.mean);
        page.chart(
            &format!("{name}-cpu"),
            Chart::Bar(Bar {
                title: format!("{name}: mean CPU by process, A and B"),
                labels: cpu_rows
                    .iter()
                    .map(|r| r.process().unwrap_or_default().to_string())
                    .collect(),
                series: vec![
                    BarSeries {
                        label: "A".into(),
                        values: cpu_rows.iter().map(|r| mean(&r.a)).collect(),
                        color: 0,
                    },
                    BarSeries {
                        label: "B".into(),
                        values: cpu_rows.iter().map(|r| mean(&r.b)).collect(),
                        color: 1,
                    },
                ],
                value_title: "% of one core".into(),
            }),
            "Within each scenario's measured windows, averaged over the repeats.",
        );
        page.end_grid();
        page.html(&tables(scenario));
    }
    page.finish()
}

/// A scenario's figures as two HTML tables: the headline figures, and CPU and memory by process.
fn tables(scenario: &ScenarioComparison) -> String {
    let cell =
        |row: &Row, stat: &Option<Stat>| stat.as_ref().map_or("–".into(), |s| stat_cell(s, row.scale));
    let ratio = |row: &Row| {
        format!(
            "<td{}>{}</td>",
            if row.verdict.beyond_noise() {
                r#" class="beyond""#
            } else {
                ""
            },
            ratio_cell(row)
        )
    };
    let mut html = String::from(
        r#"<div class="tables"><table><tr><th>figure</th><th>A</th><th>B</th><th>B/A</th></tr>"#,
    );
    for row in scenario.headline() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            escape(&row.figure),
            cell(row, &row.a),
            cell(row, &row.b),
            ratio(row)
        );
    }
    html.push_str(
        "</table><table><tr><th>process</th><th>CPU % A</th><th>CPU % B</th><th>B/A</th>\
         <th>RSS MiB A</th><th>RSS MiB B</th><th>B/A</th></tr>",
    );
    for (cpu, rss) in scenario.by_process() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td>{}</tr>",
            escape(cpu.process().unwrap_or_default()),
            cell(cpu, &cpu.a),
            cell(cpu, &cpu.b),
            ratio(cpu),
            cell(rss, &rss.a),
            cell(rss, &rss.b),
            ratio(rss)
        );
    }
    html.push_str("</table></div>");
    html
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

    #[test]
    fn welch_matches_a_textbook_value() {
        // t = -4.958 on 5.83 degrees of freedom (Welch-Satterthwaite): p = 0.00277, the value of
        // R's t.test(a, b) (integrated numerically to check).
        let p = welch_p(&[19.1, 20.3, 21.0, 19.8], &[22.4, 21.9, 23.5, 22.8]);
        assert!((p - 0.00277).abs() < 0.0001, "p = {p}");
    }
}
