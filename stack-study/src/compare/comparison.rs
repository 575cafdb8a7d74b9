//! What a comparison is made of: its two sides, its design ([`Pairing`]), and per scenario the rows
//! of figures with what they allow to be said. The parent module builds one; [`super::table`] and
//! [`super::page`] only read it, so these types are in a module of their own that all three name.

use std::path::PathBuf;

use stack_record::{RunRecord, Stat};

use super::{capacity::CapacityComparison, matching::Mismatch};
use crate::{
    inference::{self, Criteria, Design, Direction, Finding, Outcome, Resolution, Trend, Untestable},
    page::MIB,
    warning::{self, Warning},
};

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

    pub(super) fn outcome(self, a: &Stat, b: &Stat, resolution: Resolution) -> Outcome {
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
    /// The contract its answers were judged by ([`crate::page::contract_text`]).
    pub contract: String,
    pub warnings: Vec<Warning>,
}

impl ComparedRun {
    pub(super) fn of(run: &RunRecord) -> Self {
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
            contract: crate::page::contract_text(run.meta.options.contract.as_ref()),
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

    /// Each finding as one sentence, for the terminal and the page alike.
    pub fn finding_sentences(&self) -> Vec<String> {
        self.findings()
            .into_iter()
            .map(|(scenario, row)| {
                format!(
                    "{scenario} {}: B/A {}, {}",
                    row.figure.label(),
                    row.ratio_text(),
                    row.verdict_text()
                )
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
    /// Which figure the verdicts are on, answer or completion, and why; `None` where neither side
    /// has completion figures (then it is the answer, as always).
    pub basis: Option<String>,
}

impl ScenarioComparison {
    /// The judged rows: p50, p99, throughput, CPU per request.
    pub fn headline(&self) -> Vec<&Row> {
        self.rows.iter().filter(|row| row.figure.is_headline()).collect()
    }

    /// Each process's CPU row with its memory row (PSS or RSS).
    pub fn by_process(&self) -> Vec<(&Row, &Row)> {
        let rss = |process: &str| {
            self.rows
                .iter()
                .find(|row| matches!(&row.figure, Figure::Rss(of) | Figure::Pss(of) if of == process))
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
    /// k6's plain latency (`http_req_duration`) to the answer: judged in a closed-loop run, shown
    /// beside the corrected latency in an open-loop one.
    P50,
    P99,
    /// The answer's latency from the intended start, unanswered arrivals counted: judged in an
    /// open-loop run.
    CorrectedP50,
    CorrectedP99,
    /// Arrivals dropped per repeat (no free VU): shown, never judged.
    Dropped,
    /// The completion's p50: from the intended start to the last span end of its trace.
    CompletionP50,
    CompletionP99,
    /// Accepted answers per second × the completed fraction of the traced ones.
    CompletionsPerS,
    Throughput,
    /// The system's CPU-µs per completed request (services and database together).
    CpuPerRequest,
    /// A process's mean CPU, in % of one core.
    Cpu(String),
    /// A process's peak resident memory (summed RSS), where a side has no PSS.
    Rss(String),
    /// A process's peak proportional memory (PSS: shared pages split between their processes).
    Pss(String),
}

impl Figure {
    /// How the figure is labelled in the tables.
    pub fn label(&self) -> String {
        match self {
            Self::P50 => "answer p50 ms (k6)".into(),
            Self::P99 => "answer p99 ms (k6)".into(),
            Self::CorrectedP50 => "answer p50 ms (corrected)".into(),
            Self::CorrectedP99 => "answer p99 ms (corrected)".into(),
            Self::Dropped => "dropped arrivals".into(),
            Self::CompletionP50 => "completion p50 ms".into(),
            Self::CompletionP99 => "completion p99 ms".into(),
            Self::CompletionsPerS => "completions /s".into(),
            Self::Throughput => "throughput /s".into(),
            Self::CpuPerRequest => "CPU µs/request".into(),
            Self::Cpu(process) => format!("CPU % {process}"),
            Self::Rss(process) => format!("RSS MiB {process}"),
            Self::Pss(process) => format!("PSS MiB {process}"),
        }
    }

    /// Whether the row is one of the declared headline family, judged with Holm's correction (an
    /// open-loop run's throughput, k6's plain percentiles and its drops are shown in the headline
    /// without a verdict).
    pub fn is_headline(&self) -> bool {
        self.process().is_none()
    }

    /// Percentiles are read from a histogram of 3 significant digits; the rest are as measured.
    pub fn resolution(&self) -> Resolution {
        match self {
            Self::P50
            | Self::P99
            | Self::CorrectedP50
            | Self::CorrectedP99
            | Self::CompletionP50
            | Self::CompletionP99 => Resolution::Bucketed,
            _ => Resolution::Exact,
        }
    }

    /// Which way is better: a higher throughput, a lower everything else.
    pub fn better(&self) -> Direction {
        match self {
            Self::Throughput | Self::CompletionsPerS => Direction::Higher,
            _ => Direction::Lower,
        }
    }

    /// The process a per-process figure is about.
    pub fn process(&self) -> Option<&str> {
        match self {
            Self::Cpu(process) | Self::Rss(process) | Self::Pss(process) => Some(process),
            Self::P50
            | Self::P99
            | Self::CorrectedP50
            | Self::CorrectedP99
            | Self::Dropped
            | Self::CompletionP50
            | Self::CompletionP99
            | Self::CompletionsPerS
            | Self::Throughput
            | Self::CpuPerRequest => None,
        }
    }

    /// What the recorded value is multiplied by for display (bytes to MiB).
    pub fn scale(&self) -> f64 {
        match self {
            Self::Rss(_) | Self::Pss(_) => MIB,
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

    pub(super) fn from_option(stat: Option<&Stat>, reason: &str) -> Self {
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
        Untestable::Acknowledgement => {
            "a side's contract calls this answer an acknowledgement of work done later, and both \
             sides' completions are not there to judge instead"
                .into()
        }
        Untestable::LowerBound => {
            "a side's completion percentile is only a lower bound: its work was not done by the end of \
             the drain"
                .into()
        }
        Untestable::Unanswered => {
            "a side's dropped and interrupted arrivals exceed 1 − q of its schedule, so its percentile is \
             undefined"
                .into()
        }
        Untestable::PooledSteps => {
            "a capacity run's figure pooled over its steps; compare its steps and sustained rates".into()
        }
    }
}
