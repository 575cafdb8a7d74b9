//! The offset between the clock that stamps the system's spans and the clock of k6 and `stack`
//! (issue 29). A completion is a span's end, stamped by the system, minus an intended start, stamped
//! by k6: on one host the two are one clock, but a system on another host has its own, and an
//! offset of 20 ms is a 20 ms error in every completion.
//!
//! The traces bound the offset (the system's clock minus ours) from both sides without any help from
//! the system:
//! - **From above**: a request's first span starts after k6 sent it, which is after its intended
//!   start, so the offset is at most the first span's start minus the intended start.
//! - **From below**: a span ends before `stack` receives it, so the offset is at least its end minus
//!   when it was received (the trace's last end against its last receipt, a weaker but valid pair).
//!
//! Over many traces the bounds close in: the tightest upper bound is the quickest request's path
//! into the system, the tightest lower bound the span exported soonest after it ended. Where the
//! system runs on another host, completions are moved by the middle of the interval and a figure is
//! withheld when the half-width exceeds [`OFFSET_SHARE_LIMIT`] of it. On one host the interval is
//! still recorded, as a check that holds 0.

use std::collections::BTreeMap;

use stack_record::{
    traces::{TraceId, TraceSummary},
    ClockOffset,
};

use super::stats::TracedAnswer;

/// The largest half-width of the offset's interval, as a share of a completion figure, that still
/// lets the figure stand.
pub const OFFSET_SHARE_LIMIT: f64 = 0.01;

/// The interval the offset of the spans' clock lies in, from `answers` (their intended starts) and
/// their `traces`; `None` without a traced request that reached the system, or when the bounds cross
/// (a clock stepped during the run: no single offset holds).
pub fn offset_bounds<'a>(
    answers: impl IntoIterator<Item = &'a TracedAnswer>,
    traces: &BTreeMap<TraceId, TraceSummary>,
) -> Option<ClockOffset> {
    let ms = |unix_ns: u64| unix_ns as f64 / 1e6;
    let (mut low_ms, mut high_ms) = (f64::NEG_INFINITY, f64::INFINITY);
    for answer in answers {
        let Some(trace) = traces.get(&answer.trace_id).filter(|trace| trace.spans > 0) else {
            continue;
        };
        high_ms = high_ms.min(ms(trace.first_start_unix_ns) - answer.start_unix_ms);
        low_ms = low_ms.max(ms(trace.last_end_unix_ns) - ms(trace.last_received_unix_ns));
    }
    (low_ms.is_finite() && high_ms.is_finite() && low_ms <= high_ms)
        .then_some(ClockOffset { low_ms, high_ms })
}

/// Whether a completion `figure_ms`, moved by the middle of `offset`, is known well enough: the
/// interval's half-width within [`OFFSET_SHARE_LIMIT`] of it.
pub fn supports(offset: &ClockOffset, figure_ms: f64) -> bool {
    offset.half_width_ms() <= OFFSET_SHARE_LIMIT * figure_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: f64 = 1_800_000_000_000.0;

    fn answer(byte: u8, start_ms: f64) -> TracedAnswer {
        TracedAnswer {
            scenario: "s1".into(),
            trace_id: [byte; 16],
            start_unix_ms: start_ms,
            answer_ms: 5.0,
            accepted: true,
            iteration: None,
            deferred: false,
        }
    }

    /// A trace of spans from `first_start_ms` to `last_end_ms`, stamped by a clock `offset_ms` ahead
    /// of ours, the last received at `received_ms` by ours.
    fn trace(offset_ms: f64, first_start_ms: f64, last_end_ms: f64, received_ms: f64) -> TraceSummary {
        let ns = |ms: f64| (ms * 1e6) as u64;
        TraceSummary {
            first_start_unix_ns: ns(first_start_ms + offset_ms),
            last_end_unix_ns: ns(last_end_ms + offset_ms),
            spans: 3,
            services: vec!["userservice".into()],
            last_received_unix_ns: ns(received_ms),
        }
    }

    /// Requests meant to start each 100 ms, entering the system 0.3 ms later, done 500 ms later and
    /// received `export_ms` after that, by a system whose clock is `offset_ms` ahead.
    fn run(offset_ms: f64, export_ms: f64) -> (Vec<TracedAnswer>, BTreeMap<TraceId, TraceSummary>) {
        let mut answers = Vec::new();
        let mut traces = BTreeMap::new();
        for i in 0..50u8 {
            let start = START_MS + f64::from(i) * 100.0;
            answers.push(answer(i, start));
            // Each export a little later than the one before: one span leaves almost at once.
            let export = export_ms + f64::from(i) * 10.0;
            traces.insert(
                [i; 16],
                trace(offset_ms, start + 0.3, start + 500.0, start + 500.0 + export),
            );
        }
        (answers, traces)
    }

    #[test]
    fn a_clock_ahead_of_ours_lies_within_the_bounds_the_traces_give() {
        // Given a system whose clock runs 40 ms ahead, its spans exported 2 ms or more after they end
        let (answers, traces) = run(40.0, 2.0);
        // When the offset is bounded
        let offset = offset_bounds(&answers, &traces).expect("bounds");
        // Then it lies between 38 ms (the quickest export) and 40.3 ms (the quickest entry)
        assert!((offset.low_ms - 38.0).abs() < 1e-3, "{offset:?}");
        assert!((offset.high_ms - 40.3).abs() < 1e-3, "{offset:?}");
        assert!(offset.low_ms <= 40.0 && 40.0 <= offset.high_ms);
    }

    #[test]
    fn one_clock_gives_bounds_that_hold_zero() {
        let (answers, traces) = run(0.0, 1.0);
        let offset = offset_bounds(&answers, &traces).expect("bounds");
        assert!(offset.low_ms <= 0.0 && 0.0 <= offset.high_ms, "{offset:?}");
    }

    #[test]
    fn a_figure_stands_only_where_the_half_width_is_within_one_percent_of_it() {
        // Given an offset known to within ±1.15 ms
        let (answers, traces) = run(40.0, 2.0);
        let offset = offset_bounds(&answers, &traces).expect("bounds");
        // Then a 500 ms completion stands (1.15 ms is 0.23 %) and a 50 ms one does not (2.3 %)
        assert!(supports(&offset, 500.0));
        assert!(!supports(&offset, 50.0));
    }

    #[test]
    fn no_trace_that_reached_the_system_gives_no_bounds() {
        let (answers, _) = run(0.0, 1.0);
        assert_eq!(offset_bounds(&answers, &BTreeMap::new()), None);
    }
}
