//! A capacity step's work, for a scenario the run's contract `defers` (issue 29): the completion of
//! the step's traced requests (k6's traced answers carry the step's own k6 scenario) against the
//! run's traces, and the backlog's trend over the step's seconds ([`crate::bench::backlog`]). These
//! are what such a step is judged on ([`super::step_verdict::WorkEvidence`]).

use std::collections::BTreeMap;

use stack_record::{
    traces::{TraceId, TraceSummary},
    BacklogPoint, StepCompletion, Withheld,
};

use crate::bench::{
    backlog::{BacklogTrend, TREND_SECONDS},
    clock,
    completion::{CompletionRun, NOT_PASSED_ON, NO_OFFSET},
    stats::{Sampled, TracedAnswer},
};

/// What a run holds for its deferred steps: its traces (`None` without a `traces.csv`), the end of
/// its drain, and its backlog per second.
pub struct RunWork<'a> {
    pub traces: Option<&'a BTreeMap<TraceId, TraceSummary>>,
    pub drain_end_unix_ns: Option<u64>,
    pub backlog: &'a [BacklogPoint],
    /// The system is on another host: its spans are moved onto k6's clock ([`crate::bench::clock`]).
    pub spans_elsewhere: bool,
}

/// One step as its work is judged: its traced answers, its accepted answers per second, its offered
/// rate and its seconds in the repeat's `t_s`.
pub struct StepAt<'a> {
    pub answers: Vec<&'a TracedAnswer>,
    pub achieved_per_s: f64,
    pub offered_per_s: f64,
    pub repeat: u32,
    pub seconds: Option<[f64; 2]>,
}

/// The step's completion figures; a percentile too few traced requests support is named in
/// `withheld` (`completion_p99_ms`), and the slowest stands for it.
pub fn step_completion(step: &StepAt, work: &RunWork, withheld: &mut Vec<Withheld>) -> StepCompletion {
    let rejected = step.answers.iter().filter(|a| !a.accepted).count() as u64;
    let mut figures = StepCompletion {
        traced: 0,
        untraced: 0,
        rejected,
        completed: 0,
        completions_per_s: None,
        p99_ms: None,
        max_ms: None,
        at_least: false,
        backlog_slope_per_s: None,
        backlog_slope_se_per_s: None,
        backlog_grew: None,
        withheld_because: None,
    };
    let Some(traces) = work.traces else {
        figures.withheld_because = Some("the run has no traces (no traces.csv)".into());
        return figures;
    };
    let run = CompletionRun::of(
        step.answers.iter().copied(),
        traces,
        work.drain_end_unix_ns,
        work.spans_elsewhere,
    );
    (figures.traced, figures.untraced, figures.completed) = (run.traced, run.untraced, run.completed);
    if run.traced == 0 {
        figures.withheld_because = Some("no traced request of the step was accepted".into());
        return figures;
    }
    if run.untraced_over_limit() {
        figures.withheld_because = Some(NOT_PASSED_ON.into());
        return figures;
    }
    if !run.on_one_clock() {
        figures.withheld_because = Some(NO_OFFSET.into());
        return figures;
    }
    figures.completions_per_s = Some(run.completion_share() * step.achieved_per_s);
    latency(&mut figures, &run, withheld);
    if let (true, Some(offset), Some(judged)) = (run.elsewhere, run.offset, figures.judged_ms()) {
        if !clock::supports(&offset, judged) {
            figures.withheld_because = Some(format!(
                "the clocks' offset is known to ±{:.2} ms only, over 1 % of the step's {judged:.1} ms",
                offset.half_width_ms()
            ));
        }
    }
    trend(&mut figures, step, work.backlog);
    figures
}

/// The completion p99 (under the n-rule), the slowest, and whether the judged one is a lower bound.
fn latency(figures: &mut StepCompletion, run: &CompletionRun, withheld: &mut Vec<Withheld>) {
    let times = Sampled::of(&run.times_ms);
    if times.count == 0 {
        return;
    }
    figures.p99_ms = times.supported("completion_p99_ms", 99.0, withheld);
    figures.max_ms = Some(times.at(100.0));
    if let Some(judged) = figures.judged_ms() {
        figures.at_least = run.bounded_at(judged);
    }
}

/// The backlog's trend over the step's whole seconds, and whether it grew at the offered rate.
fn trend(figures: &mut StepCompletion, step: &StepAt, backlog: &[BacklogPoint]) {
    let trend = step
        .seconds
        .and_then(|[from, to]| BacklogTrend::over(backlog, step.repeat, from, to));
    let Some(trend) = trend else {
        figures.withheld_because = Some(format!(
            "the step has fewer than {TREND_SECONDS} whole seconds of backlog: its trend is unknown"
        ));
        return;
    };
    figures.backlog_slope_per_s = Some((trend.slope_per_s * 100.0).round() / 100.0);
    figures.backlog_slope_se_per_s = Some((trend.se_per_s * 100.0).round() / 100.0);
    figures.backlog_grew = Some(trend.grew(step.offered_per_s));
}
