//! `results.json` from a run's raw material: each measured run's k6 samples, the resource rows and
//! the windows of the measured runs. Every figure is computed per repeat and then summarised over
//! the repeats as a [`Stat`]; percentiles are exact from the raw samples, and reported only where
//! every repeat has the samples they need ([`record::needed_samples`]).
//!
//! An arrival-rate run (and each capacity step) is also judged as an open loop: its schedule lag
//! and corrected latency (the k6 script's `schedule_lag` and `corrected_duration`), and the
//! accounting of its arrivals against the plan the script emits (`schedule_arrivals`,
//! `schedule_seconds`). The generator is judged by its lag: above k6's calibrated floor against the
//! corrected p99 it would distort, or against [`lag_limit_ms`] where no floor is known
//! ([`judge_lag`]).
//!
//! Issue 30: the corrected distribution counts every scheduled arrival, the unanswered ones at a
//! lower bound of their wait ([`unanswered`]), and an open-loop step is judged on it
//! ([`step_verdict`]), k6's plain latency recorded beside it.

mod step_verdict;
mod step_work;
mod unanswered;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::Result;

use super::{
    backlog,
    completion::{self, CompletionRun},
    cost,
    generator::{judge_lag, lag_limit_ms, lag_limited, usable_floor},
    memory,
    stats::{
        self, histogram, over_repeats, request_figures, stat, Plan, Request, RequestFigures, Sampled, Samples,
    },
};
use stack_record::{
    self as record,
    ceiling::{CeilingFile, Probe},
    traces::{read_traces, TraceId, TraceSummary, TRACES_FILE},
    Accounting, BacklogPoint, Capacity, Completion, FixedWork, JudgedLatency, OpenLoop, ProcessResources,
    ResourceRow, Results, ScenarioResult, Stat, Step, StepCompletion, StepSchedule, StepVerdict, Thresholds,
    TimelinePoint, Window, Withheld, FORMAT_VERSION,
};

use self::{
    step_verdict::{passed_by_rate, sustained, sustained_over_repeats, StepEvidence, WorkEvidence},
    step_work::{step_completion, RunWork, StepAt},
    unanswered::{defined_in_every_run, latency_bounds},
};

use crate::scenario::{CapacitySteps, Scenario};

/// One measured run: which scenario, which repeat, its window and when its repeat began.
#[derive(Debug, Clone)]
pub struct MeasuredRun {
    pub scenario: Scenario,
    pub window: Window,
    /// The repeat's start, in Unix milliseconds (`t_s` = 0).
    pub repeat_start_ms: f64,
    /// k6 exited with crossed thresholds.
    pub thresholds_crossed: bool,
    /// When `stack` stopped receiving spans for this run and cut its `traces.csv`, Unix ns: a trace
    /// receiving spans just before it is not completed ([`completion`]). `None` when unknown.
    pub drain_end_unix_ns: Option<u64>,
}

pub struct Inputs<'a> {
    pub dir: &'a Path,
    pub repeats: u32,
    pub measured: &'a [MeasuredRun],
    pub resources: &'a [ResourceRow],
    pub s4_reports: Option<u32>,
    /// Every scenario's SLO and capacity steps (`k6-tests/capacity.json`).
    pub plans: &'a BTreeMap<Scenario, CapacitySteps>,
    /// `capacity` only: seconds per step.
    pub capacity_step_s: Option<f64>,
    /// The generator's ceiling on this machine (`stack calibrate`), when bench has one.
    pub ceiling: Option<&'a CeilingFile>,
    /// The system ran on this host, so its spans share k6's clock ([`crate::target::Target::on_this_host`]).
    pub spans_on_this_host: bool,
    /// The scenarios the run's contract `defers` (`options.contract.defers`): their capacity steps
    /// are judged on their work ([`step_work`]).
    pub defers: &'a [String],
}

impl<'a> Inputs<'a> {
    /// k6's calibrated lag floor for scenario `name`, where the ceiling file has one.
    fn floor_of(&self, name: &str) -> Option<&'a Probe> {
        self.ceiling
            .and_then(|file| file.scenarios.get(name))
            .and_then(usable_floor)
    }
}

/// One measured run of a scenario, reduced.
struct ReducedRun {
    figures: RequestFigures,
    latency: Sampled,
    dropped: u64,
    checks_failed: u64,
    /// Arrival-rate runs outside the capacity profile.
    open: Option<OpenLoopSamples>,
    /// Its traced requests against its traces, where the run has a `traces.csv`.
    completion: Option<CompletionRun>,
}

impl ReducedRun {
    /// Requests answered as expected per second: of the plan where open-loop, else of the run.
    fn rate_per_s(&self) -> f64 {
        self.open
            .as_ref()
            .map_or(self.figures.rate_per_s, OpenLoopSamples::rate_per_s)
    }
}

/// The open-loop side of one run (or step).
struct OpenLoopSamples {
    lag: Sampled,
    /// Every scheduled arrival's latency from its intended start: the answered ones as measured,
    /// the unanswered at their lower bound ([`unanswered`]).
    corrected: Sampled,
    accounting: Accounting,
}

impl OpenLoopSamples {
    /// From the samples of k6 scenario `k6_name`, if the script planned it as arrival-rate;
    /// `grace_s`: how long its iterations had to finish after its plan ended, where known.
    fn of(
        samples: &Samples,
        k6_name: &str,
        figures: &RequestFigures,
        dropped: u64,
        repeat: u32,
        grace_s: f64,
    ) -> Option<Self> {
        let plan: &Plan = samples.plans.get(k6_name)?;
        let empty = Vec::new();
        let lags = samples.lags.get(k6_name).unwrap_or(&empty);
        let accounting = Accounting {
            repeat,
            scheduled: plan.arrivals,
            scheduled_s: plan.seconds,
            completed: figures.completed,
            failed: figures.unexpected_failures,
            dropped,
            // Every started iteration records its lag first thing; one whose answer did not
            // arrive before the end of its grace has no request in the samples.
            interrupted: (lags.len() as u64).saturating_sub(figures.requests),
        };
        let mut corrected = samples.corrected.get(k6_name).unwrap_or(&empty).clone();
        // An arrival never answered waits longer than any that was: it ranks above every answered
        // latency, so a late drop's small bound cannot pull a percentile below what was answered.
        let slowest_answered = corrected.iter().copied().fold(0.0, f64::max);
        corrected.extend(
            latency_bounds(
                plan,
                samples.clocks.get(k6_name),
                samples.drop_times.get(k6_name).unwrap_or(&empty),
                accounting.interrupted,
                grace_s,
            )
            .into_iter()
            .map(|bound| bound.max(slowest_answered)),
        );
        Some(Self {
            lag: Sampled::of(lags),
            corrected: Sampled::of(&corrected),
            accounting,
        })
    }

    /// The corrected percentile `q`, unless the unanswered arrivals leave it undefined or too few
    /// samples support it (the reason in `withheld`).
    fn corrected_at(&self, figure: &str, q: f64, withheld: &mut Vec<Withheld>) -> Option<f64> {
        defined_in_every_run(figure, q, &[self.accounting], withheld)
            .then(|| self.corrected.supported(figure, q, withheld))
            .flatten()
    }

    /// Requests answered as expected per second of the plan.
    fn rate_per_s(&self) -> f64 {
        if self.accounting.scheduled_s > 0.0 {
            self.accounting.completed as f64 / self.accounting.scheduled_s
        } else {
            0.0
        }
    }
}

pub fn results(inputs: &Inputs) -> Result<Results> {
    let mut scenarios = BTreeMap::new();
    let mut capacity = BTreeMap::new();
    let measured: BTreeSet<Scenario> = inputs.measured.iter().map(|m| m.scenario).collect();
    for scenario in measured {
        let name = scenario.name();
        let steps_plan = inputs
            .capacity_step_s
            .and_then(|step_s| inputs.plans.get(&scenario).map(|plan| (plan, step_s)));
        let runs: Vec<&MeasuredRun> = inputs
            .measured
            .iter()
            .filter(|m| m.scenario == scenario)
            .collect();
        let read = ScenarioRuns::read(inputs, scenario, &runs, steps_plan)?;
        if let Some((plan, _)) = steps_plan {
            capacity.insert(
                name.to_owned(),
                capacity_of(name, plan, read.steps, read.sustained_per_repeat, inputs.ceiling),
            );
        }
        scenarios.insert(
            name.to_owned(),
            scenario_result(
                inputs,
                scenario,
                &runs,
                &read.per_run,
                &read.pooled,
                read.timeline,
                read.backlog,
            ),
        );
    }
    Ok(Results {
        format_version: FORMAT_VERSION,
        repeats: inputs.repeats,
        scenarios,
        capacity: inputs.capacity_step_s.map(|_| capacity),
        thresholds: thresholds_of(inputs.measured),
        // The warnings are made from the finished record (`crate::warning`).
        warnings: Vec::new(),
    })
}

/// The runs of one scenario, read from their sample files and each reduced as it is read: a run's
/// samples are many, its figures few.
struct ScenarioRuns {
    per_run: Vec<ReducedRun>,
    /// Every request's latency over the repeats: the pooled distribution.
    pooled: Vec<f64>,
    timeline: Vec<TimelinePoint>,
    /// Each repeat's backlog per second, where it traced requests.
    backlog: Vec<BacklogPoint>,
    /// `capacity` only: every step of every repeat, and each repeat's sustained rate (and whether
    /// it is a lower bound only).
    steps: Vec<Step>,
    sustained_per_repeat: Vec<(Option<f64>, bool)>,
}

impl ScenarioRuns {
    /// Reads `runs`, the measured runs of `scenario`; `steps_plan`: its capacity steps and seconds
    /// per step, in a capacity run.
    fn read(
        inputs: &Inputs,
        scenario: Scenario,
        runs: &[&MeasuredRun],
        steps_plan: Option<(&CapacitySteps, f64)>,
    ) -> Result<Self> {
        let name = scenario.name();
        let mut read = Self {
            per_run: Vec::new(),
            pooled: Vec::new(),
            timeline: Vec::new(),
            backlog: Vec::new(),
            steps: Vec::new(),
            sustained_per_repeat: Vec::new(),
        };
        for run in runs {
            let path = record::scenario_dir(inputs.dir, run.window.repeat, name).join(record::SAMPLES_FILE);
            let samples = Samples::read(&path)?;
            let requests: Vec<&Request> = samples
                .requests
                .iter()
                .filter(|r| scenario.runs_as(&r.scenario))
                .collect();
            let durations: Vec<f64> = requests.iter().map(|r| r.duration_ms).collect();
            let figures = request_figures(&requests);
            let dropped = count_of(&samples.dropped_iterations, scenario);
            read.pooled.extend(&durations);
            read.timeline.extend(timeline_of(&requests, run));
            let traces = traces_of(inputs, scenario, run)?;
            let completion = traces
                .as_ref()
                .map(|traces| completion_run(scenario, run, &samples, traces, !inputs.spans_on_this_host));
            let backlog = completion.as_ref().map_or_else(Vec::new, |completion| {
                backlog::per_second(
                    &completion.events,
                    figures.completed,
                    run.window.repeat,
                    run.repeat_start_ms,
                )
            });
            if let Some((plan, step_s)) = steps_plan {
                let work = inputs.defers.iter().any(|d| d == name).then_some(RunWork {
                    traces: traces.as_ref(),
                    drain_end_unix_ns: run.drain_end_unix_ns,
                    backlog: &backlog,
                    spans_elsewhere: !inputs.spans_on_this_host,
                });
                let ladder = Ladder {
                    plan,
                    step_s,
                    floor: inputs.floor_of(name),
                };
                let run_steps = steps_of(&samples, scenario, &ladder, run, inputs.resources, work.as_ref());
                read.sustained_per_repeat.push(sustained(
                    &run_steps
                        .iter()
                        .map(|s| (s.rate, s.verdict()))
                        .collect::<Vec<_>>(),
                ));
                read.steps.extend(run_steps);
            }
            read.backlog.extend(backlog);
            read.per_run.push(ReducedRun {
                completion,
                // The run's grace is the script's, not known here: 0 bounds an interruption below.
                open: OpenLoopSamples::of(&samples, name, &figures, dropped, run.window.repeat, 0.0),
                figures,
                latency: Sampled::of(&durations),
                dropped,
                checks_failed: count_of(&samples.checks_failed, scenario),
            });
        }
        Ok(read)
    }
}

/// A run's `traces.csv`; `None` where it has none.
fn traces_of(
    inputs: &Inputs,
    scenario: Scenario,
    run: &MeasuredRun,
) -> Result<Option<BTreeMap<TraceId, TraceSummary>>> {
    let path = record::scenario_dir(inputs.dir, run.window.repeat, scenario.name()).join(TRACES_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(read_traces(&path)?))
}

/// A run's traced requests of `scenario` against its traces.
fn completion_run(
    scenario: Scenario,
    run: &MeasuredRun,
    samples: &Samples,
    traces: &BTreeMap<TraceId, TraceSummary>,
    elsewhere: bool,
) -> CompletionRun {
    let answers = samples.traced.iter().filter(|t| scenario.runs_as(&t.scenario));
    CompletionRun::of(answers, traces, run.drain_end_unix_ns, elsewhere)
}

/// The completion figures, where every repeat has its traces.
fn completion_over(per_run: &[ReducedRun], withheld: &mut Vec<Withheld>) -> Option<Completion> {
    let runs: Vec<CompletionRun> = per_run
        .iter()
        .map(|r| r.completion.clone())
        .collect::<Option<_>>()?;
    let rates: Vec<f64> = per_run.iter().map(ReducedRun::rate_per_s).collect();
    completion::completion_of(&runs, &rates, withheld)
}

/// One scenario's figures over its repeats, from its runs reduced: its entry in `results.json`.
fn scenario_result(
    inputs: &Inputs,
    scenario: Scenario,
    runs: &[&MeasuredRun],
    per_run: &[ReducedRun],
    pooled: &[f64],
    timeline: Vec<TimelinePoint>,
    backlog: Vec<BacklogPoint>,
) -> ScenarioResult {
    let slo_p99_ms = inputs.plans.get(&scenario).map(|plan| plan.slo_p99_ms);
    let of = |get: &dyn Fn(&ReducedRun) -> f64| stat(&per_run.iter().map(get).collect::<Vec<_>>());
    let windows: Vec<Window> = runs.iter().map(|run| run.window).collect();
    let resources = resources_of(inputs.resources, &windows);
    let fixed_work = (scenario == Scenario::S4)
        .then_some(inputs.s4_reports)
        .flatten()
        .map(|reports| FixedWork {
            reports,
            seconds: of(&|r| r.figures.duration_s),
        });
    let mut withheld = Vec::new();
    let latencies: Vec<&Sampled> = per_run.iter().map(|r| &r.latency).collect();
    let p50_ms = over_repeats("p50_ms", 50.0, &latencies, &mut withheld);
    let p90_ms = over_repeats("p90_ms", 90.0, &latencies, &mut withheld);
    let p99_ms = over_repeats("p99_ms", 99.0, &latencies, &mut withheld);
    let p999_ms = over_repeats("p999_ms", 99.9, &latencies, &mut withheld);
    let open_loop = open_loop_of(
        per_run,
        slo_p99_ms,
        inputs.floor_of(scenario.name()),
        &mut withheld,
    );
    let completion = completion_over(per_run, &mut withheld);
    let cost = cost::per_request(
        inputs.resources,
        &windows,
        &per_run.iter().map(|r| r.figures.requests).collect::<Vec<_>>(),
        &mut withheld,
    );
    ScenarioResult {
        window: windows,
        requests: of(&|r| r.figures.requests as f64),
        rate_per_s: of(&ReducedRun::rate_per_s),
        p50_ms,
        p90_ms,
        p99_ms,
        p999_ms,
        max_ms: of(&|r| r.figures.max_ms),
        withheld,
        open_loop,
        unexpected_failures: of(&|r| r.figures.unexpected_failures as f64),
        dropped_iterations: of(&|r| r.dropped as f64),
        checks_failed: of(&|r| r.checks_failed as f64),
        fixed_work,
        distribution: stats::distribution(&histogram(pooled)),
        timeline,
        resources,
        hops: None,
        cost,
        completion,
        backlog,
    }
}

/// Whether k6's thresholds held, and the runs where they did not: k6 exits with an error then.
fn thresholds_of(measured: &[MeasuredRun]) -> Thresholds {
    let failed: Vec<String> = measured
        .iter()
        .filter(|m| m.thresholds_crossed)
        .map(|m| {
            format!(
                "{} repeat {}: thresholds crossed (see its k6.txt)",
                m.scenario, m.window.repeat
            )
        })
        .collect();
    Thresholds {
        passed: failed.is_empty(),
        failed,
    }
}

/// The open-loop figures over the repeats, when every repeat was an arrival-rate run; `floor`: k6's
/// calibrated lag floor for the scenario, where known.
fn open_loop_of(
    per_run: &[ReducedRun],
    slo_p99_ms: Option<f64>,
    floor: Option<&Probe>,
    withheld: &mut Vec<Withheld>,
) -> Option<OpenLoop> {
    let open: Vec<&OpenLoopSamples> = per_run.iter().map(|r| r.open.as_ref()).collect::<Option<_>>()?;
    if open.is_empty() {
        return None;
    }
    let lag_limit_ms = lag_limit_ms(slo_p99_ms.unwrap_or(0.0));
    let lags: Vec<&Sampled> = open.iter().map(|r| &r.lag).collect();
    // Each repeat's corrected p99 (its slowest where withheld): the figure its lag would distort.
    let judged: Vec<f64> = open
        .iter()
        .map(|r| {
            r.corrected_at("corrected_p99_ms", 99.0, &mut Vec::new())
                .unwrap_or_else(|| r.corrected.at(100.0))
        })
        .collect();
    let lag_judgement = judge_lag(floor, slo_p99_ms.unwrap_or(0.0), &judged);
    let mut corrected = |figure: &str, q: f64| corrected_over_repeats(figure, q, &open, withheld);
    let (corrected_p50_ms, corrected_p90_ms, corrected_p99_ms, corrected_p999_ms) = (
        corrected("corrected_p50_ms", 50.0),
        corrected("corrected_p90_ms", 90.0),
        corrected("corrected_p99_ms", 99.0),
        corrected("corrected_p999_ms", 99.9),
    );
    Some(OpenLoop {
        lag_limit_ms,
        lag_p50_ms: over_repeats("lag_p50_ms", 50.0, &lags, withheld),
        lag_p99_ms: over_repeats("lag_p99_ms", 99.0, &lags, withheld),
        lag_max_ms: stat(&lags.iter().map(|lag| lag.at(100.0)).collect::<Vec<_>>()),
        corrected_p50_ms,
        corrected_p90_ms,
        corrected_p99_ms,
        corrected_p999_ms,
        accounting: open.iter().map(|r| r.accounting).collect(),
        generator_limited: lag_limited(&lags, &lag_judgement),
        lag_judgement: Some(lag_judgement),
    })
}

/// The corrected percentile `q` over the repeats: withheld unless every repeat answered enough of
/// its arrivals for it to be defined and has the samples to support it.
fn corrected_over_repeats(
    figure: &str,
    q: f64,
    open: &[&OpenLoopSamples],
    withheld: &mut Vec<Withheld>,
) -> Option<Stat> {
    let accountings: Vec<Accounting> = open.iter().map(|r| r.accounting).collect();
    if !defined_in_every_run(figure, q, &accountings, withheld) {
        return None;
    }
    let corrected: Vec<&Sampled> = open.iter().map(|r| &r.corrected).collect();
    over_repeats(figure, q, &corrected, withheld)
}

/// A scenario's capacity from its steps, stated against the generator's ceiling when known.
fn capacity_of(
    name: &str,
    plan: &CapacitySteps,
    steps: Vec<Step>,
    sustained_per_repeat: Vec<(Option<f64>, bool)>,
    ceiling: Option<&CeilingFile>,
) -> Capacity {
    let (sustained_rate, sustained_at_least) = sustained_over_repeats(&sustained_per_repeat);
    let sustained_per_repeat = sustained_per_repeat.iter().map(|(rate, _)| *rate).collect();
    let generator_ceiling_per_s = ceiling
        .and_then(|file| file.scenarios.get(name))
        .and_then(|scenario| scenario.ceiling_per_s);
    let verdicts: Vec<(f64, StepVerdict)> = steps.iter().map(|s| (s.rate, s.verdict())).collect();
    Capacity {
        passed_by_rate: passed_by_rate(&verdicts),
        slo_p99_ms: plan.slo_p99_ms,
        generator_limited: steps.iter().any(|s| s.generator_limited),
        steps,
        sustained_rate,
        sustained_at_least,
        sustained_per_repeat,
        generator_ceiling_per_s,
        beyond_generator: matches!(
            (sustained_rate, generator_ceiling_per_s),
            (Some(rate), Some(ceiling)) if rate >= ceiling
        ),
    }
}

/// A count of a scenario's, capacity steps included.
fn count_of(counts: &BTreeMap<String, u64>, scenario: Scenario) -> u64 {
    counts
        .iter()
        .filter(|(k6_name, _)| scenario.runs_as(k6_name))
        .map(|(_, count)| count)
        .sum()
}

/// Requests completed per second of the run, by `t_s` of its repeat, with their slowest and, in a
/// second with the samples for it, their p99.
fn timeline_of(requests: &[&Request], run: &MeasuredRun) -> Vec<TimelinePoint> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for request in requests {
        let second = ((request.end_ms - run.repeat_start_ms) / 1000.0).floor() as i64;
        buckets.entry(second).or_default().push(request.duration_ms);
    }
    buckets
        .into_iter()
        .map(|(second, durations)| {
            let second_of = Sampled::of(&durations);
            TimelinePoint {
                repeat: run.window.repeat,
                t_s: second as f64,
                requests: second_of.count,
                p99_ms: second_of.supported("p99_ms", 99.0, &mut Vec::new()),
                max_ms: Some(second_of.at(100.0)),
            }
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
                    pss_max_bytes: memory::pss_max(rows, windows, process),
                },
            )
        })
        .collect()
}

/// A scenario's capacity steps as a run climbs them: its plan, the seconds per step, and k6's
/// calibrated lag floor for it, where known.
struct Ladder<'a> {
    plan: &'a CapacitySteps,
    step_s: f64,
    floor: Option<&'a Probe>,
}

/// The capacity steps of one run of `scenario`.
fn steps_of(
    samples: &Samples,
    scenario: Scenario,
    ladder: &Ladder,
    run: &MeasuredRun,
    resources: &[ResourceRow],
    work: Option<&RunWork>,
) -> Vec<Step> {
    let (plan, step_s, floor) = (ladder.plan, ladder.step_s, ladder.floor);
    plan.steps
        .iter()
        .enumerate()
        .map(|(index, &(rate, _, _))| {
            let step_name = scenario.step_name(index);
            let requests: Vec<&Request> = samples
                .requests
                .iter()
                .filter(|r| r.scenario == step_name)
                .collect();
            let figures = request_figures(&requests);
            let latency = Sampled::of(&requests.iter().map(|r| r.duration_ms).collect::<Vec<_>>());
            let dropped = samples.dropped_iterations.get(&step_name).copied().unwrap_or(0);
            let open = OpenLoopSamples::of(
                samples,
                &step_name,
                &figures,
                dropped,
                run.window.repeat,
                plan.grace_s,
            );
            let mut withheld = Vec::new();
            let p99_ms = latency.supported("p99_ms", 99.0, &mut withheld);
            let max_ms = latency.at(100.0);
            let schedule = open.as_ref().map(|open| step_schedule(open, &mut withheld));
            let duration_s = open
                .as_ref()
                .map_or(plan.step_duration_s(step_s), |open| open.accounting.scheduled_s);
            let mut step = Step {
                repeat: run.window.repeat,
                rate: rate / plan.unit_s(),
                achieved_per_s: achieved_per_s(figures.completed, duration_s),
                p99_ms,
                max_ms: Some(max_ms),
                unexpected_failures: figures.unexpected_failures,
                dropped_iterations: dropped,
                schedule,
                accounting: open.as_ref().map(|open| open.accounting),
                withheld,
                max_vus: max_vus_over(&samples.vus, &figures),
                k6_cpu_percent: k6_cpu_over(resources, run, &figures),
                generator_limited: false,
                lag_judgement: None,
                ok: false,
                verdict: None,
                judged_on: None,
                completion: None,
                not_measurable_because: None,
                seconds: step_seconds(samples, &step_name, run),
            };
            let work = work.map(|work| judged_work(&mut step, samples, &step_name, work));
            judge_generator(&mut step, open.as_ref(), floor, plan.slo_p99_ms);
            judge_step(&mut step, figures.requests, plan.slo_p99_ms, work);
            step
        })
        .collect()
}

/// Sets whether k6 was late for an open-loop step: its lag above the floor against the latency the
/// step is judged on, a deferred step's completion (set by [`judged_work`]) or else its corrected
/// answer.
fn judge_generator(step: &mut Step, open: Option<&OpenLoopSamples>, floor: Option<&Probe>, slo_p99_ms: f64) {
    let (Some(open), Some(schedule)) = (open, step.schedule) else {
        return;
    };
    let judged_ms = step
        .completion
        .as_ref()
        .and_then(StepCompletion::judged_ms)
        .or(schedule.judged_p99_ms())
        .unwrap_or(0.0);
    let judgement = judge_lag(floor, slo_p99_ms, &[judged_ms]);
    step.generator_limited = lag_limited(&[&open.lag], &judgement);
    step.lag_judgement = Some(judgement);
}

/// When a step's arrivals were planned, in its repeat's `t_s`: from its plan's start for its
/// planned seconds; `None` without its lag samples.
fn step_seconds(samples: &Samples, step_name: &str, run: &MeasuredRun) -> Option<[f64; 2]> {
    let clock = samples.clocks.get(step_name)?;
    let seconds = samples.plans.get(step_name)?.seconds;
    let from_s = (clock.began_ms - run.repeat_start_ms) / 1000.0;
    Some([from_s, from_s + seconds])
}

/// A deferred step's completion figures, set on `step`, as the evidence its verdict judges.
fn judged_work(
    step: &mut Step,
    samples: &Samples,
    step_name: &str,
    work: &RunWork,
) -> Result<WorkEvidence, String> {
    let at = StepAt {
        answers: samples
            .traced
            .iter()
            .filter(|t| t.scenario == step_name)
            .collect(),
        achieved_per_s: step.achieved_per_s,
        offered_per_s: step.rate,
        repeat: step.repeat,
        seconds: step.seconds,
    };
    let completion = step_completion(&at, work, &mut step.withheld);
    let evidence = WorkEvidence::of(&completion, step.rate);
    step.completion = Some(completion);
    evidence
}

/// Sets a step's verdict: a deferred step's (`work`) on its completion and its work; else on its
/// corrected latency where it has one (an open-loop step), else on k6's. Where the judged p99 is
/// withheld, its slowest bounds it, within the SLO only if it is. Unanswered arrivals fail a step
/// whether or not they leave its p99 defined.
fn judge_step(step: &mut Step, requests: u64, slo_p99_ms: f64, work: Option<Result<WorkEvidence, String>>) {
    let judged_on = match (&work, step.schedule.is_some()) {
        (Some(_), _) => JudgedLatency::Completion,
        (None, true) => JudgedLatency::Corrected,
        (None, false) => JudgedLatency::Plain,
    };
    step.judged_on = Some(judged_on);
    let unanswered = step
        .accounting
        .map_or(step.dropped_iterations, |a| a.unanswered());
    let evidence = StepEvidence {
        requests,
        judged_p99_ms: step.judged_p99_ms().unwrap_or(f64::INFINITY),
        slo_p99_ms,
        unexpected_failures: step.unexpected_failures,
        unanswered,
        generator_limited: step.generator_limited,
        work,
    };
    let verdict = evidence.verdict();
    step.ok = verdict == StepVerdict::Ok;
    step.verdict = Some(verdict);
    step.not_measurable_because = evidence.not_measurable_because();
}

/// The most VUs k6 held while a step's requests ran: an open step that needed more than it was
/// given shows it here.
fn max_vus_over(vus: &[(f64, u64)], figures: &RequestFigures) -> u64 {
    vus.iter()
        .filter(|(at, _)| *at >= figures.first_start_ms && *at <= figures.last_end_ms)
        .map(|(_, vus)| *vus)
        .max()
        .unwrap_or(0)
}

/// Requests answered as expected per second of a step's schedule: 0 for a schedule of no length.
fn achieved_per_s(completed: u64, duration_s: f64) -> f64 {
    if duration_s > 0.0 {
        completed as f64 / duration_s
    } else {
        0.0
    }
}

/// k6's mean CPU over a step's requests, in % of one core to a tenth: a generator near a full core
/// limits the rate it can offer.
fn k6_cpu_over(resources: &[ResourceRow], run: &MeasuredRun, figures: &RequestFigures) -> f64 {
    let window = Window {
        repeat: run.window.repeat,
        start_s: (figures.first_start_ms - run.repeat_start_ms) / 1000.0,
        end_s: (figures.last_end_ms - run.repeat_start_ms) / 1000.0,
    };
    let k6_cpu = stats::resources_in(resources, &window)
        .get("k6")
        .map_or(0.0, |figures| figures.0);
    (k6_cpu * 10.0).round() / 10.0
}

/// A step's schedule lag and corrected latency, each percentile withheld (and named in
/// `withheld`) where too few iterations support it, and each corrected one where the unanswered
/// arrivals leave it undefined.
fn step_schedule(open: &OpenLoopSamples, withheld: &mut Vec<Withheld>) -> StepSchedule {
    StepSchedule {
        lag_p50_ms: open.lag.supported("lag_p50_ms", 50.0, withheld),
        lag_p99_ms: open.lag.supported("lag_p99_ms", 99.0, withheld),
        lag_max_ms: open.lag.at(100.0),
        corrected_p50_ms: open.corrected_at("corrected_p50_ms", 50.0, withheld),
        corrected_p99_ms: open.corrected_at("corrected_p99_ms", 99.0, withheld),
        corrected_p999_ms: open.corrected_at("corrected_p999_ms", 99.9, withheld),
        corrected_max_ms: (open.corrected.count > 0).then(|| open.corrected.at(100.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::PlanClock;

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

    /// A 10 s step of `rate`/s as the script plans it, each iteration `lag_ms` late and answered
    /// `duration_ms` after it started.
    fn planned(samples: &mut Samples, step: &str, rate: u64, started: usize, lag_ms: f64, duration_ms: f64) {
        samples.plans.insert(
            step.into(),
            Plan {
                arrivals: rate * 10,
                seconds: 10.0,
            },
        );
        samples.lags.insert(step.into(), vec![lag_ms; started]);
        samples
            .corrected
            .insert(step.into(), vec![lag_ms + duration_ms; started]);
    }

    /// `plan`'s steps at 10 s each, with `floor`.
    fn ladder<'a>(plan: &'a CapacitySteps, floor: Option<&'a Probe>) -> Ladder<'a> {
        Ladder {
            plan,
            step_s: 10.0,
            floor,
        }
    }

    fn s6_steps(rates: &[f64]) -> CapacitySteps {
        CapacitySteps {
            slo_p99_ms: 25.0,
            time_unit: "1s".into(),
            grace_s: 2.0,
            min_step_s: 0.0,
            steps: rates.iter().map(|&rate| (rate, 5, 10)).collect(),
        }
    }

    fn repeat_1(end_s: f64) -> MeasuredRun {
        MeasuredRun {
            scenario: Scenario::S6,
            window: Window {
                repeat: 1,
                start_s: 0.0,
                end_s,
            },
            repeat_start_ms: 0.0,
            thresholds_crossed: false,
            drain_end_unix_ns: None,
        }
    }

    #[test]
    fn capacity_steps_are_judged_against_the_slo_drops_and_the_generators_lag() {
        // Given three 10 s steps of 100, 200 and 400/s with a 25 ms SLO (lag limit 1.25 ms): the
        // first fast and on time, the second over the SLO, the third fast but started 5 ms late
        let plan = s6_steps(&[100.0, 200.0, 400.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 1000, 2.0, 0.0));
        samples
            .requests
            .extend(requests("s6_step2", 2000, 40.0, 12_000.0));
        samples.requests.extend(requests("s6_step3", 4000, 5.0, 24_000.0));
        planned(&mut samples, "s6_step1", 100, 1000, 0.1, 2.0);
        planned(&mut samples, "s6_step2", 200, 2000, 0.1, 40.0);
        planned(&mut samples, "s6_step3", 400, 4000, 5.0, 5.0);
        // When the steps are judged
        let steps = steps_of(
            &samples,
            Scenario::S6,
            &ladder(&plan, None),
            &repeat_1(40.0),
            &[],
            None,
        );
        // Then the first two are the system's (ok, then over the SLO), the third neither: the
        // generator's, not measurable here
        let verdicts: Vec<(f64, StepVerdict, bool)> = steps
            .iter()
            .map(|s| (s.rate, s.verdict(), s.generator_limited))
            .collect();
        assert_eq!(
            verdicts,
            [
                (100.0, StepVerdict::Ok, false),
                (200.0, StepVerdict::Failed, false),
                (400.0, StepVerdict::NotMeasurable, true)
            ]
        );
        assert_eq!(steps[0].achieved_per_s, 100.0);
        assert!(steps.iter().all(|s| s.accounting.is_some_and(|a| a.closes())));
    }

    #[test]
    fn a_step_late_by_the_slos_lag_limit_is_measurable_when_its_lag_stays_near_k6s_floor() {
        // Given one 10 s step at 200/s with a 25 ms SLO, every iteration started 1.5 ms late (over
        // the SLO's 1.25 ms lag limit) and answered 20 ms later, and k6's calibrated floor at a lag
        // p99 of 1.2 ms
        let plan = s6_steps(&[200.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 2000, 20.0, 0.0));
        planned(&mut samples, "s6_step1", 200, 2000, 1.5, 20.0);
        let floor = Probe {
            rate_per_s: 100.0,
            iterations: 2000,
            dropped: 0,
            lag_p50_ms: 0.5,
            lag_p99_ms: 1.2,
            lag_max_ms: 4.0,
            k6_cpu_percent: 10.0,
            on_time: true,
        };
        // When it is judged with the floor, and without one
        let judged = |floor| {
            steps_of(
                &samples,
                Scenario::S6,
                &ladder(&plan, floor),
                &repeat_1(12.0),
                &[],
                None,
            )
        };
        let (above_floor, by_slo) = (judged(Some(&floor)), judged(None));
        // Then with the floor it was allowed 1.2 ms + 5 % of its 21.5 ms corrected p99 and is ok;
        // without, it is the generator's, not measurable here; each step records its rule
        let judgement = above_floor[0].lag_judgement.clone().expect("an open-loop step");
        assert_eq!(judgement.rule, record::LagRule::AboveFloor);
        assert!(
            (judgement.allowed_lag_p99_ms[0] - 2.275).abs() < 0.01,
            "{judgement:?}"
        );
        assert_eq!(above_floor[0].verdict(), StepVerdict::Ok);
        assert_eq!(
            by_slo[0].lag_judgement.as_ref().map(|j| j.rule),
            Some(record::LagRule::SloLimit)
        );
        assert_eq!(by_slo[0].verdict(), StepVerdict::NotMeasurable);
    }

    #[test]
    fn a_deferred_step_without_traces_is_not_measurable_and_says_why() {
        // Given a 10 s step at 200/s, every answer fast, of a scenario the contract defers, in a run
        // without traces
        let plan = s6_steps(&[200.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 2000, 2.0, 0.0));
        planned(&mut samples, "s6_step1", 200, 2000, 0.1, 2.0);
        let work = RunWork {
            traces: None,
            drain_end_unix_ns: None,
            backlog: &[],
            spans_elsewhere: false,
        };
        // When it is judged
        let steps = steps_of(
            &samples,
            Scenario::S6,
            &ladder(&plan, None),
            &repeat_1(12.0),
            &[],
            Some(&work),
        );
        // Then it is judged on its completion, which it has not: not measurable here, with the reason
        let step = &steps[0];
        assert_eq!(step.judged_on, Some(JudgedLatency::Completion));
        assert_eq!(step.verdict(), StepVerdict::NotMeasurable);
        let why = step.not_measurable_because.as_deref().unwrap_or_default();
        assert!(why.contains("no traces"), "{why}");
    }

    #[test]
    fn a_step_with_too_few_samples_for_a_p99_is_judged_by_its_slowest_request() {
        // Given one 10 s step at 5/s (50 requests), every answer within the SLO but one over it
        let plan = s6_steps(&[5.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 49, 2.0, 0.0));
        samples.requests.extend(requests("s6_step1", 1, 30.0, 0.0));
        // When it is judged
        let steps = steps_of(
            &samples,
            Scenario::S6,
            &ladder(&plan, None),
            &repeat_1(12.0),
            &[],
            None,
        );
        // Then its p99 is withheld, and its slowest request, over the SLO, fails it
        assert_eq!(steps[0].p99_ms, None);
        assert!(
            steps[0].max_ms.is_some_and(|max| (max - 30.0).abs() < 0.05),
            "{:?}",
            steps[0].max_ms
        );
        assert!(!steps[0].ok);
    }

    #[test]
    fn a_step_within_the_slo_on_k6s_latency_fails_on_its_corrected_latency() {
        // Given one 10 s step at 200/s (2,000 arrivals) with a 25 ms SLO, every iteration started on
        // time (lag 0.1 ms) and answered in 2 ms by k6's clock, but 30 of them (1.5 %) answered
        // 40 ms after their intended start: they waited for a connection, which k6's
        // http_req_duration leaves out and the corrected latency counts
        let plan = s6_steps(&[200.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 2000, 2.0, 0.0));
        planned(&mut samples, "s6_step1", 200, 2000, 0.1, 2.0);
        if let Some(corrected) = samples.corrected.get_mut("s6_step1") {
            corrected[..30].fill(40.0);
        }
        // When it is judged
        let steps = steps_of(
            &samples,
            Scenario::S6,
            &ladder(&plan, None),
            &repeat_1(12.0),
            &[],
            None,
        );
        // Then k6's p99 is within the SLO, the corrected p99 is not, and the step fails on it
        let step = &steps[0];
        let corrected_p99 = step.schedule.and_then(|s| s.corrected_p99_ms);
        assert!(step.p99_ms.is_some_and(|p99| p99 <= 25.0), "{:?}", step.p99_ms);
        assert!(corrected_p99.is_some_and(|p99| p99 > 25.0), "{corrected_p99:?}");
        assert_eq!(step.judged_on, Some(JudgedLatency::Corrected));
        assert_eq!(step.verdict(), StepVerdict::Failed);
    }

    #[test]
    fn dropped_arrivals_enter_the_corrected_p99_at_their_lower_bound() {
        // Given a 10 s run at 1,000/s begun at t = 0 whose 9,950 answered arrivals took 2 ms from
        // their intended start, but 80 (0.8 %) took 40 ms, and 50 more (0.5 %) were dropped at
        // t = 5 s: answered alone, the p99 would be 2 ms
        let plan = s6_steps(&[1000.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 9950, 2.0, 0.0));
        planned(&mut samples, "s6_step1", 1000, 9950, 0.1, 1.9);
        if let Some(corrected) = samples.corrected.get_mut("s6_step1") {
            corrected[..80].fill(40.0);
        }
        samples.dropped_iterations.insert("s6_step1".into(), 50);
        samples.drop_times.insert("s6_step1".into(), vec![5_000.0; 50]);
        samples.clocks.insert(
            "s6_step1".into(),
            PlanClock {
                began_ms: 0.0,
                last_start_ms: 10_000.0,
            },
        );
        // When it is reduced
        let steps = steps_of(
            &samples,
            Scenario::S6,
            &ladder(&plan, None),
            &repeat_1(12.0),
            &[],
            None,
        );
        // Then the drops count as the slowest 0.5 %, at least 5 s each, and the corrected p99 lies
        // among the 40 ms answers
        let schedule = steps[0].schedule.expect("an open-loop step");
        assert!(
            schedule
                .corrected_p99_ms
                .is_some_and(|p99| (p99 - 40.0).abs() < 0.1),
            "{schedule:?}"
        );
        assert!(
            schedule.corrected_max_ms.is_some_and(|max| max >= 5_000.0),
            "{schedule:?}"
        );
    }

    #[test]
    fn a_drop_stamped_at_the_end_still_ranks_above_every_answered_latency() {
        // Given the same run with its 50 drops (0.5 %) stamped 1 ms before its end, so their bound
        // is 1 ms, below every answer
        let plan = s6_steps(&[1000.0]);
        let mut samples = Samples::default();
        samples.requests.extend(requests("s6_step1", 9950, 2.0, 0.0));
        planned(&mut samples, "s6_step1", 1000, 9950, 0.1, 1.9);
        if let Some(corrected) = samples.corrected.get_mut("s6_step1") {
            corrected[..80].fill(40.0);
        }
        samples.dropped_iterations.insert("s6_step1".into(), 50);
        samples.drop_times.insert("s6_step1".into(), vec![9_999.0; 50]);
        samples.clocks.insert(
            "s6_step1".into(),
            PlanClock {
                began_ms: 0.0,
                last_start_ms: 10_000.0,
            },
        );
        // When it is reduced
        let steps = steps_of(
            &samples,
            Scenario::S6,
            &ladder(&plan, None),
            &repeat_1(12.0),
            &[],
            None,
        );
        // Then the drops still rank above the answers: the corrected p99 lies among the 40 ms ones,
        // not pulled down to the 2 ms ones
        let schedule = steps[0].schedule.expect("an open-loop step");
        assert!(
            schedule
                .corrected_p99_ms
                .is_some_and(|p99| (p99 - 40.0).abs() < 0.1),
            "{schedule:?}"
        );
    }
}
