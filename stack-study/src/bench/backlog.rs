//! The backlog: work a system accepted and has not done yet (issue 29), per second of a run, and
//! whether it grew over a capacity step. A design that acknowledges at once can answer any rate while
//! its queue grows without bound; the backlog is what shows it.
//!
//! It is estimated from the traced requests, a uniform sample of the accepted ones: at the end of
//! each second, the traced requests answered (accepted) by then minus those whose work was done (their
//! trace's last span ended) by then, each count scaled by the run's accepted answers over its traced
//! ones with a trace. A trace still receiving spans at the end of the drain (or an acknowledged
//! request whose work never showed) is never done, so it stays in the backlog to the run's end.
//!
//! Growth over a step is judged against sampling noise: the least-squares slope of the backlog over
//! the step's whole seconds, less twice its standard error, must exceed [`GROWTH_ALLOWANCE`] of the
//! offered rate, the same 2 % the completions-per-second rule allows. A backlog that only steps up as
//! a higher rate fills the pipeline (Little's law: rate × time in the system) has a small slope over
//! the step and wide scatter about it; a queue growing without bound rises every second.

use stack_record::BacklogPoint;

/// The share of the offered rate a backlog may grow by per second and still count as kept up with.
pub const GROWTH_ALLOWANCE: f64 = 0.02;

/// The fewest whole seconds of a step a backlog trend is taken over.
pub const TREND_SECONDS: usize = 3;

/// When a traced request with a trace was answered and, if its work was done, when; Unix ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracedEvent {
    pub accepted_ms: f64,
    pub done_ms: Option<f64>,
}

/// The backlog at the end of each second of a repeat from the run's first accepted answer to its last
/// event, `events` scaled by `accepted_answers` ÷ `events.len()`; seconds in the repeat's `t_s`
/// (`repeat_start_ms`, Unix ms, is `t_s` = 0). Empty without events.
pub fn per_second(
    events: &[TracedEvent],
    accepted_answers: u64,
    repeat: u32,
    repeat_start_ms: f64,
) -> Vec<BacklogPoint> {
    if events.is_empty() {
        return Vec::new();
    }
    let scale = accepted_answers.max(events.len() as u64) as f64 / events.len() as f64;
    let mut accepted: Vec<f64> = events.iter().map(|e| e.accepted_ms).collect();
    let mut done: Vec<f64> = events.iter().filter_map(|e| e.done_ms).collect();
    accepted.sort_by(f64::total_cmp);
    done.sort_by(f64::total_cmp);
    let second_of = |unix_ms: f64| ((unix_ms - repeat_start_ms) / 1000.0).floor() as i64;
    let first = second_of(accepted[0]);
    let last_ms = done.last().map_or(accepted[accepted.len() - 1], |d| {
        d.max(accepted[accepted.len() - 1])
    });
    let (mut accepted_by, mut done_by) = (0, 0);
    (first..=second_of(last_ms))
        .map(|second| {
            let end_ms = repeat_start_ms + (second + 1) as f64 * 1000.0;
            accepted_by += accepted[accepted_by..]
                .iter()
                .take_while(|t| **t < end_ms)
                .count();
            done_by += done[done_by..].iter().take_while(|t| **t < end_ms).count();
            let (a, d) = (accepted_by as f64 * scale, done_by as f64 * scale);
            BacklogPoint {
                repeat,
                t_s: second as f64,
                accepted: tenth(a),
                completed: tenth(d),
                backlog: tenth(a - d),
            }
        })
        .collect()
}

fn tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// A least-squares line through the backlog over some seconds: its slope and the slope's standard
/// error, requests per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BacklogTrend {
    pub slope_per_s: f64,
    pub se_per_s: f64,
}

impl BacklogTrend {
    /// Over the whole seconds of `repeat` within `[from_s, to_s]` (its `t_s`): the seconds whose
    /// bucket lies inside. `None` for fewer than [`TREND_SECONDS`] of them.
    pub fn over(points: &[BacklogPoint], repeat: u32, from_s: f64, to_s: f64) -> Option<Self> {
        let xy: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.repeat == repeat && p.t_s >= from_s && p.t_s + 1.0 <= to_s)
            .map(|p| (p.t_s, p.backlog))
            .collect();
        if xy.len() < TREND_SECONDS {
            return None;
        }
        let n = xy.len() as f64;
        let mean_x = xy.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = xy.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = xy.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
        let sxy: f64 = xy.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
        let slope = sxy / sxx;
        let residuals: f64 = xy
            .iter()
            .map(|(x, y)| (y - mean_y - slope * (x - mean_x)).powi(2))
            .sum();
        Some(Self {
            slope_per_s: slope,
            se_per_s: (residuals / (n - 2.0) / sxx).sqrt(),
        })
    }

    /// The backlog grew at `offered_per_s`: its slope less twice its standard error exceeds
    /// [`GROWTH_ALLOWANCE`] of the offered rate.
    pub fn grew(&self, offered_per_s: f64) -> bool {
        self.slope_per_s - 2.0 * self.se_per_s > GROWTH_ALLOWANCE * offered_per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: f64 = 1_800_000_000_000.0;

    /// `per_s` requests a second for `seconds`, each done `took_ms` after it was accepted, or done
    /// `per_s_done` a second in order of arrival (a queue), whichever is later.
    fn arrivals(per_s: f64, seconds: f64, took_ms: f64, done_per_s: f64) -> Vec<TracedEvent> {
        let count = (per_s * seconds) as usize;
        (0..count)
            .map(|i| {
                let accepted_ms = START_MS + i as f64 * 1000.0 / per_s;
                let queued_ms = START_MS + took_ms + i as f64 * 1000.0 / done_per_s;
                TracedEvent {
                    accepted_ms,
                    done_ms: Some((accepted_ms + took_ms).max(queued_ms)),
                }
            })
            .collect()
    }

    #[test]
    fn the_backlog_is_accepted_minus_completed_scaled_from_the_traced_sample() {
        // Given 10 traced requests of a run that accepted 100, all answered in second 0, 4 of them done
        // in second 1 and the rest never
        let mut events: Vec<TracedEvent> = (0..10)
            .map(|i| TracedEvent {
                accepted_ms: START_MS + f64::from(i) * 50.0,
                done_ms: None,
            })
            .collect();
        for event in &mut events[..4] {
            event.done_ms = Some(START_MS + 1_500.0);
        }
        // When the backlog per second is estimated
        let points = per_second(&events, 100, 1, START_MS);
        // Then second 0 holds 100 accepted and none done, second 1 60 still to do
        let backlogs: Vec<(f64, f64, f64, f64)> = points
            .iter()
            .map(|p| (p.t_s, p.accepted, p.completed, p.backlog))
            .collect();
        assert_eq!(backlogs, [(0.0, 100.0, 0.0, 100.0), (1.0, 100.0, 40.0, 60.0)]);
    }

    #[test]
    fn a_queue_completing_slower_than_it_accepts_grows_its_backlog() {
        // Given 10/s accepted for 10 s, done at 4/s
        let events = arrivals(10.0, 10.0, 100.0, 4.0);
        let points = per_second(&events, 100, 1, START_MS);
        // When its trend over the 10 s is taken
        let trend = BacklogTrend::over(&points, 1, 0.0, 10.0).expect("10 whole seconds");
        // Then it grows by about 6 a second, well beyond its noise
        assert!((trend.slope_per_s - 6.0).abs() < 0.5, "{trend:?}");
        assert!(trend.grew(10.0), "{trend:?}");
    }

    #[test]
    fn a_system_keeping_up_holds_its_backlog_level() {
        // Given 10/s accepted for 10 s, each done 400 ms later by enough workers
        let events = arrivals(10.0, 10.0, 400.0, 1_000.0);
        let points = per_second(&events, 100, 1, START_MS);
        // When its trend over the 10 s is taken
        let trend = BacklogTrend::over(&points, 1, 0.0, 10.0).expect("10 whole seconds");
        // Then it did not grow: about 4 in the system throughout
        assert!(!trend.grew(10.0), "{trend:?}");
        assert!(points[3].backlog >= 3.0 && points[3].backlog <= 5.0, "{points:?}");
    }

    #[test]
    fn a_step_with_too_few_whole_seconds_has_no_trend() {
        let points = per_second(&arrivals(10.0, 10.0, 100.0, 4.0), 100, 1, START_MS);
        assert_eq!(BacklogTrend::over(&points, 1, 0.5, 3.0), None);
    }

    #[test]
    fn noise_about_a_level_is_not_growth() {
        // Given a backlog scattered between 0 and 6 about a level, rising by chance at the end
        let levels = [3.0, 0.0, 6.0, 1.0, 5.0, 2.0, 6.0];
        let points: Vec<BacklogPoint> = levels
            .iter()
            .enumerate()
            .map(|(t, backlog)| BacklogPoint {
                repeat: 1,
                t_s: t as f64,
                accepted: 0.0,
                completed: 0.0,
                backlog: *backlog,
            })
            .collect();
        // When its trend is judged at 10/s offered
        let trend = BacklogTrend::over(&points, 1, 0.0, 7.0).expect("7 seconds");
        // Then its slope is positive, but within twice its error: not growth
        assert!(trend.slope_per_s > 0.2, "{trend:?}");
        assert!(!trend.grew(10.0), "{trend:?}");
    }
}
