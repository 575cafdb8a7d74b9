//! The arrivals an open-loop run (or capacity step) never answered, as latencies (issue 30). A
//! dropped arrival (k6 had no free VU) or an interrupted one (started, unanswered when its step or
//! run ended) is the longest wait of all: its user never got an answer. Leaving it out of the
//! corrected distribution, as k6's own figures do, is coordinated omission again through the VU cap.
//!
//! So each unanswered arrival enters the corrected distribution at a lower bound of its latency, the
//! end of the step or run minus its intended start, where what the samples say of that start is:
//! - a drop: k6 stamps it when its loop reaches the slot, at or after the slot, so the stamp is an
//!   upper bound of the slot and `end − stamp` a lower bound of the latency;
//! - an interrupted iteration: the samples do not say which started iteration went unanswered, only
//!   how many, so the last start of the step or run bounds its slot; it was still unanswered at the
//!   end of the grace that followed (known for a capacity step, `grace_s`).
//!
//! An unanswered arrival also waits longer than any answered one (it is never answered), so the
//! analysis enters each at its bound or at the slowest answered latency, whichever is longer: a drop
//! stamped near the end cannot rank among the fastest requests.
//!
//! Their values bound the latency from below only, so a percentile that lies among them is
//! undefined: [`stack_record::answered_enough`] withholds a corrected percentile q wherever the
//! unanswered arrivals exceed 1 − q of the schedule.

use stack_record::{answered_enough, Accounting, Withheld};

use super::super::stats::{Plan, PlanClock};

/// The lower bounds, in ms, of the latencies of the arrivals a run (or step) left unanswered: one
/// per drop (`drop_times`, Unix ms) and `interrupted` more. Without a clock (no iteration started)
/// nothing bounds them beyond 0.
pub fn latency_bounds(
    plan: &Plan,
    clock: Option<&PlanClock>,
    drop_times: &[f64],
    interrupted: u64,
    grace_s: f64,
) -> Vec<f64> {
    let Some(clock) = clock else {
        return vec![0.0; drop_times.len() + interrupted as usize];
    };
    let end_ms = clock.began_ms + plan.seconds * 1000.0;
    let dropped = drop_times.iter().map(|stamp| (end_ms - stamp).max(0.0));
    let cut_off = (end_ms + grace_s * 1000.0 - clock.last_start_ms).max(0.0);
    dropped
        .chain(std::iter::repeat_n(cut_off, interrupted as usize))
        .collect()
}

/// The fraction of its schedule a run (or step) left unanswered.
pub fn unanswered_fraction(accounting: &Accounting) -> f64 {
    if accounting.scheduled == 0 {
        0.0
    } else {
        accounting.unanswered() as f64 / accounting.scheduled as f64
    }
}

/// Whether every run's unanswered arrivals leave the corrected percentile `q` defined; if not, the
/// reason (for the run with the most unanswered) goes in `withheld`.
pub fn defined_in_every_run(
    figure: &str,
    q: f64,
    accountings: &[Accounting],
    withheld: &mut Vec<Withheld>,
) -> bool {
    let most = accountings
        .iter()
        .max_by(|a, b| unanswered_fraction(a).total_cmp(&unanswered_fraction(b)));
    most.is_none_or(|a| answered_enough(figure, q, a.unanswered(), a.scheduled, withheld))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounting(scheduled: u64, dropped: u64, interrupted: u64) -> Accounting {
        Accounting {
            repeat: 1,
            scheduled,
            scheduled_s: 10.0,
            completed: scheduled - dropped - interrupted,
            failed: 0,
            dropped,
            interrupted,
        }
    }

    #[test]
    fn a_drop_waits_at_least_from_its_stamp_to_the_end_and_a_cut_off_one_through_the_grace() {
        // Given a 10 s plan begun at t = 1,000 ms, its last start at 10,990 ms, a 2 s grace, drops
        // stamped at 4,000 and 10,500 ms and one interrupted iteration
        let plan = Plan {
            arrivals: 1000,
            seconds: 10.0,
        };
        let clock = PlanClock {
            began_ms: 1_000.0,
            last_start_ms: 10_990.0,
        };
        // When their latencies are bounded
        let bounds = latency_bounds(&plan, Some(&clock), &[4_000.0, 10_500.0], 1, 2.0);
        // Then each drop waited from its stamp to the end (11,000 ms), the interrupted one from the
        // last start to the end of the grace
        assert_eq!(bounds, [7_000.0, 500.0, 2_010.0]);
    }

    #[test]
    fn a_percentile_is_withheld_once_the_unanswered_exceed_the_fraction_beyond_it() {
        // Given two repeats of 6,000 arrivals, the second with 140 dropped and 10 interrupted (2.5 %)
        let runs = [accounting(6_000, 0, 0), accounting(6_000, 140, 10)];
        let mut withheld = Vec::new();
        // When the corrected percentiles are checked, then p97.5 is still defined, p99 is not
        assert!(defined_in_every_run(
            "corrected_p90_ms",
            90.0,
            &runs,
            &mut withheld
        ));
        assert!(defined_in_every_run("corrected_p975", 97.5, &runs, &mut withheld));
        assert!(!defined_in_every_run(
            "corrected_p99_ms",
            99.0,
            &runs,
            &mut withheld
        ));
        // And the reason names the arrivals answered against those the p99 needs
        assert_eq!(
            withheld,
            [Withheld {
                figure: "corrected_p99_ms".into(),
                samples: 5_850,
                needed: 5_940,
                basis: stack_record::Basis::Answered,
            }]
        );
    }
}
