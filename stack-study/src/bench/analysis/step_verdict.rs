//! A capacity step's verdict and the rate a repeat sustained from them (issue 30). An open-loop step
//! is judged on its corrected latency, from each arrival's intended start with its unanswered
//! arrivals counted: what a user at that rate waits, where k6's plain latency leaves out the time a
//! request waited for its turn. A step whose generator was late is neither ok nor failed: the system
//! was not offered its rate on time, so it is "not measurable here", and the rate sustained below it
//! is a lower bound.
//!
//! Issue 29: where the run's contract `defers` the scenario, its answer is an acknowledgement and the
//! SLO is for the work. Such a step is judged on its traced requests' completion ([`WorkEvidence`]):
//! answers accepted, completions per second at least [`KEEP_UP`] of the offered rate, the completion
//! p99 (or its bound) within the SLO, and a backlog that did not grow. Where its work could not be
//! seen, the step is not measurable here, with the reason.

use stack_record::{RatePassed, StepCompletion, StepVerdict};

/// The share of the offered rate a deferred step must complete per second.
pub const KEEP_UP: f64 = 0.98;

/// What a deferred step's work shows, beside its completion latency (`judged_p99_ms`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkEvidence {
    pub offered_per_s: f64,
    pub completions_per_s: f64,
    /// Traced answers the contract rejected.
    pub rejected: u64,
    pub backlog_grew: bool,
}

impl WorkEvidence {
    /// From a step's completion figures at `offered_per_s`, or why they cannot judge it.
    pub fn of(completion: &StepCompletion, offered_per_s: f64) -> Result<Self, String> {
        // A rejected answer fails the step whatever else could be seen.
        if completion.rejected > 0 {
            return Ok(Self {
                offered_per_s,
                completions_per_s: completion.completions_per_s.unwrap_or(0.0),
                rejected: completion.rejected,
                backlog_grew: completion.backlog_grew.unwrap_or(false),
            });
        }
        if let Some(why) = &completion.withheld_because {
            return Err(why.clone());
        }
        let (Some(completions_per_s), Some(_), Some(backlog_grew)) = (
            completion.completions_per_s,
            completion.judged_ms(),
            completion.backlog_grew,
        ) else {
            return Err("the step's completion figures are incomplete".into());
        };
        Ok(Self {
            offered_per_s,
            completions_per_s,
            rejected: completion.rejected,
            backlog_grew,
        })
    }

    /// The work kept up with the arrivals.
    fn kept_up(&self) -> bool {
        self.rejected == 0 && self.completions_per_s >= KEEP_UP * self.offered_per_s && !self.backlog_grew
    }
}

/// What a step's verdict is made from.
#[derive(Debug, Clone)]
pub struct StepEvidence {
    /// Requests k6 recorded in the step.
    pub requests: u64,
    /// The judged latency's p99, or its maximum where too few samples support a p99, in ms.
    pub judged_p99_ms: f64,
    pub slo_p99_ms: f64,
    pub unexpected_failures: u64,
    /// Dropped and interrupted arrivals.
    pub unanswered: u64,
    pub generator_limited: bool,
    /// A deferred step's work (then `judged_p99_ms` is its completion's), or why it could not be
    /// seen; `None` for a step whose answer is the work.
    pub work: Option<Result<WorkEvidence, String>>,
}

impl StepEvidence {
    pub fn verdict(&self) -> StepVerdict {
        if self.not_measurable_because().is_some() {
            StepVerdict::NotMeasurable
        } else if self.requests > 0
            && self.judged_p99_ms <= self.slo_p99_ms
            && self.unexpected_failures == 0
            && self.unanswered == 0
            && self
                .work
                .as_ref()
                .is_none_or(|work| work.as_ref().is_ok_and(WorkEvidence::kept_up))
        {
            StepVerdict::Ok
        } else {
            StepVerdict::Failed
        }
    }

    /// Why the step says nothing of the system: the generator was late, or a deferred step's work
    /// could not be seen.
    pub fn not_measurable_because(&self) -> Option<String> {
        if self.generator_limited {
            return Some("the generator was late: the step's rate was not offered on time".into());
        }
        // A step that failed on its answers (failures, drops, interruptions: a hung system leaves
        // no traced answer) has failed, whether or not its work could be seen.
        let answers_failed = self.unexpected_failures > 0 || self.unanswered > 0;
        match &self.work {
            Some(Err(why)) if !answers_failed => Some(format!("its work could not be seen: {why}")),
            _ => None,
        }
    }
}

/// The rate one repeat's steps sustained: the highest ok step with every lower step ok, and whether
/// it is a lower bound only (the ladder stopped at a step not measurable here, not at a failure).
/// `None` when the lowest step was not ok.
pub fn sustained(steps: &[(f64, StepVerdict)]) -> (Option<f64>, bool) {
    let mut sorted = steps.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ok = sorted
        .iter()
        .take_while(|(_, verdict)| *verdict == StepVerdict::Ok)
        .count();
    let rate = ok.checked_sub(1).map(|last| sorted[last].0);
    let at_least = sorted
        .get(ok)
        .is_some_and(|(_, verdict)| *verdict == StepVerdict::NotMeasurable);
    (rate, at_least)
}

/// The sustained rate over the repeats: the lowest, a lower bound only when every repeat that set
/// it is. `None` when some repeat sustained none.
pub fn sustained_over_repeats(per_repeat: &[(Option<f64>, bool)]) -> (Option<f64>, bool) {
    let Some(rates) = per_repeat
        .iter()
        .map(|(rate, _)| *rate)
        .collect::<Option<Vec<f64>>>()
    else {
        let at_least = per_repeat
            .iter()
            .filter(|(rate, _)| rate.is_none())
            .all(|(_, at_least)| *at_least);
        return (None, at_least && !per_repeat.is_empty());
    };
    let Some(lowest) = rates.iter().copied().reduce(f64::min) else {
        return (None, false);
    };
    let at_least = per_repeat
        .iter()
        .filter(|(rate, _)| *rate == Some(lowest))
        .all(|(_, at_least)| *at_least);
    (Some(lowest), at_least)
}

/// Per step rate, lowest first, how many repeats ran it, were ok and were not measurable there.
pub fn passed_by_rate(steps: &[(f64, StepVerdict)]) -> Vec<RatePassed> {
    let mut by_rate: Vec<RatePassed> = Vec::new();
    let mut sorted = steps.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (rate, verdict) in sorted {
        if by_rate.last().is_none_or(|last| last.rate != rate) {
            by_rate.push(RatePassed {
                rate,
                repeats: 0,
                ok: 0,
                not_measurable: 0,
            });
        }
        if let Some(at) = by_rate.last_mut() {
            at.repeats += 1;
            at.ok += u32::from(verdict == StepVerdict::Ok);
            at.not_measurable += u32::from(verdict == StepVerdict::NotMeasurable);
        }
    }
    by_rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepVerdict::{Failed, NotMeasurable, Ok};

    #[test]
    fn the_sustained_rate_is_the_highest_ok_step_below_the_first_failure() {
        let steps = [(500.0, Ok), (1000.0, Ok), (2000.0, Failed), (4000.0, Ok)];
        assert_eq!(sustained(&steps), (Some(1000.0), false));
    }

    #[test]
    fn no_rate_is_sustained_when_the_first_step_fails() {
        assert_eq!(sustained(&[(500.0, Failed), (1000.0, Ok)]), (None, false));
    }

    #[test]
    fn every_step_ok_sustains_the_highest() {
        assert_eq!(sustained(&[(2000.0, Ok), (500.0, Ok)]), (Some(2000.0), false));
    }

    #[test]
    fn a_step_not_measurable_leaves_at_least_the_ok_step_below_it() {
        let steps = [
            (500.0, Ok),
            (1000.0, Ok),
            (2000.0, NotMeasurable),
            (4000.0, Failed),
        ];
        assert_eq!(sustained(&steps), (Some(1000.0), true));
    }

    #[test]
    fn over_repeats_a_bound_holds_only_where_every_repeat_setting_the_lowest_is_one() {
        assert_eq!(
            sustained_over_repeats(&[(Some(1000.0), true), (Some(500.0), false)]),
            (Some(500.0), false)
        );
        assert_eq!(
            sustained_over_repeats(&[(Some(1000.0), true), (Some(2000.0), false)]),
            (Some(1000.0), true)
        );
        assert_eq!(
            sustained_over_repeats(&[(Some(1000.0), false), (None, true)]),
            (None, true)
        );
    }

    #[test]
    fn each_rate_counts_the_repeats_that_passed_it() {
        // Given two repeats of a ladder of 500 and 1,000/s: both ok at 500, one ok at 1,000
        let steps = [(500.0, Ok), (1000.0, Failed), (500.0, Ok), (1000.0, Ok)];
        // When they are counted by rate
        let passed = passed_by_rate(&steps);
        // Then 500/s passed in 2 of 2 repeats and 1,000/s in 1 of 2
        let counts: Vec<(f64, u32, u32)> = passed.iter().map(|p| (p.rate, p.ok, p.repeats)).collect();
        assert_eq!(counts, [(500.0, 2, 2), (1000.0, 1, 2)]);
    }

    #[test]
    fn a_late_generator_makes_a_step_not_measurable_whatever_its_latency() {
        let evidence = StepEvidence {
            requests: 1000,
            judged_p99_ms: 40.0,
            slo_p99_ms: 25.0,
            unexpected_failures: 0,
            unanswered: 0,
            generator_limited: true,
            work: None,
        };
        assert_eq!(evidence.verdict(), NotMeasurable);
    }

    /// A deferred step at 10/s, its answers all accepted and fast, its completion p99 `judged_ms`
    /// against a 600 ms SLO, with `work`.
    fn deferred(judged_ms: f64, work: Result<WorkEvidence, String>) -> StepEvidence {
        StepEvidence {
            requests: 100,
            judged_p99_ms: judged_ms,
            slo_p99_ms: 600.0,
            unexpected_failures: 0,
            unanswered: 0,
            generator_limited: false,
            work: Some(work),
        }
    }

    #[test]
    fn a_deferred_step_whose_answers_failed_has_failed_though_its_work_was_unseen() {
        // Given a deferred step whose arrivals were interrupted (a hung system leaves no traced answer)
        let hung = StepEvidence {
            unanswered: 50,
            ..deferred(
                f64::INFINITY,
                Err("no traced request of the step was accepted".into()),
            )
        };
        // Then it failed: its unseen work does not make it "not measurable here"
        assert_eq!(hung.verdict(), Failed);
        assert_eq!(hung.not_measurable_because(), None);
        // And with its answers in order, unseen work is not measurable
        let unseen = deferred(f64::INFINITY, Err("no traces".into()));
        assert_eq!(unseen.verdict(), NotMeasurable);
    }

    fn keeping_up() -> WorkEvidence {
        WorkEvidence {
            offered_per_s: 10.0,
            completions_per_s: 9.9,
            rejected: 0,
            backlog_grew: false,
        }
    }

    #[test]
    fn a_deferred_step_whose_work_keeps_up_within_the_slo_is_sustained() {
        assert_eq!(
            deferred(450.0, std::result::Result::Ok(keeping_up())).verdict(),
            Ok
        );
    }

    #[test]
    fn a_deferred_step_fails_on_each_rule_of_its_work() {
        // Completions under 98 % of the offered rate
        let slow = WorkEvidence {
            completions_per_s: 9.7,
            ..keeping_up()
        };
        assert_eq!(deferred(450.0, std::result::Result::Ok(slow)).verdict(), Failed);
        // A backlog that grew
        let growing = WorkEvidence {
            backlog_grew: true,
            ..keeping_up()
        };
        assert_eq!(
            deferred(450.0, std::result::Result::Ok(growing)).verdict(),
            Failed
        );
        // An answer the contract rejected
        let rejected = WorkEvidence {
            rejected: 1,
            ..keeping_up()
        };
        assert_eq!(
            deferred(450.0, std::result::Result::Ok(rejected)).verdict(),
            Failed
        );
        // The completion p99 over the SLO
        assert_eq!(
            deferred(700.0, std::result::Result::Ok(keeping_up())).verdict(),
            Failed
        );
    }

    #[test]
    fn a_deferred_step_without_completion_figures_is_not_measurable_with_the_reason() {
        let evidence = deferred(0.1, Err("the run has no traces".into()));
        assert_eq!(evidence.verdict(), NotMeasurable);
        assert_eq!(
            evidence.not_measurable_because().as_deref(),
            Some("its work could not be seen: the run has no traces")
        );
    }
}
