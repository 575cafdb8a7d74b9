//! `stack compare`: the point of the study, "B is X % slower than A on scenario S, ± Y", said only as
//! far as the two records support it.
//!
//! Two records compare in one of two designs ([`Pairing`]). Two run directories made at different
//! times ([`compare_runs`]) are independent samples: each headline row is Welch's test on the
//! logarithms, the weaker design, and labelled so. A study directory of interleaved rounds
//! ([`compare_study`]) pairs round i of A with round i of B: each headline row is the paired t on the
//! per-round log ratios B/A. The statistics themselves are [`crate::study::inference`]'s; a verdict
//! needs [`inference::MIN_ROUNDS`] runs on each side.
//!
//! The headline rows of every scenario (p50, p99, CPU per request, and throughput where the run was
//! closed-loop) are one declared family: Holm's correction runs over all of them, each row's interval
//! is drawn at the level Holm tested it at, and the minimum effect is judged on that interval. An
//! open-loop run's throughput is the rate it was offered, its input, so it is shown without a verdict;
//! a capacity run's scenario figures are pooled over steps at many rates, so they get none either
//! (its steps and sustained rates are compared side by side). Every other row (each process's CPU
//! and memory) is shown with its ratio of means and no verdict. Each side's repeats are tested for a drift (Mann–Kendall); each run's own
//! warnings are carried over; capacity results are set side by side.
//!
//! Records that were not made the same way ([`matching`]) are refused unless the caller allows it,
//! and then the comparison carries the differences so that the table and the page can say so loudly.
//! This module builds the comparison; [`table`] prints it for the terminal and [`page`] draws it.

mod capacity;
mod matching;
mod page;
mod table;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

pub use capacity::{CapacityComparison, StepPair, FAILED_STEP};
pub use matching::Mismatch;

use crate::study::{
    inference::{self, Criteria, Design, Direction, Finding, Outcome, Resolution, Trend, Untestable},
    page::{why_withheld, MIB},
    record::{self, Results, Run, ScenarioResult, Stat, COST_FIGURE},
    warning::{self, Warning},
};

/// How `stack compare` was asked to judge and where it writes its page.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub out: PathBuf,
    pub criteria: Criteria,
    /// Go on when the records were not made the same way, and mark the comparison.
    pub allow_mismatch: bool,
}

/// Compares run `a` with run `b`, made at different times, and writes the page.
pub fn compare_runs(a: &Path, b: &Path, options: &CompareOptions) -> Result<Comparison> {
    build(Run::read(a)?, Run::read(b)?, Pairing::Separate, options)
}

/// Compares the two sides of an interleaved study directory (`study.json`, `a/`, `b/`).
pub fn compare_study(dir: &Path, options: &CompareOptions) -> Result<Comparison> {
    let study = record::read_study(dir)?;
    let run_a = Run::read(&dir.join(&study.a))?;
    let run_b = Run::read(&dir.join(&study.b))?;
    let rounds = study.rounds.len();
    for (side, run) in [(&study.a, &run_a), (&study.b, &run_b)] {
        let repeats = results_of(run)?.repeats as usize;
        if repeats != rounds {
            bail!(
                "{}: {side}/ holds {repeats} repeats but study.json lists {rounds} rounds: a round of this \
                 study is missing, so its pairs cannot be formed",
                dir.display()
            );
        }
    }
    let pairing = Pairing::Interleaved {
        seed: study.seed,
        rounds,
    };
    build(run_a, run_b, pairing, options)
}

fn build(run_a: Run, run_b: Run, pairing: Pairing, options: &CompareOptions) -> Result<Comparison> {
    let mismatches = matching::mismatches(&run_a.meta, &run_b.meta);
    if !mismatches.is_empty() && !options.allow_mismatch {
        bail!(matching::refusal(&mismatches));
    }
    let results_a = results_of(&run_a)?;
    let results_b = results_of(&run_b)?;
    let names_a: BTreeSet<&String> = results_a.scenarios.keys().collect();
    let names_b: BTreeSet<&String> = results_b.scenarios.keys().collect();
    // A scenario measured in capacity steps has figures pooled over every step's rate.
    let pooled = |name: &str| {
        [results_a, results_b].iter().any(|results| {
            results
                .capacity
                .as_ref()
                .is_some_and(|steps| steps.contains_key(name))
        })
    };
    let mut scenarios: Vec<ScenarioComparison> = names_a
        .intersection(&names_b)
        .map(|name| {
            compare_scenario(
                name,
                &results_a.scenarios[name.as_str()],
                &results_b.scenarios[name.as_str()],
                pairing,
                pooled(name),
            )
        })
        .collect();
    judge_headline_family(&mut scenarios, &options.criteria);
    let comparison = Comparison {
        a: ComparedRun::of(&run_a),
        b: ComparedRun::of(&run_b),
        pairing,
        criteria: options.criteria,
        mismatches,
        scenarios,
        capacity: capacity::compare_capacity(results_a, results_b),
        only_in_a: names_a.difference(&names_b).map(|n| (*n).clone()).collect(),
        only_in_b: names_b.difference(&names_a).map(|n| (*n).clone()).collect(),
        html: options.out.clone(),
    };
    let page = page::render(&comparison, results_a, results_b);
    std::fs::write(&options.out, page).with_context(|| format!("writing {}", options.out.display()))?;
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

/// Holm's correction over every scenario's headline rows at once, then the minimum effect.
fn judge_headline_family(scenarios: &mut [ScenarioComparison], criteria: &Criteria) {
    let mut headline: Vec<&mut Row> = scenarios
        .iter_mut()
        .flat_map(|scenario| scenario.rows.iter_mut())
        .filter(|row| row.outcome.is_some())
        .collect();
    let outcomes: Vec<Outcome> = headline.iter().filter_map(|row| row.outcome).collect();
    let findings = inference::judge_family(&outcomes, criteria);
    for (row, finding) in headline.iter_mut().zip(findings) {
        row.finding = Some(finding);
    }
}

/// How the two sides' runs were made, and so which test their rows get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Two runs made at different times: Welch's test, the weaker design.
    Separate,
    /// A and B in interleaved rounds (in an order shuffled from the study's seed): per-round ratios.
    Interleaved { seed: u64, rounds: usize },
}

impl Pairing {
    pub fn design(self) -> Design {
        match self {
            Self::Separate => Design::Separate,
            Self::Interleaved { .. } => Design::Interleaved,
        }
    }

    /// One sentence on the design, for the table and the page.
    pub fn describe(self) -> String {
        match self {
            Self::Separate => {
                "separate runs, the weaker design: A and B ran at different times, so anything \
                that drifted between them (machine load, the database's state) reads as a difference. \
                Each headline row is Welch's t-test on the logarithms of the repeats; the interval is \
                that of the ratio of geometric means."
                    .into()
            }
            Self::Interleaved { seed, rounds } => format!(
                "interleaved in {rounds} rounds (order shuffled from the study's seed {seed}): round i of \
                 A and of B ran side by side in time, so each headline row is the geometric mean of the \
                 per-round ratios B/A, its interval and p from Student's t on the per-round log ratios."
            ),
        }
    }

    fn outcome(self, a: &Stat, b: &Stat, resolution: Resolution) -> Outcome {
        match self {
            Self::Separate => inference::separate(&a.runs, &b.runs, resolution),
            Self::Interleaved { .. } => inference::interleaved(&a.runs, &b.runs, resolution),
        }
    }
}

/// One side of the comparison: what it is, and what its record warns about.
#[derive(Debug, Clone)]
pub struct ComparedRun {
    /// Run id, implementation, profile and repeats.
    pub label: String,
    pub warnings: Vec<Warning>,
}

impl ComparedRun {
    fn of(run: &Run) -> Self {
        Self {
            label: format!(
                "{} ({}, profile {}, {} repeat{})",
                run.meta.run_id,
                run.meta.implementation,
                run.meta.profile,
                run.meta.repeats,
                if run.meta.repeats == 1 { "" } else { "s" }
            ),
            warnings: warning::warnings(run),
        }
    }
}

/// Both runs, scenario by scenario.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: ComparedRun,
    pub b: ComparedRun,
    pub pairing: Pairing,
    pub criteria: Criteria,
    /// How the records differ in the way they were made; empty unless allowed (`--allow-mismatch`).
    pub mismatches: Vec<Mismatch>,
    /// The scenarios both runs have.
    pub scenarios: Vec<ScenarioComparison>,
    /// The scenarios both runs measured with the `capacity` profile.
    pub capacity: Vec<CapacityComparison>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    /// Where the HTML page was written.
    pub html: PathBuf,
}

impl Comparison {
    /// The headline rows that differ beyond the noise and the tolerance, with their scenario.
    pub fn findings(&self) -> Vec<(&str, &Row)> {
        self.scenarios
            .iter()
            .flat_map(|scenario| {
                scenario
                    .headline()
                    .into_iter()
                    .filter(|row| row.finding.is_some_and(|f| f.differs()))
                    .map(|row| (scenario.scenario.as_str(), row))
            })
            .collect()
    }

    /// Every drift found in a side's repeats, as `(scenario, trend)`.
    pub fn drifts(&self) -> Vec<(&str, &SideTrend)> {
        self.scenarios
            .iter()
            .flat_map(|scenario| {
                scenario
                    .trends
                    .iter()
                    .filter(|trend| matches!(trend.trend, Trend::Drift { .. }))
                    .map(|trend| (scenario.scenario.as_str(), trend))
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioComparison {
    pub scenario: String,
    pub rows: Vec<Row>,
    /// Headline figures whose repeats moved one way on a side: drifts, and runs too short to test
    /// that nonetheless rose or fell at every repeat.
    pub trends: Vec<SideTrend>,
}

impl ScenarioComparison {
    /// The judged rows: p50, p99, throughput, CPU per request.
    pub fn headline(&self) -> Vec<&Row> {
        self.rows.iter().filter(|row| row.figure.is_headline()).collect()
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

/// How one side's repeats of one headline figure moved over the run.
#[derive(Debug, Clone)]
pub struct SideTrend {
    /// "A" or "B".
    pub side: &'static str,
    pub figure: Figure,
    pub trend: Trend,
}

impl SideTrend {
    /// The sentence for the table and the page.
    pub fn describe(&self, scenario: &str) -> String {
        let what = format!("{scenario} {} of {}", self.figure.label(), self.side);
        match self.trend {
            Trend::Drift {
                direction, p, slope, ..
            } => format!(
                "{what} drifts {} over its repeats (Mann–Kendall p = {p:.3}, Sen's slope {:+.1} % per \
                 repeat): its repeats are not independent, and its interval means little",
                word(direction),
                slope * 100.0
            ),
            Trend::TooFew {
                n,
                smallest_p,
                monotone: Some(direction),
            } => format!(
                "{what} went {} at every one of its {n} repeats; too few repeats to test for a drift \
                 (no ordering of {n} values reaches p below {smallest_p:.2})",
                if direction == Direction::Higher {
                    "up"
                } else {
                    "down"
                }
            ),
            _ => format!("{what}: no drift"),
        }
    }
}

fn word(direction: Direction) -> &'static str {
    match direction {
        Direction::Higher => "higher",
        Direction::Lower => "lower",
    }
}

/// What a row compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figure {
    P50,
    P99,
    Throughput,
    /// The system's CPU-µs per completed request (services and database together).
    CpuPerRequest,
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
            Self::CpuPerRequest => "CPU µs/request".into(),
            Self::Cpu(process) => format!("CPU % {process}"),
            Self::Rss(process) => format!("RSS MiB {process}"),
        }
    }

    /// Whether the row is one of the declared headline family, judged with Holm's correction (an
    /// open-loop throughput is shown in the headline without a verdict).
    pub fn is_headline(&self) -> bool {
        self.process().is_none()
    }

    /// Percentiles are read from a histogram of 3 significant digits; the rest are as measured.
    pub fn resolution(&self) -> Resolution {
        match self {
            Self::P50 | Self::P99 => Resolution::Bucketed,
            _ => Resolution::Exact,
        }
    }

    /// Which way is better: a higher throughput, a lower everything else.
    pub fn better(&self) -> Direction {
        match self {
            Self::Throughput => Direction::Higher,
            _ => Direction::Lower,
        }
    }

    /// The process a per-process figure is about.
    pub fn process(&self) -> Option<&str> {
        match self {
            Self::Cpu(process) | Self::Rss(process) => Some(process),
            Self::P50 | Self::P99 | Self::Throughput | Self::CpuPerRequest => None,
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

/// One side's value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    Recorded(Stat),
    /// Not there, and why (a process the other implementation does not have, a percentile the run
    /// had too few samples for, a figure an older record does not carry).
    Missing(String),
}

impl Observed {
    pub fn stat(&self) -> Option<&Stat> {
        match self {
            Self::Recorded(stat) => Some(stat),
            Self::Missing(_) => None,
        }
    }

    /// Why the value is missing.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Recorded(_) => None,
            Self::Missing(reason) => Some(reason),
        }
    }

    fn from_option(stat: Option<&Stat>, reason: &str) -> Self {
        stat.map_or_else(
            || Self::Missing(reason.into()),
            |stat| Self::Recorded(stat.clone()),
        )
    }
}

/// One figure of one scenario in both runs.
#[derive(Debug, Clone)]
pub struct Row {
    pub figure: Figure,
    pub a: Observed,
    pub b: Observed,
    /// What the values allow to be said: headline rows only.
    pub outcome: Option<Outcome>,
    /// The row's verdict within the headline family: headline rows only.
    pub finding: Option<Finding>,
}

impl Row {
    /// B/A: the tested estimate for a headline row, else B's mean over A's.
    pub fn ratio(&self) -> Option<f64> {
        match self.outcome {
            Some(Outcome::Tested(estimate)) => Some(estimate.ratio),
            Some(Outcome::Exact { ratio, .. }) => ratio,
            _ => {
                let (a, b) = (self.a.stat()?, self.b.stat()?);
                (a.mean != 0.0).then(|| b.mean / a.mean)
            }
        }
    }

    /// The interval of B/A when the row was tested: at the level Holm's correction tested it at (at
    /// least 95 %) once judged, else its own 95 %.
    pub fn ratio_interval(&self) -> Option<[f64; 2]> {
        match (self.finding.and_then(|finding| finding.interval()), self.outcome) {
            (Some(interval), _) => Some(interval),
            (None, Some(Outcome::Tested(estimate))) => Some(estimate.ci95),
            _ => None,
        }
    }

    /// Whether the row is marked `*`: a difference beyond the noise and the tolerance.
    pub fn marked(&self) -> bool {
        self.finding.is_some_and(|finding| finding.differs())
    }

    /// B/A to two decimals, with its interval when tested; `–` when there is no ratio.
    pub fn ratio_text(&self) -> String {
        let ratio = two_decimals(self.ratio());
        match self.ratio_interval() {
            Some([low, high]) => format!("{ratio} ({low:.2}–{high:.2})"),
            None => ratio,
        }
    }

    /// The verdict in words; empty for a row shown without one.
    pub fn verdict_text(&self) -> String {
        let Some(finding) = self.finding else {
            return String::new();
        };
        let judged = |direction: Direction| {
            let quality = if direction == self.figure.better() {
                "better"
            } else {
                "worse"
            };
            format!("B {}, {quality}", word(direction))
        };
        match finding {
            Finding::Differs {
                direction, p_holm, ..
            } => format!("{} * (Holm p {p_holm:.3})", judged(direction)),
            Finding::Uncertain {
                direction, p_holm, ..
            } => format!(
                "{}, by an amount the interval leaves open around the tolerance (Holm p {p_holm:.3})",
                judged(direction)
            ),
            Finding::WithinTolerance { p_holm, .. } => format!("within tolerance (Holm p {p_holm:.3})"),
            Finding::Noise { p_holm, .. } => format!("noise (Holm p {p_holm:.2})"),
            Finding::Exact { direction } => match direction {
                Some(direction) => format!("{}: exact, neither side varied", judged(direction)),
                None => "within tolerance: exact, neither side varied".into(),
            },
            Finding::Untestable(why) => format!("untestable: {}", untestable_text(why)),
        }
    }
}

/// A ratio to two decimals, `–` when there is none.
pub fn two_decimals(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |r| format!("{r:.2}"))
}

fn untestable_text(why: Untestable) -> String {
    match why {
        Untestable::MissingSide => "a side has no value".into(),
        Untestable::TooFew { a, b, needed } => {
            format!("too few rounds: A has {a}, B {b}; a verdict needs {needed} on each side")
        }
        Untestable::UnequalRounds { a, b } => format!("A has {a} rounds, B {b}"),
        Untestable::NotPositive => "a value is 0, so there is no ratio".into(),
        Untestable::BelowResolution => {
            "every run ties within its histogram bucket (3 significant digits): no noise to test against"
                .into()
        }
        Untestable::PooledSteps => {
            "a capacity run's figure pooled over its steps; compare its steps and sustained rates".into()
        }
    }
}

/// Why an older record has no CPU per request.
const NO_COST: &str = "this record has no cost per request (written before it was measured)";

fn compare_scenario(
    name: &str,
    a: &ScenarioResult,
    b: &ScenarioResult,
    pairing: Pairing,
    pooled: bool,
) -> ScenarioComparison {
    let headline = |figure: Figure, a: Observed, b: Observed| {
        let outcome = match (a.stat(), b.stat()) {
            _ if pooled => Outcome::Untestable(Untestable::PooledSteps),
            (Some(a), Some(b)) => pairing.outcome(a, b, figure.resolution()),
            _ => Outcome::Untestable(Untestable::MissingSide),
        };
        Row {
            figure,
            a,
            b,
            outcome: Some(outcome),
            finding: None,
        }
    };
    let shown = |figure: Figure, a: Option<&Stat>, b: Option<&Stat>| Row {
        figure,
        a: Observed::from_option(a, "not in this run"),
        b: Observed::from_option(b, "not in this run"),
        outcome: None,
        finding: None,
    };
    // An open-loop run's throughput is the rate it was offered: the input, not a response to test.
    let throughput = if a.open_loop.is_some() || b.open_loop.is_some() {
        shown(Figure::Throughput, Some(&a.rate_per_s), Some(&b.rate_per_s))
    } else {
        headline(
            Figure::Throughput,
            Observed::Recorded(a.rate_per_s.clone()),
            Observed::Recorded(b.rate_per_s.clone()),
        )
    };
    let mut rows = vec![
        headline(Figure::P50, p50(a), p50(b)),
        headline(Figure::P99, p99(a), p99(b)),
        throughput,
        headline(Figure::CpuPerRequest, cpu_per_request(a), cpu_per_request(b)),
    ];
    let processes: BTreeSet<&String> = a.resources.keys().chain(b.resources.keys()).collect();
    for process in &processes {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        rows.push(shown(
            Figure::Cpu((*process).clone()),
            ra.map(|r| &r.cpu_mean_percent),
            rb.map(|r| &r.cpu_mean_percent),
        ));
    }
    for process in &processes {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        rows.push(shown(
            Figure::Rss((*process).clone()),
            ra.map(|r| &r.rss_max_bytes),
            rb.map(|r| &r.rss_max_bytes),
        ));
    }
    let trends = rows
        .iter()
        .filter(|row| row.figure.is_headline())
        .flat_map(|row| [("A", &row.a), ("B", &row.b)].map(|(side, observed)| (side, row, observed)))
        .filter_map(|(side, row, observed)| {
            let trend = inference::trend(&observed.stat()?.runs, inference::ALPHA);
            // Two values always move one way: that says nothing.
            let worth_saying = match trend {
                Trend::Drift { .. } => true,
                Trend::TooFew { n, monotone, .. } => n >= 3 && monotone.is_some(),
                _ => false,
            };
            worth_saying.then(|| SideTrend {
                side,
                figure: row.figure.clone(),
                trend,
            })
        })
        .collect();
    ScenarioComparison {
        scenario: name.into(),
        rows,
        trends,
    }
}

fn p50(scenario: &ScenarioResult) -> Observed {
    percentile(scenario, scenario.p50_ms.as_ref(), "p50_ms")
}

fn p99(scenario: &ScenarioResult) -> Observed {
    percentile(scenario, scenario.p99_ms.as_ref(), "p99_ms")
}

/// A percentile as the record has it, or why the record withheld it (too few samples).
fn percentile(scenario: &ScenarioResult, stat: Option<&Stat>, figure: &str) -> Observed {
    let reason = why_withheld(figure, &scenario.withheld).unwrap_or_else(|| "not in this run".into());
    Observed::from_option(stat, &reason)
}

/// The system's cost per request, or why the record has none (too little CPU to measure it, or
/// a record from before it was measured).
fn cpu_per_request(scenario: &ScenarioResult) -> Observed {
    let reason = why_withheld(COST_FIGURE, &scenario.withheld).unwrap_or_else(|| NO_COST.into());
    Observed::from_option(scenario.cost.as_ref().map(|cost| &cost.system_us), &reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::inference::Estimate;

    /// A tested row with B/A = `ratio` and p = `p` over 5 rounds.
    fn tested(p: f64, ratio: f64) -> Outcome {
        let df = 4.0;
        let t = statrs::distribution::StudentsT::new(0.0, 1.0, df)
            .map(|t| statrs::distribution::ContinuousCDF::inverse_cdf(&t, 1.0 - p / 2.0))
            .expect("t with 4 degrees of freedom");
        Outcome::Tested(Estimate::new(
            Design::Interleaved,
            ratio.ln(),
            ratio.ln().abs() / t,
            df,
            (5, 5),
        ))
    }

    fn row(figure: Figure, outcome: Option<Outcome>) -> Row {
        let stat = Stat {
            mean: 1.0,
            ci95: None,
            runs: vec![1.0],
        };
        Row {
            figure,
            a: Observed::Recorded(stat.clone()),
            b: Observed::Recorded(stat),
            outcome,
            finding: None,
        }
    }

    fn scenario(name: &str, rows: Vec<Row>) -> ScenarioComparison {
        ScenarioComparison {
            scenario: name.into(),
            rows,
            trends: vec![],
        }
    }

    #[test]
    fn holms_family_spans_the_headline_rows_of_every_scenario() {
        // Given two scenarios whose p99 alone would each differ at p = 0.03
        let mut scenarios = vec![
            scenario("s1", vec![row(Figure::P99, Some(tested(0.03, 1.3)))]),
            scenario("s2", vec![row(Figure::P99, Some(tested(0.03, 1.3)))]),
        ];
        // When the headline family is judged
        judge_headline_family(&mut scenarios, &Criteria::default());
        // Then both are corrected as one family of two, and neither is a finding
        for scenario in &scenarios {
            let finding = scenario.rows[0].finding;
            assert!(
                matches!(finding, Some(Finding::Noise { p_holm, .. }) if (p_holm - 0.06).abs() < 1e-12),
                "{finding:?}"
            );
        }
    }

    #[test]
    fn per_process_rows_get_no_verdict_and_no_mark() {
        // Given a scenario with a headline row and a process's CPU row that doubled
        let mut cpu = row(Figure::Cpu("postgres".into()), None);
        cpu.b = Observed::Recorded(Stat {
            mean: 2.0,
            ci95: None,
            runs: vec![2.0],
        });
        let mut scenarios = vec![scenario(
            "s1",
            vec![row(Figure::P50, Some(tested(0.001, 1.5))), cpu],
        )];
        // When the family is judged
        judge_headline_family(&mut scenarios, &Criteria::default());
        // Then the headline row is marked, and the process row has its ratio but no verdict
        let rows = &scenarios[0].rows;
        assert!(rows[0].marked());
        assert_eq!(rows[1].finding, None);
        assert!(!rows[1].marked());
        assert_eq!(rows[1].ratio_text(), "2.00");
        assert_eq!(rows[1].verdict_text(), "");
    }

    #[test]
    fn a_marked_row_says_whether_b_is_better_or_worse() {
        let mut scenarios = vec![scenario(
            "s1",
            vec![
                row(Figure::P99, Some(tested(0.001, 1.5))),
                row(Figure::Throughput, Some(tested(0.001, 1.5))),
            ],
        )];
        judge_headline_family(&mut scenarios, &Criteria::default());
        assert!(scenarios[0].rows[0]
            .verdict_text()
            .starts_with("B higher, worse *"));
        assert!(scenarios[0].rows[1]
            .verdict_text()
            .starts_with("B higher, better *"));
    }
}
