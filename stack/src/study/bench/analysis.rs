//! `results.json` from a run's raw material: each measured run's k6 samples, the resource rows and
//! the windows of the measured runs. Every figure is computed per repeat and then summarised over
//! the repeats as a [`Stat`]; percentiles are exact from the raw samples.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::Result;

use super::{
    cost,
    stats::{self, histogram, percentile_ms, run_figures, stat, Request, RunFigures, Samples},
};
use crate::{
    scenario::{CapacitySteps, Scenario},
    study::record::{
        self, Capacity, FixedWork, ProcessResources, ResourceRow, Results, ScenarioResult, Stat, Step,
        Thresholds, TimelinePoint, Window, FORMAT_VERSION,
    },
};

/// k6 above this share of one core in a step: the generator may be the limit.
pub const GENERATOR_CPU_LIMIT: f64 = 90.0;

/// One measured run: which scenario, which repeat, its window and when its repeat began.
#[derive(Debug, Clone)]
pub struct Measured {
    pub scenario: Scenario,
    pub window: Window,
    /// The repeat's start, in Unix milliseconds (`t_s` = 0).
    pub repeat_start_ms: f64,
    /// k6 exited with crossed thresholds.
    pub thresholds_crossed: bool,
}

pub struct Inputs<'a> {
    pub dir: &'a Path,
    pub repeats: u32,
    pub measured: &'a [Measured],
    pub resources: &'a [ResourceRow],
    pub s4_reports: Option<u32>,
    /// `capacity` only: each scenario's steps, and seconds per step.
    pub capacity: Option<(&'a BTreeMap<Scenario, CapacitySteps>, f64)>,
}

pub fn results(inputs: &Inputs) -> Result<Results> {
    let mut scenarios = BTreeMap::new();
    let mut capacity = BTreeMap::new();
    let measured: BTreeSet<Scenario> = inputs.measured.iter().map(|m| m.scenario).collect();
    for scenario in measured {
        let name = scenario.name();
        let runs: Vec<&Measured> = inputs
            .measured
            .iter()
            .filter(|m| m.scenario == scenario)
            .collect();
        let mut per_run: Vec<(RunFigures, u64, u64)> = Vec::new();
        let mut pooled: Vec<f64> = Vec::new();
        let mut timeline = Vec::new();
        let mut steps = Vec::new();
        let mut sustained_per_repeat = Vec::new();
        for run in &runs {
            let path = record::scenario_dir(inputs.dir, run.window.repeat, name).join(record::SAMPLES_FILE);
            let samples = Samples::read(&path)?;
            let requests: Vec<&Request> = samples
                .requests
                .iter()
                .filter(|r| scenario.runs_as(&r.scenario))
                .collect();
            let figures = run_figures(&requests);
            let dropped = count_of(&samples.dropped_iterations, scenario);
            let checks_failed = count_of(&samples.checks_failed, scenario);
            pooled.extend(requests.iter().map(|r| r.duration_ms));
            timeline.extend(timeline_of(&requests, run));
            if let Some((plans, step_s)) = inputs.capacity {
                if let Some(plan) = plans.get(&scenario) {
                    let run_steps = steps_of(&samples, scenario, plan, step_s, run, inputs.resources);
                    sustained_per_repeat.push(stats::sustained_rate(
                        &run_steps.iter().map(|s| (s.rate, s.ok)).collect::<Vec<_>>(),
                    ));
                    steps.extend(run_steps);
                }
            }
            per_run.push((figures, dropped, checks_failed));
        }
        let of = |get: fn(&(RunFigures, u64, u64)) -> f64| stat(&per_run.iter().map(get).collect::<Vec<_>>());
        let windows: Vec<Window> = runs.iter().map(|run| run.window).collect();
        let resources = resources_of(inputs.resources, &windows);
        let cost = cost::per_request(
            inputs.resources,
            &windows,
            &per_run.iter().map(|r| r.0.requests).collect::<Vec<_>>(),
        );
        let fixed_work = (scenario == Scenario::S4)
            .then_some(inputs.s4_reports)
            .flatten()
            .map(|reports| FixedWork {
                reports,
                seconds: of(|r| r.0.duration_s),
            });
        if let Some((plans, _)) = inputs.capacity {
            if let Some(plan) = plans.get(&scenario) {
                let generator_limited = steps.iter().any(|s: &Step| s.generator_limited);
                capacity.insert(
                    name.to_owned(),
                    Capacity {
                        slo_p99_ms: plan.slo_p99_ms,
                        steps,
                        sustained_rate: sustained_per_repeat
                            .iter()
                            .copied()
                            .try_fold(f64::INFINITY, |low, rate| rate.map(|rate| low.min(rate)))
                            .filter(|rate| rate.is_finite()),
                        sustained_per_repeat,
                        generator_limited,
                    },
                );
            }
        }
        scenarios.insert(
            name.to_owned(),
            ScenarioResult {
                window: windows,
                requests: of(|r| r.0.requests as f64),
                rate_per_s: of(|r| r.0.rate_per_s),
                p50_ms: of(|r| r.0.p50_ms),
                p90_ms: of(|r| r.0.p90_ms),
                p99_ms: of(|r| r.0.p99_ms),
                p999_ms: of(|r| r.0.p999_ms),
                max_ms: of(|r| r.0.max_ms),
                unexpected_failures: of(|r| r.0.unexpected_failures as f64),
                dropped_iterations: of(|r| r.1 as f64),
                checks_failed: of(|r| r.2 as f64),
                fixed_work,
                distribution: stats::distribution(&histogram(&pooled)),
                timeline,
                resources,
                hops: None,
                cost,
            },
        );
    }
    let failed: Vec<String> = inputs
        .measured
        .iter()
        .filter(|m| m.thresholds_crossed)
        .map(|m| {
            format!(
                "{} repeat {}: thresholds crossed (see its k6.txt)",
                m.scenario, m.window.repeat
            )
        })
        .collect();
    Ok(Results {
        format_version: FORMAT_VERSION,
        repeats: inputs.repeats,
        scenarios,
        capacity: inputs.capacity.map(|_| capacity),
        thresholds: Thresholds {
            passed: failed.is_empty(),
            failed,
        },
        // The warnings are made from the finished record (`crate::study::warning`).
        warnings: Vec::new(),
    })
}

/// A count of a scenario's, capacity steps included.
fn count_of(counts: &BTreeMap<String, u64>, scenario: Scenario) -> u64 {
    counts
        .iter()
        .filter(|(k6_name, _)| scenario.runs_as(k6_name))
        .map(|(_, count)| count)
        .sum()
}

/// Requests completed and their p99 per second of the run, by `t_s` of its repeat.
fn timeline_of(requests: &[&Request], run: &Measured) -> Vec<TimelinePoint> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for request in requests {
        let second = ((request.end_ms - run.repeat_start_ms) / 1000.0).floor() as i64;
        buckets.entry(second).or_default().push(request.duration_ms);
    }
    buckets
        .into_iter()
        .map(|(second, durations)| TimelinePoint {
            repeat: run.window.repeat,
            t_s: second as f64,
            requests: durations.len() as u64,
            p99_ms: percentile_ms(&histogram(&durations), 99.0),
        })
        .collect()
}

fn resources_of(rows: &[ResourceRow], windows: &[Window]) -> BTreeMap<String, ProcessResources> {
    let per_window: Vec<BTreeMap<String, (f64, f64, f64)>> = windows
        .iter()
        .map(|window| stats::resources_in(rows, window))
        .collect();
    let mut processes: Vec<&String> = per_window.iter().flat_map(|w| w.keys()).collect();
    processes.sort();
    processes.dedup();
    processes
        .into_iter()
        .map(|process| {
            let values = |pick: fn(&(f64, f64, f64)) -> f64| -> Stat {
                stat(
                    &per_window
                        .iter()
                        .map(|w| w.get(process).map_or(0.0, pick))
                        .collect::<Vec<_>>(),
                )
            };
            (
                process.clone(),
                ProcessResources {
                    cpu_mean_percent: values(|v| v.0),
                    cpu_max_percent: values(|v| v.1),
                    rss_max_bytes: values(|v| v.2),
                },
            )
        })
        .collect()
}

/// The capacity steps of one run of `scenario`.
fn steps_of(
    samples: &Samples,
    scenario: Scenario,
    plan: &CapacitySteps,
    step_s: f64,
    run: &Measured,
    resources: &[ResourceRow],
) -> Vec<Step> {
    let duration_s = plan.step_duration_s(step_s);
    plan.steps
        .iter()
        .enumerate()
        .map(|(index, &(rate, _, max_vus_allowed))| {
            let step_name = scenario.step_name(index);
            let requests: Vec<&Request> = samples
                .requests
                .iter()
                .filter(|r| r.scenario == step_name)
                .collect();
            let figures = run_figures(&requests);
            let dropped = samples.dropped_iterations.get(&step_name).copied().unwrap_or(0);
            let max_vus = samples
                .vus
                .iter()
                .filter(|(at, _)| *at >= figures.first_start_ms && *at <= figures.last_end_ms)
                .map(|(_, vus)| *vus)
                .max()
                .unwrap_or(0);
            let window = Window {
                repeat: run.window.repeat,
                start_s: (figures.first_start_ms - run.repeat_start_ms) / 1000.0,
                end_s: (figures.last_end_ms - run.repeat_start_ms) / 1000.0,
            };
            let k6_cpu = stats::resources_in(resources, &window)
                .get("k6")
                .map_or(0.0, |figures| figures.0);
            let generator_limited =
                (dropped > 0 && max_vus >= max_vus_allowed) || k6_cpu > GENERATOR_CPU_LIMIT;
            Step {
                repeat: run.window.repeat,
                rate: rate / plan.unit_s(),
                achieved_per_s: figures.requests as f64 / duration_s,
                p99_ms: figures.p99_ms,
                unexpected_failures: figures.unexpected_failures,
                dropped_iterations: dropped,
                max_vus,
                k6_cpu_percent: (k6_cpu * 10.0).round() / 10.0,
                generator_limited,
                ok: figures.requests > 0
                    && figures.p99_ms <= plan.slo_p99_ms
                    && figures.unexpected_failures == 0
                    && dropped == 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(step: &str, count: usize, duration_ms: f64, start_ms: f64) -> Vec<Request> {
        (0..count)
            .map(|i| Request {
                scenario: step.into(),
                end_ms: start_ms + i as f64 * (10_000.0 / count as f64) + duration_ms,
                duration_ms,
                failed: false,
            })
            .collect()
    }

    #[test]
    fn capacity_steps_are_judged_against_the_slo_drops_and_the_generator() {
        // Given three 10 s steps of 100, 200 and 400/s (maxVUs 10 each) with a 25 ms SLO: the first
        // fast, the second over the SLO, the third dropping iterations with all its VUs in use
        let plan = CapacitySteps {
            slo_p99_ms: 25.0,
            time_unit: "1s".into(),
            grace_s: 2.0,
            min_step_s: 0.0,
            steps: vec![(100.0, 5, 10), (200.0, 5, 10), (400.0, 5, 10)],
        };
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 1000, 2.0, 0.0));
        samples
            .requests
            .extend(requests("s6_step2", 2000, 40.0, 12_000.0));
        samples.requests.extend(requests("s6_step3", 3000, 5.0, 24_000.0));
        samples.dropped_iterations.insert("s6_step3".into(), 1000);
        samples.vus.push((30_000.0, 10));
        let run = Measured {
            scenario: Scenario::S6,
            window: Window {
                repeat: 1,
                start_s: 0.0,
                end_s: 40.0,
            },
            repeat_start_ms: 0.0,
            thresholds_crossed: false,
        };
        // When the steps are judged
        let steps = steps_of(&samples, Scenario::S6, &plan, 10.0, &run, &[]);
        // Then only the first is ok, the third is the generator's limit, and 100/s is sustained
        let verdicts: Vec<(f64, bool, bool)> = steps
            .iter()
            .map(|s| (s.rate, s.ok, s.generator_limited))
            .collect();
        assert_eq!(
            verdicts,
            [(100.0, true, false), (200.0, false, false), (400.0, false, true)]
        );
        assert_eq!(steps[0].achieved_per_s, 100.0);
        assert_eq!(
            stats::sustained_rate(&steps.iter().map(|s| (s.rate, s.ok)).collect::<Vec<_>>()),
            Some(100.0)
        );
    }
}
