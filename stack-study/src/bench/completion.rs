//! Completion: the time until a traced request's work was done, beside the time until it was
//! answered (issue 29). An answer can be an acknowledgement (a broker design's `202 Accepted`), so
//! the answer alone does not say when the work ends; the trace does. In a fraction of iterations the
//! k6 script sends a sampled `traceparent` and records, per traced request, its trace id, its
//! intended start and its answer ([`TracedAnswer`]); during the run `stack` folds every span it
//! receives into one [`TraceSummary`] per trace (the repeat's `traces.csv`). Here the two meet:
//!
//! - A traced request's **completion time** is its trace's last span end minus the request's
//!   intended start (the same start its corrected answer counts from).
//! - A trace is **still receiving** when a span of it arrived within [`STILL_RECEIVING_S`] of the
//!   end of the drain (the moment `stack` stopped receiving for that run and cut `traces.csv`): its
//!   work may not be done. It counts as not completed, and is never left out: it enters the
//!   percentiles at the end of the drain minus its start, a lower bound, and a percentile at or above
//!   such a bound is recorded as one (`at_least`). Without a known end of the drain no trace is
//!   judged still receiving.
//! - Where the contract calls the answer an acknowledgement (`defers`), a trace whose spans all
//!   ended by the answer (within [`WORK_AFTER_ANSWER_MS`]) has not shown its work yet: a request
//!   waiting in a queue makes no spans, so its trace can be quiet for long. It counts as not
//!   completed, at the same lower bound.
//! - A traced request whose trace reached no service (no span of it was received) is **untraced**.
//!   Where more than [`UNTRACED_LIMIT`] of a repeat's traced requests are untraced, every figure but
//!   the counts is withheld: the system did not pass the trace context on.
//! - Only requests whose answer was accepted (every check of the contract held) are counted: a
//!   rejected request has no work to complete. A traced iteration cut off before its answer emits no
//!   sample, so it is not here (the scenario's accounting counts it as interrupted).
//!
//! Percentiles follow the record's n-rule ([`stack_record::needed_samples`]) over the traced
//! requests with a trace. The completions per second are the accepted answers per second times the
//! rate the traced requests were completed at over the rate they were accepted at
//! ([`CompletionRun::completion_share`]): the traced requests are a uniform sample of the accepted
//! ones.
//!
//! Clock: spans are stamped by the system's clock and the intended start by k6's; on one host they
//! are the same clock ([`ONE_HOST_CLOCK`]). For a system on another host the traces bound the offset
//! ([`clock`](super::clock)): its spans are moved by the middle of that interval, and a percentile
//! is withheld where the half-width exceeds 1 % of it ([`ELSEWHERE_CLOCK`]).

use std::collections::BTreeMap;

use stack_record::{
    traces::{TraceId, TraceSummary},
    Basis, Completion, Stat, Withheld,
};

use super::{
    backlog::TracedEvent,
    clock,
    stats::{over_repeats, stat, Sampled, TracedAnswer},
};

/// A trace that received a span within this many seconds of the end of the drain counts as still
/// receiving. The local services' exporters send a batch at least every second, so a trace silent
/// for longer has sent what it had.
pub const STILL_RECEIVING_S: f64 = 1.0;

/// How long after its answer a deferred request's trace must end to show its work: the answer's own
/// span ends a little after k6 has the answer in hand.
pub const WORK_AFTER_ANSWER_MS: f64 = 1.0;

/// The largest fraction of a repeat's traced requests that may be untraced before the completion
/// figures are withheld.
pub const UNTRACED_LIMIT: f64 = 0.01;

/// Why the completion figures are withheld when too many traced requests were untraced.
pub const NOT_PASSED_ON: &str = "the system did not pass the trace context on: more than 1 % of the \
traced requests reached no service with their trace id";

/// How the clocks of a run on one host are set side by side.
pub const ONE_HOST_CLOCK: &str = "one host: spans and k6 are stamped by the same clock";

/// How the clocks of a run whose system is on another host are set side by side.
pub const ELSEWHERE_CLOCK: &str = "another host: spans moved by the middle of the interval their \
clock's offset lies in (clock_offset_ms), a percentile withheld where its half-width exceeds 1 % of it";

/// Why the completion figures are withheld when the traces do not bound the offset of the clock of a
/// system on another host.
pub const NO_OFFSET: &str = "the system is on another host and its spans do not bound its clock's \
offset from k6's (no traced request reached it, or the bounds cross: a clock stepped)";

/// What became of one traced request whose answer was accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    /// Its trace stopped receiving spans before the end of the drain: its work took this long from
    /// its intended start.
    Completed { completion_ms: f64 },
    /// Its trace was still receiving spans at the end of the drain: its work took at least this long.
    StillReceiving { at_least_ms: f64 },
    /// No span of its trace was received.
    Untraced,
}

/// The fate of `answer` given its trace (absent when no span of it arrived) and the end of the drain
/// in Unix ns, when known; `after_answer_ms`: how long after its answer a deferred request's trace
/// must end to show its work ([`WORK_AFTER_ANSWER_MS`], plus, for a system on another host, the
/// uncertainty of its clock, so that an acknowledgement's span moved a little late by the offset's
/// middle is not read as work done).
pub fn fate(
    answer: &TracedAnswer,
    trace: Option<&TraceSummary>,
    drain_end_unix_ns: Option<u64>,
    after_answer_ms: f64,
) -> Fate {
    let Some(trace) = trace.filter(|trace| trace.spans > 0) else {
        return Fate::Untraced;
    };
    let since_start_ms = |unix_ns: u64| (unix_ns as f64 / 1e6 - answer.start_unix_ms).max(0.0);
    // An acknowledged request whose trace ends by its answer: its work has not shown yet (a queue
    // wait makes no spans), so it is not done, however long its trace has been quiet.
    let answered_ms = answer.start_unix_ms + answer.answer_ms;
    if answer.deferred && trace.last_end_unix_ns as f64 / 1e6 <= answered_ms + after_answer_ms {
        return Fate::StillReceiving {
            at_least_ms: drain_end_unix_ns.map_or(answer.answer_ms, since_start_ms),
        };
    }
    match drain_end_unix_ns {
        Some(end) if trace.last_received_unix_ns as f64 + STILL_RECEIVING_S * 1e9 > end as f64 => {
            Fate::StillReceiving {
                at_least_ms: since_start_ms(end),
            }
        }
        _ => Fate::Completed {
            completion_ms: since_start_ms(trace.last_end_unix_ns),
        },
    }
}

/// One repeat's accepted traced requests of one scenario, judged against its traces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionRun {
    pub traced: u64,
    pub untraced: u64,
    pub completed: u64,
    /// Each traced request with a trace: its completion, or for one still receiving its lower bound.
    pub times_ms: Vec<f64>,
    /// The lower bounds among `times_ms`.
    pub lower_bounds_ms: Vec<f64>,
    /// The earliest and latest intended start of the accepted traced requests, Unix ms.
    pub starts_ms: Option<(f64, f64)>,
    /// The earliest and latest completion (last span end) of the completed ones, Unix ms.
    pub done_ms: Option<(f64, f64)>,
    /// Where the offset of the spans' clock from k6's lies ([`clock::offset_bounds`]).
    pub offset: Option<stack_record::ClockOffset>,
    /// The system is on another host: its spans were moved by the middle of `offset`.
    pub elsewhere: bool,
    /// Each traced request with a trace: when it was answered and when its work was done, if it was
    /// ([`super::backlog`]).
    pub events: Vec<TracedEvent>,
}

/// `(earliest, latest)` widened to hold `t`.
fn widen(span: &mut Option<(f64, f64)>, t: f64) {
    *span = Some(match *span {
        Some((first, last)) => (first.min(t), last.max(t)),
        None => (t, t),
    });
}

/// How many a second came in `count` events spread over `span` (the first to the last): `None`
/// for fewer than two, or no time between them.
fn rate_over(count: u64, span: Option<(f64, f64)>) -> Option<f64> {
    let (first, last) = span?;
    (count >= 2 && last > first).then(|| (count - 1) as f64 * 1000.0 / (last - first))
}

impl CompletionRun {
    /// The accepted ones of `answers`, each judged by [`fate`]; `elsewhere`: the system is on another
    /// host, so its spans are first moved onto k6's clock.
    pub fn of<'a>(
        answers: impl IntoIterator<Item = &'a TracedAnswer>,
        traces: &BTreeMap<TraceId, TraceSummary>,
        drain_end_unix_ns: Option<u64>,
        elsewhere: bool,
    ) -> Self {
        let accepted: Vec<&TracedAnswer> = answers.into_iter().filter(|a| a.accepted).collect();
        let mut run = Self {
            offset: clock::offset_bounds(accepted.iter().copied(), traces),
            elsewhere,
            ..Self::default()
        };
        let (shift_ns, after_answer_ms) = match run.offset {
            Some(offset) if elsewhere => (
                (offset.middle_ms() * 1e6) as i64,
                WORK_AFTER_ANSWER_MS + offset.half_width_ms(),
            ),
            _ => (0, WORK_AFTER_ANSWER_MS),
        };
        for answer in accepted {
            run.traced += 1;
            widen(&mut run.starts_ms, answer.start_unix_ms);
            let accepted_ms = answer.start_unix_ms + answer.answer_ms;
            let trace = traces.get(&answer.trace_id).map(|trace| moved(trace, shift_ns));
            match fate(answer, trace.as_ref(), drain_end_unix_ns, after_answer_ms) {
                Fate::Completed { completion_ms } => {
                    run.completed += 1;
                    run.times_ms.push(completion_ms);
                    let done_ms = answer.start_unix_ms + completion_ms;
                    widen(&mut run.done_ms, done_ms);
                    run.events.push(TracedEvent {
                        accepted_ms,
                        done_ms: Some(done_ms),
                    });
                }
                Fate::StillReceiving { at_least_ms } => {
                    run.times_ms.push(at_least_ms);
                    run.lower_bounds_ms.push(at_least_ms);
                    run.events.push(TracedEvent {
                        accepted_ms,
                        done_ms: None,
                    });
                }
                Fate::Untraced => run.untraced += 1,
            }
        }
        run
    }

    /// Its spans can be set on k6's clock: on one host, or with a bounded offset.
    pub fn on_one_clock(&self) -> bool {
        !self.elsewhere || self.offset.is_some()
    }

    /// Whether a percentile of value `value` reached a trace still receiving: the work took at least
    /// that long.
    pub fn bounded_at(&self, value: f64) -> bool {
        self.lower_bounds_ms.iter().any(|bound| *bound <= value)
    }

    pub fn untraced_over_limit(&self) -> bool {
        self.untraced as f64 > UNTRACED_LIMIT * self.traced as f64
    }

    /// Completions per second as a share of accepted answers per second: the rate at which the
    /// traced requests were completed (the first completion to the last) over the rate at which
    /// they were accepted (the first intended start to the last). A system that keeps up completes
    /// as fast as it accepts (1); one whose backlog grows completes at its own pace, whatever it
    /// acknowledges. Where either rate cannot be taken (under two of either), the completed
    /// fraction stands in.
    pub fn completion_share(&self) -> f64 {
        if self.completed == 0 {
            return 0.0;
        }
        match (
            rate_over(self.completed, self.done_ms),
            rate_over(self.traced, self.starts_ms),
        ) {
            // Over a run, no system completes faster than it accepts: a burst of completions
            // among few traced requests reads as one.
            (Some(done), Some(accepted)) => (done / accepted).min(1.0),
            _ => self.completed_fraction(),
        }
    }

    fn completed_fraction(&self) -> f64 {
        if self.traced == 0 {
            0.0
        } else {
            self.completed as f64 / self.traced as f64
        }
    }
}

/// `trace` with its span times moved back by `shift_ns` (the offset of the clock that stamped them);
/// when it was received stays on ours.
fn moved(trace: &TraceSummary, shift_ns: i64) -> TraceSummary {
    let back = |unix_ns: u64| unix_ns.saturating_add_signed(-shift_ns);
    TraceSummary {
        first_start_unix_ns: back(trace.first_start_unix_ns),
        last_end_unix_ns: back(trace.last_end_unix_ns),
        ..trace.clone()
    }
}

/// The widest interval of the repeats' offsets: `None` unless every repeat with traces has one.
fn offset_over(runs: &[CompletionRun]) -> Option<stack_record::ClockOffset> {
    let traced: Vec<&CompletionRun> = runs.iter().filter(|run| run.traced > 0).collect();
    let offsets: Vec<stack_record::ClockOffset> =
        traced.iter().map(|run| run.offset).collect::<Option<_>>()?;
    offsets.into_iter().reduce(|a, b| stack_record::ClockOffset {
        low_ms: a.low_ms.min(b.low_ms),
        high_ms: a.high_ms.max(b.high_ms),
    })
}

/// Withholds `slot`, the completion percentile `figure`, where the system is on another host and the
/// clocks' offset is known less closely than 1 % of it.
fn within_offset(
    figure: &str,
    slot: &mut Option<Stat>,
    offset: Option<stack_record::ClockOffset>,
    withheld: &mut Vec<Withheld>,
) {
    let (Some(value), Some(offset)) = (slot.as_ref(), offset) else {
        return;
    };
    if !clock::supports(&offset, value.mean) {
        withheld.push(Withheld {
            figure: format!("completion_{figure}"),
            samples: (clock::OFFSET_SHARE_LIMIT * value.mean * 1000.0).round() as u64,
            needed: (offset.half_width_ms() * 1000.0).round() as u64,
            basis: Basis::ClockOffset,
        });
        *slot = None;
    }
}

/// The completion figures of a scenario over its repeats (`runs`, with each repeat's accepted answers
/// per second in `answer_rates_per_s`, which [`CompletionRun::completion_share`] turns into
/// completions per second); `None` when no repeat traced a request. Percentiles too few
/// requests support are named in `withheld` (`completion_p50_ms`, `completion_p99_ms`).
pub fn completion_of(
    runs: &[CompletionRun],
    answer_rates_per_s: &[f64],
    withheld: &mut Vec<Withheld>,
) -> Option<Completion> {
    if runs.iter().all(|run| run.traced == 0) {
        return None;
    }
    let counts = |count: fn(&CompletionRun) -> u64| {
        stat(&runs.iter().map(|run| count(run) as f64).collect::<Vec<_>>())
    };
    let mut completion = Completion {
        traced: counts(|run| run.traced),
        untraced: counts(|run| run.untraced),
        completed: None,
        completed_fraction: None,
        completions_per_s: None,
        p50_ms: None,
        p99_ms: None,
        at_least: Vec::new(),
        withheld_because: None,
        clock: ONE_HOST_CLOCK.into(),
        clock_offset_ms: offset_over(runs),
    };
    let elsewhere = runs.iter().any(|run| run.elsewhere);
    if elsewhere {
        completion.clock = ELSEWHERE_CLOCK.into();
    }
    if runs.iter().any(CompletionRun::untraced_over_limit) {
        completion.withheld_because = Some(NOT_PASSED_ON.into());
        return Some(completion);
    }
    if !runs.iter().all(CompletionRun::on_one_clock) {
        completion.withheld_because = Some(NO_OFFSET.into());
        return Some(completion);
    }
    completion.completed = Some(counts(|run| run.completed));
    // A repeat that traced nothing says nothing of what was completed: left out, not read as 0.
    let traced: Vec<(&CompletionRun, &f64)> = runs
        .iter()
        .zip(answer_rates_per_s)
        .filter(|(run, _)| run.traced > 0)
        .collect();
    completion.completed_fraction = Some(stat(
        &traced
            .iter()
            .map(|(run, _)| run.completed_fraction())
            .collect::<Vec<_>>(),
    ));
    completion.completions_per_s = Some(stat(
        &traced
            .iter()
            .map(|(run, rate)| run.completion_share() * *rate)
            .collect::<Vec<_>>(),
    ));
    let sampled: Vec<Sampled> = runs.iter().map(|run| Sampled::of(&run.times_ms)).collect();
    let sampled_refs: Vec<&Sampled> = sampled.iter().collect();
    for (q, figure, slot) in [
        (50.0, "p50_ms", &mut completion.p50_ms),
        (99.0, "p99_ms", &mut completion.p99_ms),
    ] {
        *slot = over_repeats(&format!("completion_{figure}"), q, &sampled_refs, withheld);
        if elsewhere {
            within_offset(figure, slot, completion.clock_offset_ms, withheld);
        }
        let bounded = runs.iter().zip(&sampled).any(|(run, sampled)| {
            let value = sampled.at(q);
            run.bounded_at(value)
        });
        if slot.is_some() && bounded {
            completion.at_least.push(figure.to_owned());
        }
    }
    Some(completion)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: f64 = 1_800_000_000_000.0;

    fn answer(byte: u8, start_ms: f64, accepted: bool) -> TracedAnswer {
        TracedAnswer {
            scenario: "s1".into(),
            trace_id: [byte; 16],
            start_unix_ms: start_ms,
            answer_ms: 5.0,
            accepted,
            iteration: None,
            deferred: false,
        }
    }

    fn trace(last_end_ms: f64, last_received_ms: f64) -> TraceSummary {
        TraceSummary {
            first_start_unix_ns: (START_MS * 1e6) as u64,
            last_end_unix_ns: (last_end_ms * 1e6) as u64,
            spans: 2,
            services: vec!["userservice".into()],
            last_received_unix_ns: (last_received_ms * 1e6) as u64,
        }
    }

    #[test]
    fn a_trace_that_ended_before_the_drain_is_completed_at_its_last_span_end() {
        // Given a request meant to start at START_MS whose last span ended 600 ms later, received
        // 5 s before the end of the drain
        let end = ((START_MS + 10_000.0) * 1e6) as u64;
        let trace = trace(START_MS + 600.0, START_MS + 5_000.0);
        // When its fate is judged
        let fate = fate(
            &answer(1, START_MS, true),
            Some(&trace),
            Some(end),
            WORK_AFTER_ANSWER_MS,
        );
        // Then it completed in 600 ms
        assert_eq!(fate, Fate::Completed { completion_ms: 600.0 });
    }

    #[test]
    fn a_trace_receiving_spans_at_the_end_of_the_drain_is_not_completed_and_bounded_below() {
        // Given a trace whose last span arrived 0.5 s before the end of the drain, 10 s after the start
        let end = ((START_MS + 10_000.0) * 1e6) as u64;
        let trace = trace(START_MS + 9_400.0, START_MS + 9_500.0);
        // When its fate is judged
        let fate = fate(
            &answer(1, START_MS, true),
            Some(&trace),
            Some(end),
            WORK_AFTER_ANSWER_MS,
        );
        // Then it is still receiving: its work took at least the 10 s to the end of the drain
        assert_eq!(
            fate,
            Fate::StillReceiving {
                at_least_ms: 10_000.0
            }
        );
    }

    #[test]
    fn a_request_whose_trace_reached_no_service_is_untraced() {
        let fate = fate(&answer(1, START_MS, true), None, None, WORK_AFTER_ANSWER_MS);
        assert_eq!(fate, Fate::Untraced);
    }

    /// `count` accepted requests with traces completing in 100 + i ms, and `untraced` more without.
    fn repeat_of(count: u8, untraced: u8) -> (Vec<TracedAnswer>, BTreeMap<TraceId, TraceSummary>) {
        let mut answers = Vec::new();
        let mut traces = BTreeMap::new();
        for i in 0..count {
            answers.push(answer(i, START_MS, true));
            traces.insert([i; 16], trace(START_MS + 100.0 + f64::from(i), START_MS + 200.0));
        }
        for i in 0..untraced {
            answers.push(answer(200 + i, START_MS, true));
        }
        (answers, traces)
    }

    #[test]
    fn a_repeat_counts_completed_still_receiving_untraced_and_leaves_out_rejected_answers() {
        // Given 3 completed requests, one still receiving at the end of the drain, one untraced and
        // one whose answer was rejected
        let (mut answers, mut traces) = repeat_of(3, 1);
        answers.push(answer(50, START_MS, true));
        traces.insert([50; 16], trace(START_MS + 900.0, START_MS + 1_900.0));
        answers.push(answer(60, START_MS, false));
        traces.insert([60; 16], trace(START_MS + 1.0, START_MS + 2.0));
        let end = ((START_MS + 2_000.0) * 1e6) as u64;
        // When the repeat is judged
        let run = CompletionRun::of(&answers, &traces, Some(end), false);
        // Then 5 are counted (the rejected one is not), 3 completed, 1 untraced, and the one still
        // receiving enters the times at its bound of 2 s
        assert_eq!((run.traced, run.completed, run.untraced), (5, 3, 1));
        // (to the microsecond: Unix times in f64 ms carry a quarter of one)
        let times: Vec<f64> = run
            .times_ms
            .iter()
            .map(|ms| (ms * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(times, vec![100.0, 101.0, 102.0, 2_000.0]);
        assert_eq!(run.lower_bounds_ms, vec![2_000.0]);
    }

    #[test]
    fn an_acknowledged_request_whose_trace_ends_by_its_answer_is_not_done_however_quiet() {
        // Given a request the contract calls deferred, answered 5 ms after its start, whose only span
        // (the acknowledgement) ended then and was received long before the drain's end at 10 s
        let mut acknowledged = answer(1, START_MS, true);
        acknowledged.deferred = true;
        let only_the_answer = trace(START_MS + 5.0, START_MS + 100.0);
        let end = ((START_MS + 10_000.0) * 1e6) as u64;
        // When it is judged
        let judged = fate(
            &acknowledged,
            Some(&only_the_answer),
            Some(end),
            WORK_AFTER_ANSWER_MS,
        );
        // Then its work has not shown: not completed, at least the 10 s to the drain's end
        assert_eq!(
            judged,
            Fate::StillReceiving {
                at_least_ms: 10_000.0
            }
        );
        // And once a span ends after its answer (the work, at 600 ms), it is completed then
        let with_work = trace(START_MS + 600.0, START_MS + 700.0);
        assert_eq!(
            fate(&acknowledged, Some(&with_work), Some(end), WORK_AFTER_ANSWER_MS),
            Fate::Completed { completion_ms: 600.0 }
        );
    }

    #[test]
    fn a_system_whose_backlog_grows_completes_at_its_own_pace_not_the_rate_it_accepts() {
        // Given 100 requests accepted at 10/s whose work is done at 8/s, each done 500 ms after the
        // one before it finished or its own start, and 100 accepted at 10/s done 500 ms after each
        let mut answers = Vec::new();
        let (mut backlogged, mut keeping_up) = (BTreeMap::new(), BTreeMap::new());
        for i in 0..100u8 {
            let start = START_MS + f64::from(i) * 100.0;
            answers.push(answer(i, start, true));
            backlogged.insert([i; 16], trace(START_MS + 500.0 + f64::from(i) * 125.0, 0.0));
            keeping_up.insert([i; 16], trace(start + 500.0, 0.0));
        }
        // When each repeat's completions per second are made, with 10 accepted answers a second
        let per_s = |traces: &BTreeMap<TraceId, TraceSummary>| {
            let run = CompletionRun::of(&answers, traces, None, false);
            let completion = completion_of(&[run], &[10.0], &mut Vec::new()).expect("traced requests");
            completion.completions_per_s.expect("a rate").mean
        };
        // Then the backlogged one completes 8 a second, though every request completed in the end,
        // and the other keeps up with its 10
        assert!((per_s(&backlogged) - 8.0).abs() < 1e-6, "{}", per_s(&backlogged));
        assert!((per_s(&keeping_up) - 10.0).abs() < 1e-6, "{}", per_s(&keeping_up));
    }

    #[test]
    fn a_repeat_that_traced_nothing_is_left_out_of_the_completed_fraction() {
        // Given two repeats, one whose 10 traced requests all completed and one that traced none
        let (answers, traces) = repeat_of(10, 0);
        let runs = [
            CompletionRun::of(&answers, &traces, None, false),
            CompletionRun::default(),
        ];
        // When the figures are made
        let completion = completion_of(&runs, &[10.0, 10.0], &mut Vec::new()).expect("traced requests");
        // Then the fraction is the traced repeat's, not halved by the empty one
        assert_eq!(completion.completed_fraction.map(|f| f.mean), Some(1.0));
    }

    #[test]
    fn completion_figures_are_withheld_when_more_than_one_percent_is_untraced() {
        // Given a repeat of 100 traced requests, 2 of them untraced
        let (answers, traces) = repeat_of(98, 2);
        let run = CompletionRun::of(&answers, &traces, None, false);
        // When its figures are made
        let completion = completion_of(&[run], &[10.0], &mut Vec::new()).expect("traced requests");
        // Then only the counts remain, and the reason says the context was not passed on
        assert_eq!(completion.withheld_because.as_deref(), Some(NOT_PASSED_ON));
        assert_eq!((completion.traced.mean, completion.untraced.mean), (100.0, 2.0));
        assert_eq!((completion.p50_ms, completion.completed_fraction), (None, None));
    }

    #[test]
    fn one_percent_untraced_keeps_the_figures_under_the_n_rule() {
        // Given a repeat of 100 traced requests, 1 untraced, the rest completing in 100 to 198 ms
        let (answers, traces) = repeat_of(99, 1);
        let run = CompletionRun::of(&answers, &traces, None, false);
        let mut withheld = Vec::new();
        // When its figures are made, with 10 accepted answers per second
        let completion = completion_of(&[run], &[10.0], &mut withheld).expect("traced requests");
        // Then the p50 is there, the p99 withheld for want of 1,000 samples, and 99 % of 10/s completed
        assert_eq!(completion.withheld_because, None);
        let p50 = completion.p50_ms.expect("a p50 from 99 samples").mean;
        assert!((p50 - 149.0).abs() < 0.5, "{p50}");
        assert_eq!(completion.p99_ms, None);
        assert_eq!(withheld[0].figure, "completion_p99_ms");
        let per_s = completion.completions_per_s.expect("a rate").mean;
        assert!((per_s - 9.9).abs() < 1e-9, "{per_s}");
        assert!(completion.at_least.is_empty());
    }

    #[test]
    fn a_percentile_at_or_above_a_trace_still_receiving_is_a_lower_bound() {
        // Given 30 requests, 20 completed in 100 to 119 ms and 10 still receiving at 5 s
        let (mut answers, mut traces) = repeat_of(20, 0);
        for i in 100..110 {
            answers.push(answer(i, START_MS, true));
            traces.insert([i; 16], trace(START_MS + 4_500.0, START_MS + 4_900.0));
        }
        let end = ((START_MS + 5_000.0) * 1e6) as u64;
        let run = CompletionRun::of(&answers, &traces, Some(end), false);
        // When its figures are made
        let completion = completion_of(&[run], &[10.0], &mut Vec::new()).expect("traced requests");
        // Then the p50 lies among the completed ones, exact, and two thirds completed
        assert!(completion.at_least.is_empty(), "{:?}", completion.at_least);
        let fraction = completion.completed_fraction.expect("a fraction").mean;
        assert!((fraction - 2.0 / 3.0).abs() < 1e-3, "{fraction}");
        // And with 30 more still receiving, the p50 reaches them: a lower bound
        let (mut answers, mut traces) = (answers, traces);
        for i in 120..150 {
            answers.push(answer(i, START_MS, true));
            traces.insert([i; 16], trace(START_MS + 4_500.0, START_MS + 4_900.0));
        }
        let run = CompletionRun::of(&answers, &traces, Some(end), false);
        let completion = completion_of(&[run], &[10.0], &mut Vec::new()).expect("traced requests");
        assert_eq!(completion.at_least, vec!["p50_ms".to_owned()]);
    }

    /// 200 requests meant to start 50 ms apart, each entering the system `entry_ms` after its start
    /// and done 500 ms after it, stamped by a clock 40 ms ahead of k6's; each received 1 ms after it
    /// ended.
    fn ahead_by_40_ms(entry_ms: f64) -> (Vec<TracedAnswer>, BTreeMap<TraceId, TraceSummary>) {
        let (mut answers, mut traces) = (Vec::new(), BTreeMap::new());
        for i in 0..200u16 {
            let start = START_MS + f64::from(i) * 50.0;
            let id = [
                (i % 256) as u8,
                (i / 256) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                1,
            ];
            answers.push(TracedAnswer {
                trace_id: id,
                ..answer(0, start, true)
            });
            let ns = |ms: f64| (ms * 1e6) as u64;
            traces.insert(
                id,
                TraceSummary {
                    first_start_unix_ns: ns(start + entry_ms + 40.0),
                    last_end_unix_ns: ns(start + 500.0 + 40.0),
                    spans: 3,
                    services: vec!["userservice".into()],
                    last_received_unix_ns: ns(start + 501.0),
                },
            );
        }
        (answers, traces)
    }

    #[test]
    fn a_system_on_another_host_has_its_spans_moved_onto_k6s_clock() {
        // Given a system on another host whose clock runs 40 ms ahead, its requests entering it
        // 0.5 ms after their start
        let (answers, traces) = ahead_by_40_ms(0.5);
        // When its completions are made
        let run = CompletionRun::of(&answers, &traces, None, true);
        let completion = completion_of(&[run], &[20.0], &mut Vec::new()).expect("traced requests");
        // Then the offset lies between 39 and 40.5 ms, and the p50 is 500 ms give or take its
        // half-width, not the 540 ms its own clock reads
        let offset = completion.clock_offset_ms.expect("an offset");
        assert!((offset.low_ms - 39.0).abs() < 1e-3 && (offset.high_ms - 40.5).abs() < 1e-3);
        let p50 = completion.p50_ms.expect("a p50").mean;
        assert!((p50 - 500.0).abs() <= offset.half_width_ms() + 1e-3, "{p50}");
        assert_eq!(completion.clock, ELSEWHERE_CLOCK);
    }

    #[test]
    fn a_completion_is_withheld_where_the_clocks_offset_is_known_less_closely_than_one_percent() {
        // Given the same system, its requests entering it only 30 ms after their start: the offset
        // is known to ±15 ms, 3 % of the 500 ms figure
        let (answers, traces) = ahead_by_40_ms(30.0);
        let mut withheld = Vec::new();
        // When its completions are made
        let run = CompletionRun::of(&answers, &traces, None, true);
        let completion = completion_of(&[run], &[20.0], &mut withheld).expect("traced requests");
        // Then the p50 is withheld for the clocks, not for its samples
        assert_eq!(completion.p50_ms, None);
        let why = withheld
            .iter()
            .find(|w| w.figure == "completion_p50_ms")
            .expect("withheld");
        assert_eq!(why.basis, Basis::ClockOffset);
        // And the same traces from a system on this host keep it
        let here = CompletionRun::of(&answers, &traces, None, false);
        let completion = completion_of(&[here], &[20.0], &mut Vec::new()).expect("traced requests");
        assert!(completion.p50_ms.is_some());
    }
}
