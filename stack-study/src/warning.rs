//! What a reader should know before trusting a run's figures, as a type.
//!
//! [`warnings`] is the one place that decides what is worth a warning, and it decides from the record
//! alone (`meta.json`, `results.json`, `resources.csv`), so a run reads the same whenever it is
//! read. The bench stores their text in `results.json`; the report and the bench's summary only
//! render them. A record's own warning that this analysis does not make (a run of another
//! implementation, written by its own tool) is kept as it is, as [`Warning::Recorded`].

use std::{collections::BTreeMap, fmt};

use stack_record::{Accounting, DbReset, LagRule, Meta, OpenLoop, ResourceRow, Results, RunRecord, Stat};

use crate::page::{number, MIB};

/// The sampler's budget, in % of one core.
const SAMPLER_BUDGET_PERCENT: f64 = 1.0;

#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// `meta.json` has no end time.
    Unfinished,
    /// k6 crossed one of its thresholds (`<scenario> repeat <n>: ...`, as the record lists it).
    ThresholdCrossed(String),
    /// An arrival-rate scenario could not start some of its iterations in one repeat.
    Dropped {
        scenario: String,
        repeat: u32,
        count: u64,
    },
    /// Requests that failed unexpectedly, or checks that failed, over the repeats.
    Failed {
        scenario: String,
        what: Failure,
        per_repeat: Vec<f64>,
    },
    /// An open-loop scenario's schedule lag exceeded the lag allowed it in some repeat: its p99, or,
    /// where too few arrivals support a p99, its maximum (`p99_withheld`); `lag_ms` the largest over
    /// the repeats, `limit_ms` the smallest allowed; `above_floor`: allowed k6's calibrated floor
    /// plus 5 % of the corrected p99, else the SLO's lag limit.
    GeneratorLate {
        scenario: String,
        limit_ms: f64,
        lag_ms: f64,
        p99_withheld: bool,
        above_floor: bool,
    },
    /// Some capacity steps were limited by the load generator rather than the system.
    GeneratorLimitedSteps { scenario: String },
    /// Requests cut off by the end of a run or step before their answer.
    Interrupted {
        scenario: String,
        /// The capacity step's offered rate, for a step.
        step: Option<f64>,
        repeat: u32,
        count: u64,
    },
    /// The arrivals of a run or step do not add up to its plan.
    AccountingOpen {
        scenario: String,
        step: Option<f64>,
        accounting: Accounting,
    },
    /// Repeats after the first started from the previous repeat's data.
    NotReset,
    /// k6 and the system were not pinned to CPUs of their own (`--cpus`): they competed for cores.
    NotIsolated,
    /// The resource sampler cost more than its budget.
    SamplerOverBudget { percent: f64 },
    /// A service's samples suggest it restarted.
    Restarted {
        process: String,
        repeat: u32,
        t_s: f64,
        sign: RestartSign,
    },
    /// A warning the record carries that this analysis does not make.
    Recorded(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    UnexpectedFailures,
    FailedChecks,
}

/// What made a service look restarted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RestartSign {
    /// No samples for this many seconds.
    Gap { seconds: f64 },
    /// Its resident memory fell from one figure to another, in bytes.
    Shrank { from: u64, to: u64 },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unfinished => f.write_str("the run has no end time: it is under way, or it was cut short"),
            Self::ThresholdCrossed(which) => write!(f, "threshold failed: {which}"),
            Self::Dropped {
                scenario,
                repeat,
                count,
            } => write!(f, "{scenario} repeat {repeat}: {count} dropped iterations"),
            Self::Failed {
                scenario,
                what,
                per_repeat,
            } => write_failed(f, scenario, *what, per_repeat),
            Self::GeneratorLate { .. } => write_generator_late(f, self),
            Self::Interrupted {
                scenario,
                step,
                repeat,
                count,
            } => write!(
                f,
                "{scenario}{} repeat {repeat}: {count} requests still unanswered when it ended (interrupted)",
                step_label(*step)
            ),
            Self::AccountingOpen {
                scenario,
                step,
                accounting: a,
            } => write!(
                f,
                "{scenario}{} repeat {}: {} arrivals scheduled, but {} completed + {} failed + {} dropped + {} interrupted = {}",
                step_label(*step),
                a.repeat,
                a.scheduled,
                a.completed,
                a.failed,
                a.dropped,
                a.interrupted,
                a.completed + a.failed + a.dropped + a.interrupted
            ),
            Self::GeneratorLimitedSteps { scenario } => write!(
                f,
                "{scenario}: some capacity steps were limited by the load generator"
            ),
            Self::NotReset => f.write_str("the database was not reset between repeats (db_reset: none)"),
            Self::NotIsolated => f.write_str(
                "the run was not isolated: k6 and the system shared the machine's cores (--cpus auto, the default, pins them apart where stack starts the system and has two CPUs)",
            ),
            Self::SamplerOverBudget { percent } => write!(
                f,
                "the sampler used {percent:.2} % of a core, above its {SAMPLER_BUDGET_PERCENT:.0} % budget"
            ),
            Self::Restarted {
                process,
                repeat,
                t_s,
                sign,
            } => write_restarted(f, process, *repeat, *t_s, sign),
            Self::Recorded(text) => f.write_str(text),
        }
    }
}

/// A [`Warning::GeneratorLate`]'s sentence (nothing for any other warning).
fn write_generator_late(f: &mut fmt::Formatter<'_>, warning: &Warning) -> fmt::Result {
    let Warning::GeneratorLate {
        scenario,
        limit_ms,
        lag_ms,
        p99_withheld,
        above_floor,
    } = warning
    else {
        return Ok(());
    };
    write!(
        f,
        "{scenario}: k6's schedule lag {} {} ms exceeded its limit of {} ms{}: the generator, not the \
         system, set the pace",
        if *p99_withheld {
            "maximum (its p99 withheld: under 1,000 arrivals)"
        } else {
            "p99"
        },
        number(*lag_ms),
        number(*limit_ms),
        if *above_floor {
            " (k6's calibrated floor p99 + 5 % of the corrected p99)"
        } else {
            ""
        }
    )
}

/// The warning of an open-loop run judged generator-limited: its largest lag over the repeats
/// against the smallest lag allowed, and by which rule.
fn generator_late(scenario: &str, open: &OpenLoop) -> Warning {
    let largest = |stat: &Stat| stat.runs.iter().copied().fold(stat.mean, f64::max);
    Warning::GeneratorLate {
        scenario: scenario.to_owned(),
        limit_ms: open.allowed_lag_ms(),
        lag_ms: open
            .lag_p99_ms
            .as_ref()
            .map_or(largest(&open.lag_max_ms), largest),
        p99_withheld: open.lag_p99_ms.is_none(),
        above_floor: open
            .lag_judgement
            .as_ref()
            .is_some_and(|judgement| judgement.rule == LagRule::AboveFloor),
    }
}

/// [`Warning::Failed`]: the total and each repeat's.
fn write_failed(
    f: &mut fmt::Formatter<'_>,
    scenario: &str,
    what: Failure,
    per_repeat: &[f64],
) -> fmt::Result {
    let what = match what {
        Failure::UnexpectedFailures => "unexpected failures",
        Failure::FailedChecks => "failed checks",
    };
    let repeats: Vec<String> = per_repeat
        .iter()
        .enumerate()
        .map(|(i, value)| format!("repeat {}: {}", i + 1, number(*value)))
        .collect();
    write!(
        f,
        "{scenario}: {} {what} ({})",
        number(per_repeat.iter().sum()),
        repeats.join(", ")
    )
}

/// [`Warning::Restarted`]: where, and the sign of it.
fn write_restarted(
    f: &mut fmt::Formatter<'_>,
    process: &str,
    repeat: u32,
    t_s: f64,
    sign: &RestartSign,
) -> fmt::Result {
    write!(
        f,
        "{process} may have restarted in repeat {repeat} near t = {} s (",
        number(t_s)
    )?;
    match sign {
        RestartSign::Gap { seconds } => write!(f, "no samples for {} s)", number(*seconds)),
        RestartSign::Shrank { from, to } => write!(
            f,
            "its memory fell from {} to {} MiB)",
            number(*from as f64 * MIB),
            number(*to as f64 * MIB)
        ),
    }
}

/// ` step <rate>/s` for a capacity step, nothing for a whole run.
fn step_label(step: Option<f64>) -> String {
    step.map_or(String::new(), |rate| format!(" step {}/s", number(rate)))
}

/// Every warning about `run`, in the order a reader should meet them.
pub fn warnings(run: &RunRecord) -> Vec<Warning> {
    let mut warnings = of_record(&run.meta, run.results.as_ref(), &run.resources);
    // A record's own warnings: those this analysis makes are already above.
    let made: Vec<String> = warnings.iter().map(Warning::to_string).collect();
    if let Some(results) = &run.results {
        warnings.extend(
            results
                .warnings
                .iter()
                .filter(|text| !made.contains(text))
                .map(|text| Warning::Recorded(text.clone())),
        );
    }
    warnings
}

/// The warnings the record's figures call for.
pub fn of_record(meta: &Meta, results: Option<&Results>, resources: &[ResourceRow]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if meta.ended_at.is_none() {
        warnings.push(Warning::Unfinished);
    }
    if meta.db_reset == DbReset::None && meta.repeats > 1 {
        warnings.push(Warning::NotReset);
    }
    if meta.cpus.as_ref().is_some_and(|cpus| !cpus.isolated()) {
        warnings.push(Warning::NotIsolated);
    }
    if let Some(percent) = meta.sampler.cpu_percent_of_one_core {
        if percent > SAMPLER_BUDGET_PERCENT {
            warnings.push(Warning::SamplerOverBudget { percent });
        }
    }
    if let Some(results) = results {
        warnings.extend(
            results
                .thresholds
                .failed
                .iter()
                .cloned()
                .map(Warning::ThresholdCrossed),
        );
        for (name, scenario) in &results.scenarios {
            for (repeat, count) in per_repeat(&scenario.dropped_iterations) {
                warnings.push(Warning::Dropped {
                    scenario: name.clone(),
                    repeat,
                    count: count as u64,
                });
            }
            for (stat, what) in [
                (&scenario.unexpected_failures, Failure::UnexpectedFailures),
                (&scenario.checks_failed, Failure::FailedChecks),
            ] {
                if stat.runs.iter().sum::<f64>() > 0.0 {
                    warnings.push(Warning::Failed {
                        scenario: name.clone(),
                        what,
                        per_repeat: stat.runs.clone(),
                    });
                }
            }
            if let Some(open) = &scenario.open_loop {
                if open.generator_limited {
                    warnings.push(generator_late(name, open));
                }
                for accounting in &open.accounting {
                    warnings.extend(accounting_warnings(name, None, accounting));
                }
            }
        }
        for (name, capacity) in results.capacity.iter().flatten() {
            if capacity.generator_limited {
                warnings.push(Warning::GeneratorLimitedSteps {
                    scenario: name.clone(),
                });
            }
            for step in &capacity.steps {
                if let Some(accounting) = &step.accounting {
                    warnings.extend(accounting_warnings(name, Some(step.rate), accounting));
                }
            }
        }
    }
    warnings.extend(restarts(resources, meta.sampler.interval_s));
    warnings
}

/// What one run's or step's accounting calls for: its interrupted requests, and parts that do not
/// add up to the plan.
fn accounting_warnings(scenario: &str, step: Option<f64>, accounting: &Accounting) -> Vec<Warning> {
    let mut found = Vec::new();
    if accounting.interrupted > 0 {
        found.push(Warning::Interrupted {
            scenario: scenario.to_owned(),
            step,
            repeat: accounting.repeat,
            count: accounting.interrupted,
        });
    }
    if !accounting.closes() {
        found.push(Warning::AccountingOpen {
            scenario: scenario.to_owned(),
            step,
            accounting: *accounting,
        });
    }
    found
}

/// `(repeat, value)` of each repeat whose value is not zero.
fn per_repeat(stat: &Stat) -> impl Iterator<Item = (u32, f64)> + '_ {
    (1..)
        .zip(stat.runs.iter().copied())
        .filter(|(_, value)| *value > 0.0)
}

/// A service whose samples stop and start again, or whose memory suddenly falls to a fraction of
/// what it held, was most likely restarted (a new process starts small). PostgreSQL and k6 are
/// left out: their backends and VUs come and go by design.
fn restarts(rows: &[ResourceRow], interval_s: f64) -> Vec<Warning> {
    let mut series: BTreeMap<(u32, &str), Vec<&ResourceRow>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|row| row.process != "postgres" && row.process != "k6")
    {
        series.entry((row.repeat, &row.process)).or_default().push(row);
    }
    let mut found = Vec::new();
    for ((repeat, process), mut samples) in series {
        samples.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        for pair in samples.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let sign = if after.t_s - before.t_s > 3.0 * interval_s.max(0.1) {
                RestartSign::Gap {
                    seconds: after.t_s - before.t_s,
                }
            } else if (after.rss_bytes as f64) < 0.5 * before.rss_bytes as f64 {
                RestartSign::Shrank {
                    from: before.rss_bytes,
                    to: after.rss_bytes,
                }
            } else {
                continue;
            };
            found.push(Warning::Restarted {
                process: process.to_owned(),
                repeat,
                t_s: after.t_s,
                sign,
            });
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_s: f64, process: &str, rss_mib: u64) -> ResourceRow {
        ResourceRow {
            repeat: 1,
            t_s,
            process: process.into(),
            cpu_percent: 1.0,
            rss_bytes: rss_mib << 20,
            pss_bytes: None,
            interval_s: 1.0,
        }
    }

    #[test]
    fn a_service_whose_memory_halves_is_reported_as_restarted() {
        // Given userservice at 40 MiB that drops to 6 MiB, and postgres doing the same by design
        let rows = [
            row(1.0, "userservice", 40),
            row(2.0, "userservice", 6),
            row(1.0, "postgres", 200),
            row(2.0, "postgres", 50),
        ];
        // When the samples are searched for restarts
        let found = restarts(&rows, 1.0);
        // Then userservice, and only it, is named
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "userservice may have restarted in repeat 1 near t = 2.00 s (its memory fell from 40.0 to 6.00 MiB)"
        );
    }

    #[test]
    fn a_service_whose_samples_stop_and_resume_is_reported_as_restarted() {
        let rows = [row(1.0, "orderservice", 9), row(9.0, "orderservice", 9)];
        let found = restarts(&rows, 1.0);
        assert_eq!(
            found,
            [Warning::Restarted {
                process: "orderservice".into(),
                repeat: 1,
                t_s: 9.0,
                sign: RestartSign::Gap { seconds: 8.0 },
            }]
        );
        assert!(found[0].to_string().contains("no samples for 8.00 s"));
    }

    #[test]
    fn steady_samples_report_no_restart() {
        let rows = [row(1.0, "orderservice", 9), row(2.0, "orderservice", 10)];
        assert!(restarts(&rows, 1.0).is_empty());
    }
}
