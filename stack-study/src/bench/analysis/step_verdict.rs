//! A capacity step's verdict and the rate a repeat sustained from them (issue 30). An open-loop step
//! is judged on its corrected latency, from each arrival's intended start with its unanswered
//! arrivals counted: what a user at that rate waits, where k6's plain latency leaves out the time a
//! request waited for its turn. A step whose generator was late is neither ok nor failed: the system
//! was not offered its rate on time, so it is "not measurable here", and the rate sustained below it
//! is a lower bound.

use stack_record::StepVerdict;

/// What a step's verdict is made from.
#[derive(Debug, Clone, Copy)]
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
}

impl StepEvidence {
    pub fn verdict(&self) -> StepVerdict {
        if self.generator_limited {
            StepVerdict::NotMeasurable
        } else if self.requests > 0
            && self.judged_p99_ms <= self.slo_p99_ms
            && self.unexpected_failures == 0
            && self.unanswered == 0
        {
            StepVerdict::Ok
        } else {
            StepVerdict::Failed
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
    fn a_late_generator_makes_a_step_not_measurable_whatever_its_latency() {
        let evidence = StepEvidence {
            requests: 1000,
            judged_p99_ms: 40.0,
            slo_p99_ms: 25.0,
            unexpected_failures: 0,
            unanswered: 0,
            generator_limited: true,
        };
        assert_eq!(evidence.verdict(), NotMeasurable);
    }
}
