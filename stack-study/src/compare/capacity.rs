//! The capacity results of both runs side by side: per scenario, the rate each sustained within its
//! SLO, and every step's p99 at the same requested rate in the same repeat.
//!
//! A sustained rate is the lowest over the repeats of a step ladder, not a mean with noise around it,
//! so these rows are shown as they are, with B/A, and judged by no test.

use std::collections::BTreeSet;

use stack_record::{Capacity, Results, Step, StepVerdict};

use crate::page::number;

/// One scenario's capacity in both runs.
#[derive(Debug, Clone)]
pub struct CapacityComparison {
    pub scenario: String,
    pub slo_p99_ms: [f64; 2],
    /// The highest rate each run sustained (the lowest over its repeats); `None` if its first step failed.
    pub sustained: [Option<f64>; 2],
    /// Whether each side's sustained rate is a lower bound only: its ladder stopped at a step not
    /// measurable here (the generator late), not at a failure (issue 30).
    pub sustained_at_least: [bool; 2],
    pub sustained_per_repeat: [Vec<Option<f64>>; 2],
    /// Whether the load generator limited any step of each run.
    pub generator_limited: [bool; 2],
    /// The steps, matched by repeat and requested rate, in order.
    pub steps: Vec<StepPair>,
}

impl CapacityComparison {
    /// B's sustained rate over A's.
    pub fn sustained_ratio(&self) -> Option<f64> {
        match self.sustained {
            [Some(a), Some(b)] if a > 0.0 => Some(b / a),
            _ => None,
        }
    }

    /// Side `side`'s (0: A, 1: B) sustained rate for a table: "≥ N" where only a lower bound, "–"
    /// where none.
    pub fn sustained_text(&self, side: usize) -> String {
        match (self.sustained[side], self.sustained_at_least[side]) {
            (Some(rate), true) => format!("≥ {}", number(rate)),
            (Some(rate), false) => number(rate),
            (None, true) => "– (not measurable here)".into(),
            (None, false) => "–".into(),
        }
    }
}

/// A step of the ladder in both runs; a side is `None` when its ladder did not reach that rate.
#[derive(Debug, Clone)]
pub struct StepPair {
    pub repeat: u32,
    pub rate: f64,
    pub a: Option<Step>,
    pub b: Option<Step>,
}

impl StepPair {
    /// B's judged p99 over A's at this step (corrected in an open-loop step).
    pub fn p99_ratio(&self) -> Option<f64> {
        let (a, b) = (self.a.as_ref()?, self.b.as_ref()?);
        let (a_p99, b_p99) = (judged_p99(a)?, judged_p99(b)?);
        (a_p99 > 0.0).then(|| b_p99 / a_p99)
    }
}

/// The p99 a step was judged on: the completion's in a step of a deferred scenario, corrected where
/// it was (an open-loop step), else k6's; `None` where withheld.
fn judged_p99(step: &Step) -> Option<f64> {
    match (step.judged_on, step.schedule) {
        (Some(stack_record::JudgedLatency::Completion), _) => step.completion.as_ref()?.p99_ms,
        (Some(stack_record::JudgedLatency::Corrected), Some(schedule)) => schedule.corrected_p99_ms,
        _ => step.p99_ms,
    }
}

/// What the tables say under the steps.
pub const FAILED_STEP: &str = "p99: the one each step was judged on, corrected (from the intended start, \
    drops counted) in an open-loop step, the completion's in a step of a scenario the contract defers; ✗: the step failed (p99 over the SLO, or failed, dropped or \
    interrupted requests); ?: not measurable here (the load generator was late), neither ok nor failed";

/// A step's judged p99 for a table, `✗` after it when the step failed, `?` when it was not
/// measurable; `–` when the ladder did not reach it or the step had too few samples for a p99.
pub fn step_p99_text(step: Option<&Step>) -> String {
    match step {
        None => "–".into(),
        Some(step) => format!(
            "{}{}",
            judged_p99(step).map_or_else(|| "–".to_owned(), number),
            match step.verdict() {
                StepVerdict::Ok => "",
                StepVerdict::Failed => " ✗",
                StepVerdict::NotMeasurable => " ?",
            }
        ),
    }
}

/// The scenarios both runs measured for capacity.
pub fn compare_capacity(a: &Results, b: &Results) -> Vec<CapacityComparison> {
    let (Some(a), Some(b)) = (&a.capacity, &b.capacity) else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|(name, a)| Some(compare_one(name, a, b.get(name)?)))
        .collect()
}

fn compare_one(name: &str, a: &Capacity, b: &Capacity) -> CapacityComparison {
    // Rates are recorded from the same ladder arithmetic; keyed in milli-requests per second so that
    // float noise in the last digits does not split a step in two.
    let key = |step: &Step| (step.repeat, (step.rate * 1000.0).round() as i64);
    let keys: BTreeSet<(u32, i64)> = a.steps.iter().chain(&b.steps).map(key).collect();
    let find = |steps: &[Step], wanted: (u32, i64)| steps.iter().find(|s| key(s) == wanted).cloned();
    let steps = keys
        .into_iter()
        .map(|wanted| StepPair {
            repeat: wanted.0,
            rate: wanted.1 as f64 / 1000.0,
            a: find(&a.steps, wanted),
            b: find(&b.steps, wanted),
        })
        .collect();
    CapacityComparison {
        scenario: name.into(),
        slo_p99_ms: [a.slo_p99_ms, b.slo_p99_ms],
        sustained: [a.sustained_rate, b.sustained_rate],
        sustained_at_least: [a.sustained_at_least, b.sustained_at_least],
        sustained_per_repeat: [a.sustained_per_repeat.clone(), b.sustained_per_repeat.clone()],
        generator_limited: [a.generator_limited, b.generator_limited],
        steps,
    }
}
