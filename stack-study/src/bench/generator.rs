//! The load generator judged and calibrated.
//!
//! k6 is on time when its schedule lag (how late each arrival-rate iteration starts behind its plan,
//! `schedule_lag` of the k6 script) stays small beside the latency being measured: a run or step is
//! **generator-limited** when its lag p99 above k6's calibrated floor exceeds [`DISTORTION`] (5 %)
//! of the corrected latency p99 it would distort ([`judge_lag`]); where no floor is known, when its
//! lag p99 exceeds [`lag_limit_ms`], max(1 ms, 5 % of the scenario's p99 SLO). The record says which
//! rule judged ([`LagJudgement`]).
//!
//! `stack calibrate` ([`calibrate`]) measures how fast k6 on this machine can offer each scenario's
//! arrivals on time: it drives the script's own iterations (profile `calibrate`) against the
//! [`Responder`], which answers at once, from the scenario's highest capacity step up by doubling or
//! down by halving, then bisects, and keeps the highest rate whose lag p99 is within the limit with
//! no dropped iteration; when none is, the file says so and keeps the lowest lag k6 showed. Each
//! scenario's floor is one more probe, at [`FLOOR_PER_S`] for [`floor_iterations`], the lag k6
//! shows with little else to do. Documented for users in `docs/generator.md`. It writes
//! `results/generator-ceiling.json` ([`CeilingFile`]), which `bench` reads: a capacity above the
//! ceiling is the generator's, not the system's.
//!
//! Each probe is a measured k6 invocation as `bench` makes them (the same script, raw samples and
//! summary written), so the ceiling includes what recording costs k6. The search stops at
//! [`CAP_FACTOR`] times the scenario's highest capacity step: beyond the rates the study offers the
//! ceiling is only "at least".

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context, Result};

use super::{
    k6, provenance,
    responder::Responder,
    sampler::{Reading, Sampler},
    stats::Sampled,
};
use stack_record::{
    ceiling::{CeilingFile, Probe, ScenarioCeiling, CEILING_FORMAT_VERSION},
    needed_samples,
    pinning::CpuPinning,
    LagJudgement, LagRule, Window, SUMMARY_FILE,
};

use crate::{
    scenario::{CapacityPlan, CapacitySteps, Scenario},
    target::entrypoints,
};

/// The search goes no higher than this many times a scenario's highest capacity step.
pub const CAP_FACTOR: f64 = 2.0;

/// Unless told otherwise, the search goes no lower than a scenario's first capacity step divided by
/// this: low enough to find the lag k6 shows when it is nearly idle (its floor), without probes of a
/// minute each at a few arrivals per second.
pub const FLOOR_DIVISOR: f64 = 16.0;

/// Bisections between the last rate on time and the first one late.
const BISECTIONS: u32 = 3;

/// The lag p99 above which a run of a scenario with this p99 SLO is the generator's, in ms, where
/// k6's floor is not known.
pub fn lag_limit_ms(slo_p99_ms: f64) -> f64 {
    (0.05 * slo_p99_ms).max(1.0)
}

/// The share of the latency percentile it would distort that a lag above k6's floor may reach.
pub const DISTORTION: f64 = 0.05;

/// The rate of a floor probe, arrivals per second: k6 at about a tenth of a core on our machine, so
/// the lag it shows is its own floor, not its speed (its lag grows with the rate: the ceiling).
pub const FLOOR_PER_S: f64 = 100.0;

/// A floor probe's iterations: twice what the record's n-rule asks of a p99, so its p99 has 20
/// samples beyond it.
pub fn floor_iterations() -> u64 {
    2 * needed_samples(99.0)
}

/// How a run (or step) of a scenario with this SLO is judged: with k6's `floor` (its floor probe,
/// `None` where not calibrated), each repeat may show a lag p99 of the floor's p99 plus
/// [`DISTORTION`] of `judged_p99_ms`, that repeat's corrected p99 (its slowest where withheld);
/// without one, [`lag_limit_ms`].
pub fn judge_lag(floor: Option<&Probe>, slo_p99_ms: f64, judged_p99_ms: &[f64]) -> LagJudgement {
    let allowed = |judged: f64| match floor {
        Some(floor) => floor.lag_p99_ms + DISTORTION * judged,
        None => lag_limit_ms(slo_p99_ms),
    };
    LagJudgement {
        rule: if floor.is_some() {
            LagRule::AboveFloor
        } else {
            LagRule::SloLimit
        },
        floor_p50_ms: floor.map(|floor| floor.lag_p50_ms),
        floor_p99_ms: floor.map(|floor| floor.lag_p99_ms),
        floor_rate_per_s: floor.map(|floor| floor.rate_per_s),
        judged_p99_ms: judged_p99_ms.to_vec(),
        allowed_lag_p99_ms: judged_p99_ms.iter().copied().map(allowed).collect(),
    }
}

/// The floor runs of a scenario are judged against: its floor probe, where its lag p99 rests on
/// the samples the record's n-rule asks of a p99 ([`needed_samples`]) and k6 dropped no arrival (a
/// k6 that cannot keep its floor probe's rate has no floor to speak of: the machine was busy).
pub fn usable_floor(ceiling: &ScenarioCeiling) -> Option<&Probe> {
    ceiling
        .floor_probe
        .as_ref()
        .filter(|probe| probe.iterations >= needed_samples(99.0) && probe.dropped == 0)
}

/// Whether some repeat's lag p99 (its maximum where too few samples support a p99) exceeds what
/// `judgement` allowed that repeat; `lags` in repeat order.
pub fn lag_limited(lags: &[&Sampled], judgement: &LagJudgement) -> bool {
    lags.iter()
        .zip(&judgement.allowed_lag_p99_ms)
        .any(|(lag, &allowed)| lag.p99_or_max_over(allowed))
}

/// What `stack calibrate` was asked to do.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    pub scenarios: Vec<Scenario>,
    /// Seconds per probe at least; a probe lasts long enough for [`PROBE_ITERATIONS`] iterations,
    /// up to [`PROBE_MAX_S`].
    pub probe_s: f64,
    /// No probe below or above these rates (arrivals per second); by default a scenario's first
    /// capacity step / [`FLOOR_DIVISOR`] and its highest step × [`CAP_FACTOR`].
    pub min_per_s: Option<f64>,
    pub max_per_s: Option<f64>,
}

/// Iterations a probe offers, so that its lag p99 rests on 1,000 samples (`PROBE_MAX_S` permitting).
pub const PROBE_ITERATIONS: f64 = 1000.0;
pub const PROBE_MAX_S: f64 = 60.0;

/// How long a probe at `rate` per second lasts, in whole seconds.
fn probe_seconds(rate: f64, at_least_s: f64) -> f64 {
    at_least_s.max((PROBE_ITERATIONS / rate).min(PROBE_MAX_S)).ceil()
}

/// `stack calibrate`: calibrates, writes [`CEILING_FILE`] under `root`, and prints each scenario's
/// ceiling.
pub async fn calibrate_and_write(root: &Path, options: &CalibrateOptions) -> Result<CeilingFile> {
    let file = calibrate(root, options).await?;
    let path = file.write(root)?;
    println!(
        "\ngenerator ceiling (load average {:?} before, {:?} after):",
        file.load_average_before, file.load_average_after
    );
    for (name, ceiling) in &file.scenarios {
        println!("{name}: {}", ceiling.summary());
    }
    println!("written: {}", path.display());
    Ok(file)
}

/// Calibrates every scenario asked for; the caller writes the file ([`CeilingFile::write`]).
pub async fn calibrate(root: &Path, options: &CalibrateOptions) -> Result<CeilingFile> {
    let k6 = k6::binary()?;
    let plan = CapacityPlan::read(root)?;
    let responder = Responder::start().await?;
    let urls: BTreeMap<String, String> = entrypoints()
        .map(|service| (service.to_owned(), responder.url()))
        .collect();
    let work = std::env::temp_dir().join(format!("stack-calibrate-{}", std::process::id()));
    let sampler = Sampler::start(vec![("k6".into(), None)], None);
    sampler.begin_repeat(1);
    let load_average_before = provenance::load_average();
    let k6_cpus = auto_generator_cpu();
    let prober = Prober {
        k6: &k6,
        root,
        urls: &urls,
        work: &work,
        sampler: &sampler,
        probe_s: options.probe_s,
        go_runtime: k6::go_runtime(k6_cpus.as_deref()),
        cpus: k6_cpus,
    };
    let mut probes: BTreeMap<String, Vec<(Probe, f64, f64)>> = BTreeMap::new();
    let mut floors: BTreeMap<String, (Probe, f64, f64)> = BTreeMap::new();
    let mut scenarios = BTreeMap::new();
    for scenario in &options.scenarios {
        let name = scenario.name();
        let steps = plan
            .scenarios
            .get(scenario)
            .with_context(|| format!("{name}: not a scenario of k6-tests/capacity.json"))?;
        let limit = lag_limit_ms(steps.slo_p99_ms);
        let floor_s = (floor_iterations() as f64 / FLOOR_PER_S).ceil();
        floors.insert(
            name.to_owned(),
            prober.probe(name, FLOOR_PER_S, floor_s, limit).await?,
        );
        let (highest, floor, cap) = search_rates(steps, options);
        // From the study's highest step: where k6 is on time there (the large SLOs), two probes
        // settle it; where it is not, the halving probes are short until the rates are low.
        let found = search(highest, floor, cap, |rate| {
            let prober = &prober;
            async move {
                let seconds = probe_seconds(rate, prober.probe_s);
                let result = prober.probe(name, rate, seconds, limit).await?;
                Ok((result.0.on_time, result))
            }
        })
        .await?;
        scenarios.insert(name.to_owned(), found.ceiling(limit));
        probes.insert(name.to_owned(), found.probes);
    }
    let readings = sampler.finish_all().readings;
    add_floors(&mut scenarios, floors, &readings);
    add_probes(&mut scenarios, probes, &readings);
    let _ = std::fs::remove_dir_all(&work);
    Ok(CeilingFile {
        format_version: CEILING_FORMAT_VERSION,
        measured_at: provenance::now_rfc3339(),
        machine: provenance::machine(),
        k6: provenance::k6(&k6, root),
        probe_s: options.probe_s,
        load_average_before,
        load_average_after: provenance::load_average(),
        scenarios,
    })
}

/// Where a scenario's search starts (its highest capacity step), and the floor and cap it stays
/// within, in arrivals per second: the options narrow the bounds the capacity plan gives.
fn search_rates(steps: &CapacitySteps, options: &CalibrateOptions) -> (f64, f64, f64) {
    let per_s = |rate: f64| rate / steps.unit_s();
    let first = steps.steps.first().map_or(1.0, |step| per_s(step.0));
    let highest = steps.steps.iter().map(|step| per_s(step.0)).fold(first, f64::max);
    let cap = options
        .max_per_s
        .map_or(highest * CAP_FACTOR, |max| max.min(highest * CAP_FACTOR))
        .ceil()
        .max(1.0);
    let floor = options
        .min_per_s
        .unwrap_or(first / FLOOR_DIVISOR)
        .min(cap)
        .ceil()
        .max(1.0);
    (highest.ceil(), floor, cap)
}

/// What every probe of a calibration shares: the k6 binary, the script's root, the responder's
/// URLs, where the probes' records go, the sampler that measures k6's CPU, and the least duration.
struct Prober<'a> {
    k6: &'a str,
    root: &'a Path,
    urls: &'a BTreeMap<String, String>,
    work: &'a Path,
    sampler: &'a Sampler,
    probe_s: f64,
    /// k6's CPU, the one `bench`'s default `--cpus auto` gives it, and its Go runtime settings for it.
    cpus: Option<String>,
    go_runtime: BTreeMap<String, String>,
}

impl Prober<'_> {
    /// One probe: k6 offering `name`'s iterations at `rate` per second for `seconds`, judged against
    /// `limit` ms; with its window in the sampler's repeat (s), for k6's CPU once the sampler has
    /// finished.
    async fn probe(&self, name: &str, rate: f64, seconds: f64, limit: f64) -> Result<(Probe, f64, f64)> {
        let invocation = k6::Invocation {
            k6: self.k6,
            script: self.root.join(provenance::SCRIPT_FILE),
            profile: "calibrate",
            urls: self.urls,
            env: vec![
                ("CALIBRATE_RATE".into(), rate.to_string()),
                ("CALIBRATE_S".into(), seconds.to_string()),
            ],
            // On the CPU `bench`'s default `--cpus auto` gives k6, so that the floor and the ceiling
            // are those of the k6 the runs are judged by.
            cpus: self.cpus.clone(),
            go_runtime: &self.go_runtime,
        };
        let dir = self.work.join(format!("{name}-{rate}-{seconds}s"));
        let run = invocation.measure(name, &dir, false, self.sampler).await?;
        let (status, start_s, end_s) = (run.status, run.start_s, run.end_s);
        if !status.success() {
            bail!("k6 failed calibrating {name} at {rate}/s ({status}); its output is above");
        }
        let probe = read_probe(&dir.join(SUMMARY_FILE), rate, limit)?;
        eprintln!(
            "stack: calibrate {name} at {rate}/s: lag p99 {:.3} ms (limit {limit} ms), {} dropped: {}",
            probe.lag_p99_ms,
            probe.dropped,
            if probe.on_time { "on time" } else { "late" }
        );
        Ok((probe, start_s, end_s))
    }
}

/// Gives each scenario's ceiling its probes, lowest rate first, each with k6's mean CPU over its
/// window, and the lag floor they show: k6's CPU is known only once the sampler has finished.
fn add_probes(
    scenarios: &mut BTreeMap<String, ScenarioCeiling>,
    probes: BTreeMap<String, Vec<(Probe, f64, f64)>>,
    readings: &[Reading],
) {
    for (name, tried) in probes {
        if let Some(ceiling) = scenarios.get_mut(&name) {
            ceiling.probes = tried
                .into_iter()
                .map(|(mut probe, start_s, end_s)| {
                    probe.k6_cpu_percent = mean_cpu(readings, "k6", start_s, end_s);
                    probe
                })
                .collect();
            ceiling
                .probes
                .sort_by(|a, b| a.rate_per_s.total_cmp(&b.rate_per_s));
            ceiling.lag_floor_ms = ScenarioCeiling::floor(&ceiling.probes).map(|probe| probe.lag_p99_ms);
        }
    }
}

/// Gives each scenario its floor probe with k6's mean CPU over it, and says so where it cannot
/// judge runs ([`usable_floor`]): runs are then judged by the SLO's lag limit.
fn add_floors(
    scenarios: &mut BTreeMap<String, ScenarioCeiling>,
    floors: BTreeMap<String, (Probe, f64, f64)>,
    readings: &[Reading],
) {
    for (name, (mut probe, start_s, end_s)) in floors {
        probe.k6_cpu_percent = mean_cpu(readings, "k6", start_s, end_s);
        if let Some(ceiling) = scenarios.get_mut(&name) {
            ceiling.floor_probe = Some(probe.clone());
            if usable_floor(ceiling).is_none() {
                eprintln!(
                    "stack: calibrate {name}: the floor probe started {} iterations ({} a lag p99 \
                     needs) and dropped {}: it is no floor, runs are judged by the SLO's lag limit",
                    probe.iterations,
                    needed_samples(99.0),
                    probe.dropped
                );
            }
        }
    }
}

/// What a search found: the highest rate on time (`None` if not even the first), whether the
/// search stopped at its cap still on time, and every probe it made.
#[derive(Debug)]
struct Found<T> {
    ceiling_per_s: Option<f64>,
    at_least: bool,
    probes: Vec<T>,
}

impl<T> Found<T> {
    /// The scenario's ceiling as the search found it, for `lag_limit_ms`; its probes come once
    /// their k6 CPU is known ([`add_probes`]).
    fn ceiling(&self, lag_limit_ms: f64) -> ScenarioCeiling {
        ScenarioCeiling {
            lag_limit_ms,
            ceiling_per_s: self.ceiling_per_s,
            at_least: self.at_least,
            lag_floor_ms: None,
            probes: Vec::new(),
            floor_probe: None,
        }
    }
}

/// Offers `first`, then doubling rates up to `cap` until one is late, or, if `first` is late,
/// halving ones down to `floor` until one is on time; then bisects [`BISECTIONS`] times between the
/// highest on time and the lowest late. Rates are whole arrivals per second, as k6 takes them.
/// `probe` says whether a rate was on time.
async fn search<T, F, Fut>(first: f64, floor: f64, cap: f64, mut probe: F) -> Result<Found<T>>
where
    F: FnMut(f64) -> Fut,
    Fut: std::future::Future<Output = Result<(bool, T)>>,
{
    let mut probes = Vec::new();
    let mut rate = first.min(cap).round().max(floor);
    let (mut on_time, mut late): (Option<f64>, Option<f64>) = (None, None);
    loop {
        let (ok, result) = probe(rate).await?;
        probes.push(result);
        if ok {
            on_time = Some(rate);
            if late.is_some() || rate >= cap {
                break;
            }
            rate = (rate * 2.0).min(cap);
        } else {
            late = Some(rate);
            if on_time.is_some() || rate <= floor {
                break;
            }
            rate = (rate / 2.0).floor().max(floor);
        }
    }
    if let (Some(mut low), Some(mut high)) = (on_time, late) {
        for _ in 0..BISECTIONS {
            let middle = ((low + high) / 2.0).round();
            if middle <= low || middle >= high {
                break;
            }
            let (ok, result) = probe(middle).await?;
            probes.push(result);
            if ok {
                low = middle;
            } else {
                high = middle;
            }
        }
        on_time = Some(low);
    }
    Ok(Found {
        ceiling_per_s: on_time,
        at_least: late.is_none(),
        probes,
    })
}

/// A probe's figures from k6's summary export: `schedule_lag`, `iterations`, `dropped_iterations`.
fn read_probe(summary_path: &Path, rate: f64, limit_ms: f64) -> Result<Probe> {
    let read = || format!("reading {}", summary_path.display());
    let text = std::fs::read_to_string(summary_path).with_context(read)?;
    let summary: serde_json::Value = serde_json::from_str(&text).with_context(read)?;
    let metric = |name: &str, stat: &str| summary["metrics"][name][stat].as_f64();
    let lag = |stat: &str| {
        metric("schedule_lag", stat)
            .with_context(|| format!("{}: no schedule_lag {stat}", summary_path.display()))
    };
    let dropped = metric("dropped_iterations", "count").unwrap_or(0.0) as u64;
    let lag_p99_ms = lag("p(99)")?;
    Ok(Probe {
        rate_per_s: rate,
        iterations: metric("iterations", "count").unwrap_or(0.0) as u64,
        dropped,
        lag_p50_ms: lag("med")?,
        lag_p99_ms,
        lag_max_ms: lag("max")?,
        k6_cpu_percent: 0.0,
        on_time: dropped == 0 && lag_p99_ms <= limit_ms,
    })
}

/// The mean CPU of `process` over the rows between two marks, `start_s` and `end_s` (the
/// calibration's one repeat), weighted by interval.
fn mean_cpu(readings: &[Reading], process: &str, start_s: f64, end_s: f64) -> f64 {
    let window = Window {
        repeat: 1,
        start_s,
        end_s,
    };
    let rows: Vec<_> = readings
        .iter()
        .filter(|r| r.process == process && window.holds(r))
        .collect();
    let time: f64 = rows.iter().map(|r| r.interval_s).sum();
    if time <= 0.0 {
        return 0.0;
    }
    let cpu = rows.iter().map(|r| r.cpu_percent * r.interval_s).sum::<f64>() / time;
    (cpu * 10.0).round() / 10.0
}

/// The CPU `--cpus auto` gives k6 on this machine, where it has one of its own.
fn auto_generator_cpu() -> Option<String> {
    let auto = [stack_record::pinning::AUTO.to_owned()];
    CpuPinning::parse(&auto, &super::pinning::allowed_cpus(), false)
        .ok()
        .and_then(|pinning| pinning.generator)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A floor probe at 100/s whose lag p50 and p99 are these.
    fn floor(lag_p50_ms: f64, lag_p99_ms: f64) -> Probe {
        Probe {
            rate_per_s: FLOOR_PER_S,
            iterations: floor_iterations(),
            dropped: 0,
            lag_p50_ms,
            lag_p99_ms,
            lag_max_ms: 2.0 * lag_p99_ms,
            k6_cpu_percent: 10.0,
            on_time: true,
        }
    }

    /// 2,000 lags, 1.5 % of them `late_ms` (so the p99 is that) and the rest 0.5 ms.
    fn lags_with_p99(late_ms: f64) -> Sampled {
        let mut lags = vec![0.5; 1970];
        lags.extend([late_ms; 30]);
        Sampled::of(&lags)
    }

    #[test]
    fn a_lag_above_the_floor_within_five_percent_of_the_corrected_p99_is_not_the_generators() {
        // Given k6's floor at a lag p99 of 1.2 ms, and an S6 run (25 ms SLO) whose corrected p99 is
        // 20 ms and whose lag p99 is 2 ms: over the SLO's 1.25 ms limit, but 0.8 ms above the floor,
        // 4 % of the figure it would distort
        let floor = floor(0.5, 1.2);
        // When it is judged
        let judgement = judge_lag(Some(&floor), 25.0, &[20.0]);
        // Then the rule is the floor's, the run was allowed 1.2 + 1 ms, and it is not
        // generator-limited
        assert_eq!(judgement.rule, LagRule::AboveFloor);
        assert_eq!(
            (judgement.floor_p50_ms, judgement.floor_p99_ms),
            (Some(0.5), Some(1.2))
        );
        assert_eq!(judgement.floor_rate_per_s, Some(FLOOR_PER_S));
        assert!(
            (judgement.allowed_lag_p99_ms[0] - 2.2).abs() < 1e-9,
            "{judgement:?}"
        );
        assert!(!lag_limited(&[&lags_with_p99(2.0)], &judgement));
    }

    #[test]
    fn a_lag_above_the_floor_beyond_five_percent_of_the_corrected_p99_is_the_generators() {
        // Given the same floor and corrected p99, and a lag p99 of 3 ms: 1.8 ms above the floor, 9 %
        // of the 20 ms it would distort
        let judgement = judge_lag(Some(&floor(0.5, 1.2)), 25.0, &[20.0]);
        // When its lag is judged
        let limited = lag_limited(&[&lags_with_p99(3.0)], &judgement);
        // Then the run is generator-limited
        assert!(limited);
    }

    #[test]
    fn each_repeat_is_allowed_five_percent_of_its_own_corrected_p99() {
        // Given two repeats with corrected p99s of 100 and 10 ms above a 1 ms floor, each with a lag
        // p99 of 3 ms
        let judgement = judge_lag(Some(&floor(0.5, 1.0)), 100.0, &[100.0, 10.0]);
        // When they are judged
        let allowed = judgement.allowed_lag_p99_ms.clone();
        let limited = lag_limited(&[&lags_with_p99(3.0), &lags_with_p99(3.0)], &judgement);
        // Then the first was allowed 6 ms, the second 1.5 ms, which its lag exceeds: the run is
        // generator-limited
        assert_eq!(allowed, [6.0, 1.5]);
        assert!(limited);
    }

    #[test]
    fn without_a_floor_the_lag_is_judged_by_the_slos_limit_and_the_record_says_so() {
        // Given no calibrated floor, and an S6 run (25 ms SLO) with a lag p99 of 2 ms
        // When it is judged
        let judgement = judge_lag(None, 25.0, &[20.0]);
        // Then the rule is the SLO's: allowed max(1 ms, 5 % of 25 ms), which 2 ms exceeds
        assert_eq!(judgement.rule, LagRule::SloLimit);
        assert_eq!(judgement.floor_p99_ms, None);
        assert_eq!(judgement.allowed_lag_p99_ms, [lag_limit_ms(25.0)]);
        assert!(lag_limited(&[&lags_with_p99(2.0)], &judgement));
    }

    #[test]
    fn a_floor_probe_that_dropped_arrivals_judges_no_run() {
        // Given a scenario's ceiling with a floor probe of 2,000 iterations
        let mut s6 = ScenarioCeiling {
            lag_limit_ms: 1.25,
            ceiling_per_s: None,
            at_least: false,
            lag_floor_ms: None,
            probes: Vec::new(),
            floor_probe: Some(floor(0.5, 1.2)),
        };
        // When k6 kept its schedule, and when it dropped 5 arrivals (a busy machine)
        let kept = usable_floor(&s6).cloned();
        if let Some(probe) = s6.floor_probe.as_mut() {
            probe.dropped = 5;
        }
        let dropped = usable_floor(&s6).cloned();
        // Then only the first is a floor runs are judged against
        assert_eq!(kept.map(|floor| floor.dropped), Some(0));
        assert_eq!(dropped, None);
    }

    #[test]
    fn a_floor_probe_rests_its_lag_p99_on_twice_the_samples_the_n_rule_asks() {
        // Given the record's n-rule for a p99 (1,000 samples)
        // When a floor probe's length is set
        let iterations = floor_iterations();
        // Then it offers 2,000 iterations, 20 s at 100/s
        assert_eq!(iterations, 2 * needed_samples(99.0));
        assert_eq!((iterations as f64 / FLOOR_PER_S).ceil(), 20.0);
    }

    #[test]
    fn the_lag_limit_is_five_percent_of_the_slo_and_never_below_a_millisecond() {
        assert_eq!([25.0, 100.0, 600.0].map(lag_limit_ms), [1.25, 5.0, 30.0]);
        assert_eq!(lag_limit_ms(10.0), 1.0);
    }

    #[tokio::test]
    async fn the_search_doubles_until_late_then_bisects_to_the_highest_rate_on_time() {
        // Given a generator on time up to 3,000/s
        let on_time_up_to = |limit: f64| move |rate: f64| async move { Ok((rate <= limit, rate)) };
        // When the ceiling is searched from 500/s with a cap of 16,000/s
        let found = search(500.0, 1.0, 16_000.0, on_time_up_to(3_000.0))
            .await
            .expect("searches");
        // Then it doubled to 4,000 (late), bisected three times, and found 3,000
        assert_eq!(
            found.probes,
            [500.0, 1000.0, 2000.0, 4000.0, 3000.0, 3500.0, 3250.0]
        );
        assert_eq!((found.ceiling_per_s, found.at_least), (Some(3000.0), false));
        // and a generator on time everywhere stops at the cap, the ceiling only a lower bound
        let found = search(500.0, 1.0, 1200.0, on_time_up_to(f64::INFINITY))
            .await
            .expect("searches");
        assert_eq!(
            (found.ceiling_per_s, found.at_least, found.probes),
            (Some(1200.0), true, vec![500.0, 1000.0, 1200.0])
        );
        // and one late at the first rate halves down to a rate on time, then bisects
        let found = search(500.0, 1.0, 1200.0, on_time_up_to(100.0))
            .await
            .expect("searches");
        assert_eq!(found.probes, [500.0, 250.0, 125.0, 62.0, 94.0, 110.0, 102.0]);
        assert_eq!((found.ceiling_per_s, found.at_least), (Some(94.0), false));
        // and one late even at 1/s has no ceiling
        let found = search(4.0, 1.0, 1200.0, on_time_up_to(0.5))
            .await
            .expect("searches");
        assert_eq!((found.ceiling_per_s, found.probes), (None, vec![4.0, 2.0, 1.0]));
    }
}
