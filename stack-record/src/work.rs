//! The work a system has accepted but not yet done (issue 29): the backlog per second of a run, and
//! each capacity step's completion figures, from the traced requests and their traces. A design that
//! acknowledges at once and works later (`defers` in its contract) is judged on these, not on its
//! answers: a step is sustained only if its work keeps up. A module of its own so that the record
//! says what "backlog" and a step's completion are in one place (`docs/results.md`, "Backlog").

use serde::{Deserialize, Serialize};

/// One second of one repeat: how many accepted requests had been answered, and how many of them
/// completed, by the end of that second; each estimated from the traced requests (a uniform sample)
/// and scaled to all accepted answers. `backlog` is `accepted − completed`: work accepted, not done.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BacklogPoint {
    pub repeat: u32,
    /// The start of the one-second bucket, in `resources.csv`'s `t_s` of the repeat.
    pub t_s: f64,
    /// Accepted answers by the end of the second, cumulative from the run's first.
    pub accepted: f64,
    /// Of those, the ones whose work had completed (their trace's last span ended) by then.
    pub completed: f64,
    pub backlog: f64,
}

/// The completion of one capacity step's traced requests (k6's traced answers of the step's own k6
/// scenario), and whether the backlog grew over the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCompletion {
    /// Traced requests of the step whose answer was accepted.
    pub traced: u64,
    /// Of them, those whose trace reached no service.
    pub untraced: u64,
    /// Rejected traced answers (a check of the contract failed): the step's answers were not all
    /// accepted.
    #[serde(default)]
    pub rejected: u64,
    /// Of the traced, those whose trace had stopped receiving spans by the end of the drain.
    pub completed: u64,
    /// The step's accepted answers per second × the rate its traced requests were completed at ÷ the
    /// rate they were accepted at (as the scenario's `completion.completions_per_s`).
    pub completions_per_s: Option<f64>,
    /// `None` where too few traced requests support a p99 (the step's `withheld` names
    /// `completion_p99_ms`): then `max_ms` bounds it.
    pub p99_ms: Option<f64>,
    /// The slowest traced request's completion (a trace still receiving at its lower bound).
    pub max_ms: Option<f64>,
    /// The judged figure (`p99_ms`, else `max_ms`) lies at or above a trace still receiving spans at
    /// the end of the drain: the work took at least that long.
    #[serde(default)]
    pub at_least: bool,
    /// The least-squares slope of the backlog over the step's whole seconds, requests per second.
    pub backlog_slope_per_s: Option<f64>,
    /// The slope's standard error, requests per second.
    pub backlog_slope_se_per_s: Option<f64>,
    /// The backlog grew over the step: its slope less twice its standard error exceeds 2 % of the
    /// offered rate. `None` where the step has fewer than 3 whole seconds of backlog.
    pub backlog_grew: Option<bool>,
    /// Why the completion figures could not judge the step (no traces, too many untraced, too short
    /// for a backlog trend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld_because: Option<String>,
}

impl StepCompletion {
    /// The completion latency the step is judged on: its p99, else its slowest, which bounds it.
    pub fn judged_ms(&self) -> Option<f64> {
        self.p99_ms.or(self.max_ms)
    }
}
