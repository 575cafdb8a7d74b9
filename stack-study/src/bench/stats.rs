//! The figures of a run, from k6's raw samples: exact percentiles of each measured run
//! (HdrHistogram, 3 significant digits, in microseconds), the mean with a 95 % confidence interval
//! over the repeats (Student's t), Welch's test between two runs' repeats, resources within a
//! window, and the capacity analysis of steps.

use std::{collections::BTreeMap, io::BufReader, path::Path};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use statrs::distribution::{ContinuousCDF, StudentsT};

use stack_record::{
    needed_samples, supported,
    traces::{parse_trace_id, TraceId},
    Percentile, ResourceRow, Stat, Window, Withheld, PERCENTILE_LADDER,
};

/// The mean of `runs` with the 95 % confidence interval of that mean: mean ± t(0.975, n-1)·s/√n.
/// No interval with fewer than two runs.
pub fn stat(runs: &[f64]) -> Stat {
    let n = runs.len() as f64;
    let mean = if runs.is_empty() {
        0.0
    } else {
        runs.iter().sum::<f64>() / n
    };
    let ci95 = (runs.len() >= 2)
        .then(|| {
            let (_, variance) = mean_and_variance(runs);
            let t = StudentsT::new(0.0, 1.0, n - 1.0).ok()?.inverse_cdf(0.975);
            let half = t * variance.sqrt() / n.sqrt();
            Some([tidy(mean - half), tidy(mean + half)])
        })
        .flatten();
    Stat {
        mean: tidy(mean),
        ci95,
        runs: runs.to_vec(),
    }
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

/// To 4 decimal places: below the precision of any figure here, and free of float noise in the JSON.
fn tidy(value: f64) -> f64 {
    (value * 1e4).round() / 1e4
}

/// One HTTP request of k6's samples.
#[derive(Debug, Clone)]
pub struct Request {
    /// k6's scenario (a capacity step is `<scenario>_step<i>`).
    pub scenario: String,
    /// When the response ended, in Unix milliseconds.
    pub end_ms: f64,
    pub duration_ms: f64,
    /// Counted in `http_req_failed` (an unexpected answer).
    pub failed: bool,
}

/// What one measured run's samples say.
#[derive(Debug, Default)]
pub struct Samples {
    pub requests: Vec<Request>,
    /// Failed checks, by scenario.
    pub checks_failed: BTreeMap<String, u64>,
    pub dropped_iterations: BTreeMap<String, u64>,
    /// `(Unix ms, active VUs)`.
    pub vus: Vec<(f64, u64)>,
    /// Arrival-rate scenarios, by scenario: each started iteration's schedule lag, in ms, net of
    /// the drops before it ([`net_of_drops`]).
    pub lags: BTreeMap<String, Vec<f64>>,
    /// ... and each answered iteration's latency from its intended start, in ms, likewise.
    pub corrected: BTreeMap<String, Vec<f64>>,
    /// ... and the script's plan: arrivals scheduled and over how many seconds.
    pub plans: BTreeMap<String, Plan>,
    /// ... and when k6 stamped each drop, Unix ms, sorted: no earlier than the dropped slot.
    pub drop_times: BTreeMap<String, Vec<f64>>,
    /// ... and the span of its iterations' starts ([`PlanClock`]).
    pub clocks: BTreeMap<String, PlanClock>,
    /// The answered iterations whose request carried a sampled `traceparent` (the script's
    /// `traced_answer`), in the order of the file.
    pub traced: Vec<TracedAnswer>,
}

/// One traced request as k6 answered it: the script's `traced_answer` sample and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct TracedAnswer {
    /// k6's scenario (a capacity step is `<scenario>_step<i>`).
    pub scenario: String,
    pub trace_id: TraceId,
    /// When the iteration was meant to start (its actual start outside arrival-rate scenarios),
    /// Unix ms to the microsecond.
    pub start_unix_ms: f64,
    /// From that start to the answer in hand, ms.
    pub answer_ms: f64,
    /// Every check of the contract held.
    pub accepted: bool,
    /// The iteration's index in an arrival-rate scenario (metadata `i`): its start is read from
    /// the index's slot and moved to its own when k6 dropped arrivals before it ([`net_of_drops`]).
    pub iteration: Option<u64>,
    /// Its contract calls the answer an acknowledgement (`defers`, metadata `deferred=1`): its work
    /// must show in its trace after the answer.
    pub deferred: bool,
}

impl TracedAnswer {
    /// From a `traced_answer` sample's value and its metadata (`trace=...&start=...&accepted=1`,
    /// in any order); `None` when a key is missing or malformed.
    fn of(scenario: &str, answer_ms: f64, metadata: &str) -> Option<Self> {
        let value = |key: &str| pair_value(metadata, key);
        Some(Self {
            scenario: scenario.to_owned(),
            trace_id: parse_trace_id(value("trace")?).ok()?,
            start_unix_ms: value("start")?.parse().ok()?,
            answer_ms,
            accepted: value("accepted")? == "1",
            iteration: value("i").and_then(|index| index.parse().ok()),
            deferred: value("deferred") == Some("1"),
        })
    }
}

/// When an arrival-rate scenario's plan began and when its last iteration started, in Unix ms, from
/// its lag samples: a lag sample emitted at `t` with lag `v` was measured from the slot `t − v`, and
/// iteration 0 (never dropped: the pool starts with its VUs) from the plan's start, the earliest.
/// The end of the plan, `began_ms` + its seconds, is what an unanswered arrival waited until at
/// least (`super::unanswered`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanClock {
    pub began_ms: f64,
    pub last_start_ms: f64,
}

impl PlanClock {
    /// Each scenario's clock from its lag samples, as emitted.
    fn of(lags: &BTreeMap<String, Vec<Emitted>>) -> BTreeMap<String, Self> {
        lags.iter()
            .filter(|(_, timed)| !timed.is_empty())
            .map(|(name, timed)| {
                let clock = Self {
                    began_ms: timed
                        .iter()
                        .map(|lag| lag.at_ms - lag.value_ms)
                        .fold(f64::INFINITY, f64::min),
                    last_start_ms: timed
                        .iter()
                        .map(|lag| lag.at_ms)
                        .fold(f64::NEG_INFINITY, f64::max),
                };
                (name.clone(), clock)
            })
            .collect()
    }
}

/// An arrival-rate scenario's plan, as the k6 script emits it in its setup.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Plan {
    pub arrivals: u64,
    pub seconds: f64,
}

/// Where the columns `Samples::read` uses are in k6's CSV, whose order k6 does not promise.
struct Columns {
    metric: usize,
    time: usize,
    value: usize,
    scenario: usize,
    expected: usize,
    /// Tags of the script's own (`planned`) are in `extra_tags`, `name=value&...`.
    extra: Option<usize>,
    /// k6's per-sample metadata, `name=value&...`: the script's iteration index `i`, and a traced
    /// iteration's `trace`, `start` and `accepted`, where the CSV has the column.
    metadata: Option<usize>,
}

impl Columns {
    /// The columns in `headers`, the first row of `path`; an error names the one missing.
    fn of(headers: &csv::StringRecord, path: &Path) -> Result<Self> {
        let column = |name: &str| {
            headers
                .iter()
                .position(|header| header == name)
                .with_context(|| format!("{}: no column {name}", path.display()))
        };
        Ok(Self {
            metric: column("metric_name")?,
            time: column("timestamp")?,
            value: column("metric_value")?,
            scenario: column("scenario")?,
            expected: column("expected_response")?,
            extra: column("extra_tags").ok(),
            metadata: column("metadata").ok(),
        })
    }
}

impl Samples {
    /// Reads k6's `--out csv=...gz` (timestamps in Unix milliseconds: `K6_CSV_TIME_FORMAT=unix_milli`).
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = csv::Reader::from_reader(BufReader::new(flate2::read::GzDecoder::new(file)));
        let Columns {
            metric,
            time,
            value,
            scenario,
            expected,
            extra,
            metadata,
        } = Columns::of(reader.headers()?, path)?;
        let mut samples = Self::default();
        // By scenario, as emitted: corrected for drops once every sample is read.
        let mut lags: BTreeMap<String, Vec<Emitted>> = BTreeMap::new();
        let mut corrected: BTreeMap<String, Vec<Emitted>> = BTreeMap::new();
        let mut drops: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("reading {}", path.display()))?;
            let field = |index: usize| record.get(index).unwrap_or("");
            let number = |index: usize| field(index).parse::<f64>().unwrap_or(0.0);
            let emitted = || Emitted {
                at_ms: number(time),
                value_ms: number(value),
                iteration: metadata.and_then(|index| iteration_of(field(index))),
            };
            match field(metric) {
                "http_req_duration" => samples.requests.push(Request {
                    scenario: field(scenario).to_owned(),
                    end_ms: number(time),
                    duration_ms: number(value),
                    // k6's http_req_failed is exactly the requests not tagged expected_response.
                    failed: field(expected) == "false",
                }),
                "checks" if number(value) == 0.0 => {
                    *samples
                        .checks_failed
                        .entry(field(scenario).to_owned())
                        .or_default() += 1;
                }
                "dropped_iterations" => {
                    let count = number(value) as u64;
                    *samples
                        .dropped_iterations
                        .entry(field(scenario).to_owned())
                        .or_default() += count;
                    let times = drops.entry(field(scenario).to_owned()).or_default();
                    times.extend(std::iter::repeat_n(number(time), count as usize));
                }
                "vus" => samples.vus.push((number(time), number(value) as u64)),
                "schedule_lag" => lags
                    .entry(field(scenario).to_owned())
                    .or_default()
                    .push(emitted()),
                "corrected_duration" => corrected
                    .entry(field(scenario).to_owned())
                    .or_default()
                    .push(emitted()),
                "traced_answer" => samples.traced.extend(TracedAnswer::of(
                    field(scenario),
                    number(value),
                    metadata.map_or("", field),
                )),
                name @ ("schedule_arrivals" | "schedule_seconds") => {
                    samples.add_to_plan(name, extra.map_or("", field), number(value));
                }
                _ => {}
            }
        }
        samples.clocks = PlanClock::of(&lags);
        samples.drop_times = drops.clone();
        for times in samples.drop_times.values_mut() {
            times.sort_by(f64::total_cmp);
        }
        samples.set_net_of_drops(lags, corrected, drops);
        Ok(samples)
    }

    /// One figure of the plan the script emits for an arrival-rate scenario (its `planned` tag in
    /// `tags`): the plan gives the arrival interval that [`net_of_drops`] needs.
    fn add_to_plan(&mut self, name: &str, tags: &str, value: f64) {
        if let Some(planned) = pair_value(tags, "planned") {
            let plan = self.plans.entry(planned.to_owned()).or_default();
            if name == "schedule_arrivals" {
                plan.arrivals = value as u64;
            } else {
                plan.seconds = value;
            }
        }
    }

    /// Keeps the lags and corrected latencies (by scenario) net of the drops: a correction that
    /// needs every drop and plan, so only once the whole file is read.
    fn set_net_of_drops(
        &mut self,
        mut lags: BTreeMap<String, Vec<Emitted>>,
        mut corrected: BTreeMap<String, Vec<Emitted>>,
        mut drops: BTreeMap<String, Vec<f64>>,
    ) {
        for times in drops.values_mut() {
            times.sort_by(f64::total_cmp);
        }
        let no_drops = Vec::new();
        let names: std::collections::BTreeSet<String> =
            lags.keys().chain(corrected.keys()).cloned().collect();
        for name in names {
            let lags_of = lags.remove(&name).unwrap_or_default();
            let corrected_of = corrected.remove(&name).unwrap_or_default();
            let interval = self
                .plans
                .get(&name)
                .filter(|plan| plan.arrivals > 0)
                .map(|plan| plan.seconds * 1000.0 / plan.arrivals as f64);
            let Some(interval) = interval else {
                self.lags.insert(name.clone(), values(&lags_of));
                self.corrected.insert(name, values(&corrected_of));
                continue;
            };
            let netted = net_of_drops(
                &lags_of,
                &corrected_of,
                drops.get(&name).unwrap_or(&no_drops),
                interval,
            );
            for traced in self.traced.iter_mut().filter(|traced| traced.scenario == name) {
                if let Some(behind) = traced.iteration.and_then(|i| netted.behind_of_iteration.get(&i)) {
                    let skipped_ms = *behind as f64 * interval;
                    traced.start_unix_ms += skipped_ms;
                    traced.answer_ms = (traced.answer_ms - skipped_ms).max(0.0);
                }
            }
            self.lags.insert(name.clone(), netted.lags);
            self.corrected.insert(name, netted.corrected);
        }
    }
}

/// One arrival-rate scenario's samples net of its drops ([`net_of_drops`]).
pub struct Netted {
    pub lags: Vec<f64>,
    pub corrected: Vec<f64>,
    /// By iteration index: how many slots k6 had skipped (dropped) before the iteration started.
    pub behind_of_iteration: std::collections::HashMap<u64, usize>,
}

/// A lag or corrected-latency sample as the script emits it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Emitted {
    /// When k6 stamped it, Unix ms: the iteration's start for a lag, its answer for a corrected
    /// latency.
    pub at_ms: f64,
    /// As the script measured it, from the slot of its iteration's index.
    pub value_ms: f64,
    /// The iteration's index (`exec.scenario.iterationInTest`, the script's metadata `i`), which
    /// pairs an iteration's corrected latency with its lag; absent in samples of older scripts.
    pub iteration: Option<u64>,
}

/// The iteration index `i` in k6's `metadata` column (`name=value&...`).
fn iteration_of(metadata: &str) -> Option<u64> {
    pair_value(metadata, "i").and_then(|index| index.parse().ok())
}

/// The value of `key` in k6's `name=value&...` columns (`extra_tags`, `metadata`).
fn pair_value<'a>(pairs: &'a str, key: &str) -> Option<&'a str> {
    pairs
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

fn values(emitted: &[Emitted]) -> Vec<f64> {
    emitted.iter().map(|sample| sample.value_ms).collect()
}

/// One arrival-rate scenario's `lags` and `corrected` latencies, net of the arrivals k6 dropped
/// before each (`drops`: their stamps, Unix ms, sorted).
///
/// The script measures an iteration against the slot of its index, `exec.scenario.iterationInTest`,
/// which counts started iterations only: after k6 drops an arrival (no idle VU) every later index
/// runs one slot behind its arrival, and its lag and corrected latency read one arrival interval
/// too long per drop. k6 handles the slots in order and stamps a drop when its loop reaches the
/// slot (at the slot, or later when the loop runs behind), so the drops stamped at or before an
/// iteration's own start, the stamp of its lag, are exactly the slots skipped to reach it (to the
/// millisecond of the stamps). Its corrected latency, stamped at the answer, takes the same count
/// through the index the script puts on both (`i`); a sample without one (an older script) falls
/// back to the drops stamped by its measured slot plus those skipped ([`behind_by_slot`]), which
/// misses drops stamped late. The count becomes time at the plan's mean interval: exact for
/// constant-arrival-rate, approximate for ramping-arrival-rate, whose interval varies.
pub fn net_of_drops(lags: &[Emitted], corrected: &[Emitted], drops: &[f64], interval_ms: f64) -> Netted {
    let stamped_by = |t: f64| drops.partition_point(|&dropped| dropped <= t);
    let mut behind_of_iteration = std::collections::HashMap::new();
    let net = |sample: &Emitted, behind: usize| (sample.value_ms - behind as f64 * interval_ms).max(0.0);
    let net_lags = lags
        .iter()
        .map(|lag| {
            let behind = stamped_by(lag.at_ms);
            if let Some(iteration) = lag.iteration {
                behind_of_iteration.insert(iteration, behind);
            }
            net(lag, behind)
        })
        .collect();
    let net_corrected = corrected
        .iter()
        .map(|sample| {
            let behind = sample
                .iteration
                .and_then(|iteration| behind_of_iteration.get(&iteration).copied())
                .unwrap_or_else(|| behind_by_slot(sample, drops, interval_ms));
            net(sample, behind)
        })
        .collect();
    Netted {
        lags: net_lags,
        corrected: net_corrected,
        behind_of_iteration,
    }
}

/// For a sample that cannot be paired with its start: the drops stamped by its slot, found from the
/// slot its index measured from (its stamp minus its value) by adding the slots skipped until the
/// count stops growing (each step can only add drops, and stops at the total), with half an
/// interval of slack for the stamps' milliseconds. It misses the drops k6 stamped after their slot.
fn behind_by_slot(sample: &Emitted, drops: &[f64], interval_ms: f64) -> usize {
    let dropped_by = |t: f64| drops.partition_point(|&dropped| dropped <= t + interval_ms / 2.0);
    let measured_from = sample.at_ms - sample.value_ms;
    let mut behind = 0;
    loop {
        let found = dropped_by(measured_from + behind as f64 * interval_ms);
        if found == behind {
            return behind;
        }
        behind = found;
    }
}

/// The longest latency a histogram tracks, in microseconds (one hour); longer ones count as this.
const LONGEST_US: u64 = 3_600_000_000;

/// A histogram of latencies in microseconds, exact to 3 significant digits.
pub fn histogram<'a>(durations_ms: impl IntoIterator<Item = &'a f64>) -> Histogram<u64> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, LONGEST_US, 3)
        .unwrap_or_else(|_| unreachable!("1 µs to an hour at 3 digits are valid bounds"));
    for ms in durations_ms {
        histogram.saturating_record((ms * 1000.0).round().max(1.0) as u64);
    }
    histogram
}

/// The `percentile` (0-100) of `histogram`, in ms.
pub fn percentile_ms(histogram: &Histogram<u64>, percentile: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    let micros = if percentile >= 100.0 {
        histogram.max()
    } else if percentile <= 0.0 {
        histogram.min()
    } else {
        histogram.value_at_quantile(percentile / 100.0)
    };
    micros as f64 / 1000.0
}

pub fn distribution(histogram: &Histogram<u64>) -> Vec<Percentile> {
    PERCENTILE_LADDER
        .iter()
        .map(|&percentile| Percentile {
            percentile,
            ms: percentile_ms(histogram, percentile),
        })
        .collect()
}

/// Latencies of one repeat (or step): how many, and their histogram.
pub struct Sampled {
    pub count: u64,
    histogram: Histogram<u64>,
}

impl Sampled {
    pub fn of(durations_ms: &[f64]) -> Self {
        Self {
            count: durations_ms.len() as u64,
            histogram: histogram(durations_ms),
        }
    }

    pub fn at(&self, q: f64) -> f64 {
        percentile_ms(&self.histogram, q)
    }

    /// The percentile `q` if these samples support it, else `None` with the reason in `withheld`.
    pub fn supported(&self, figure: &str, q: f64, withheld: &mut Vec<Withheld>) -> Option<f64> {
        supported(figure, q, self.count, || self.at(q), withheld)
    }

    /// Over `limit`: the p99 when supported, else the maximum (which bounds it), so a few samples
    /// never clear a generator they cannot show to be on time.
    pub fn p99_or_max_over(&self, limit: f64) -> bool {
        let q = if self.count >= needed_samples(99.0) {
            99.0
        } else {
            100.0
        };
        self.count > 0 && self.at(q) > limit
    }
}

/// The percentile `q` of one figure over the repeats: withheld unless every repeat supports it.
pub fn over_repeats(figure: &str, q: f64, runs: &[&Sampled], withheld: &mut Vec<Withheld>) -> Option<Stat> {
    let fewest = runs.iter().map(|run| run.count).min().unwrap_or(0);
    supported(
        figure,
        q,
        fewest,
        || stat(&runs.iter().map(|run| run.at(q)).collect::<Vec<_>>()),
        withheld,
    )
}

/// The figures of one measured run of one scenario (or one capacity step).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestFigures {
    pub requests: u64,
    /// From the first request's start to the last response, in s.
    pub duration_s: f64,
    /// Requests answered as expected per second of `duration_s` (closed loop's rate).
    pub rate_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub unexpected_failures: u64,
    /// Requests answered as expected (`requests` − `unexpected_failures`).
    pub completed: u64,
    /// `(Unix ms)` of the first request's start and the last response.
    pub first_start_ms: f64,
    pub last_end_ms: f64,
}

pub fn request_figures(requests: &[&Request]) -> RequestFigures {
    let histogram = histogram(requests.iter().map(|r| &r.duration_ms));
    let first_start_ms = requests
        .iter()
        .map(|r| r.end_ms - r.duration_ms)
        .fold(f64::INFINITY, f64::min);
    let last_end_ms = requests
        .iter()
        .map(|r| r.end_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let duration_s = if requests.is_empty() {
        0.0
    } else {
        ((last_end_ms - first_start_ms) / 1000.0).max(1e-3)
    };
    RequestFigures {
        requests: requests.len() as u64,
        duration_s,
        rate_per_s: if duration_s > 0.0 {
            requests.iter().filter(|r| !r.failed).count() as f64 / duration_s
        } else {
            0.0
        },
        p50_ms: percentile_ms(&histogram, 50.0),
        p90_ms: percentile_ms(&histogram, 90.0),
        p99_ms: percentile_ms(&histogram, 99.0),
        p999_ms: percentile_ms(&histogram, 99.9),
        max_ms: percentile_ms(&histogram, 100.0),
        unexpected_failures: requests.iter().filter(|r| r.failed).count() as u64,
        completed: requests.iter().filter(|r| !r.failed).count() as u64,
        first_start_ms: if requests.is_empty() { 0.0 } else { first_start_ms },
        last_end_ms: if requests.is_empty() { 0.0 } else { last_end_ms },
    }
}

/// Per process: (mean CPU %, max CPU %, max RSS) of the rows of `window` (those mostly within it).
pub fn resources_in(rows: &[ResourceRow], window: &Window) -> BTreeMap<String, (f64, f64, f64)> {
    let mut by_process: BTreeMap<String, Vec<&ResourceRow>> = BTreeMap::new();
    for row in rows.iter().filter(|row| window.holds(row)) {
        by_process.entry(row.process.clone()).or_default().push(row);
    }
    by_process
        .into_iter()
        .map(|(process, rows)| {
            let mean = rows.iter().map(|r| r.cpu_percent).sum::<f64>() / rows.len() as f64;
            let max = rows.iter().map(|r| r.cpu_percent).fold(0.0, f64::max);
            let rss = rows.iter().map(|r| r.rss_bytes).max().unwrap_or(0) as f64;
            (process, (mean, max, rss))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: f64, value_ms: f64, iteration: u64) -> Emitted {
        Emitted {
            at_ms,
            value_ms,
            iteration: Some(iteration),
        }
    }

    #[test]
    fn after_dropped_arrivals_a_lag_is_measured_from_its_own_slot_not_its_index() {
        // Given arrivals every 10 ms from t = 0 whose slots 3, 4 and 5 were dropped (stamped at
        // 30, 40 and 50 ms), so the iteration of slot 6, started 2 ms late at 62 ms, has index 3 and
        // the script measured its lag from slot 3 (32 ms); and an iteration before the drops
        let drops = [30.0, 40.0, 50.0];
        let lags = [sample(21.0, 1.0, 2), sample(62.0, 32.0, 3)];
        // When they are taken net of the drops
        let lags = net_of_drops(&lags, &[], &drops, 10.0).lags;
        // Then the later one is 2 ms late, the earlier one as measured
        assert_eq!(lags, vec![1.0, 2.0]);
    }

    #[test]
    fn a_drop_stamped_after_its_slot_still_counts_against_the_iterations_after_it() {
        // Given the same drops of slots 3, 4 and 5, stamped late (55, 56 and 57 ms) by a k6 loop
        // that ran behind, and the iteration of slot 6 started at 62 ms with index 3
        let drops = [55.0, 56.0, 57.0];
        let lags = [sample(62.0, 32.0, 3)];
        // When it is taken net of the drops
        let lags = net_of_drops(&lags, &[], &drops, 10.0).lags;
        // Then every drop stamped before its start counts: it is 2 ms late, not 32
        assert_eq!(lags, vec![2.0]);
    }

    #[test]
    fn a_corrected_latency_counts_the_drops_before_its_own_start_not_those_while_it_waited() {
        // Given an iteration of slot 2 (20 ms) on time, answered at 1,020 ms after a stall in which
        // slots 5 to 104 were dropped (50 to 1,040 ms): its corrected latency is 1,000 ms; and the
        // iteration of slot 105 (index 5), started at 1,051 ms, answered at 1,053 ms
        let drops: Vec<f64> = (5..105).map(|slot| slot as f64 * 10.0).collect();
        let lags = [sample(20.0, 0.0, 2), sample(1_051.0, 1_001.0, 5)];
        let corrected = [sample(1_020.0, 1_000.0, 2), sample(1_053.0, 1_003.0, 5)];
        // When they are taken net of the drops
        let corrected = net_of_drops(&lags, &corrected, &drops, 10.0).corrected;
        // Then the first counts none of the drops (they came after its start) and the second all
        // hundred, which its start followed: 1 ms late plus 2 ms to its answer
        assert_eq!(corrected, vec![1_000.0, 3.0]);
    }

    #[test]
    fn a_corrected_latency_without_its_index_is_netted_from_its_slot() {
        // Given a sample of an older script (no index) of slot 6 (60 ms), measured from slot 3
        // after the drops of slots 3 to 5, answered at 64 ms
        let drops = [30.0, 40.0, 50.0];
        let corrected = [Emitted {
            at_ms: 64.0,
            value_ms: 34.0,
            iteration: None,
        }];
        // When it is taken net of the drops
        let corrected = net_of_drops(&[], &corrected, &drops, 10.0).corrected;
        // Then the drops by its slot are found from its measured slot: 4 ms
        assert_eq!(corrected, vec![4.0]);
    }

    #[test]
    fn a_traced_requests_intended_start_is_moved_past_the_drops_before_it() {
        // Given S5 at 100/s (10 ms apart) whose slots 3 to 5 were dropped, and the iteration of
        // slot 6 (index 3) traced: the script read its intended start from slot 3 (30 ms) and its
        // answer 34 ms after that, at 64 ms
        let mut samples = Samples::default();
        samples.plans.insert(
            "s5".into(),
            Plan {
                arrivals: 100,
                seconds: 1.0,
            },
        );
        samples.traced.push(TracedAnswer {
            scenario: "s5".into(),
            trace_id: [1; 16],
            start_unix_ms: 30.0,
            answer_ms: 34.0,
            accepted: true,
            iteration: Some(3),
            deferred: false,
        });
        let lags = BTreeMap::from([("s5".to_owned(), vec![sample(62.0, 32.0, 3)])]);
        let drops = BTreeMap::from([("s5".to_owned(), vec![30.0, 40.0, 50.0])]);
        // When the samples are taken net of the drops
        samples.set_net_of_drops(lags, BTreeMap::new(), drops);
        // Then its intended start is its own slot, 60 ms, and its answer 4 ms after it
        assert_eq!(samples.traced[0].start_unix_ms, 60.0);
        assert_eq!(samples.traced[0].answer_ms, 4.0);
    }

    #[test]
    fn the_iteration_index_is_read_from_k6s_metadata_column() {
        assert_eq!(iteration_of("i=42"), Some(42));
        assert_eq!(iteration_of("trace_id=ab&i=7"), Some(7));
        assert_eq!(iteration_of(""), None);
    }

    #[test]
    fn the_interval_of_a_known_sample_is_students_t() {
        // Given five runs with mean 10 and sample standard deviation √2.5
        let runs = [8.0, 9.0, 10.0, 11.0, 12.0];
        // When their statistic is taken
        let stat = stat(&runs);
        // Then the interval is 10 ± t(0.975, 4) · √2.5 / √5 = 10 ± 2.7764 · 0.7071
        let [low, high] = stat.ci95.expect("an interval with five runs");
        assert!((stat.mean - 10.0).abs() < 1e-12);
        assert!((low - 8.0368).abs() < 1e-3, "{low}");
        assert!((high - 11.9632).abs() < 1e-3, "{high}");
        assert_eq!(stat.runs, runs);
    }

    #[test]
    fn one_run_has_no_interval() {
        let stat = stat(&[3.0]);
        assert_eq!((stat.mean, stat.ci95), (3.0, None));
    }

    #[test]
    fn percentiles_of_known_latencies_are_exact_to_three_digits() {
        // 1..=1000 ms: the p-th percentile is p·10 ms.
        let durations: Vec<f64> = (1..=1000).map(f64::from).collect();
        let histogram = histogram(&durations);
        assert!((percentile_ms(&histogram, 50.0) - 500.0).abs() <= 0.5);
        assert!((percentile_ms(&histogram, 99.0) - 990.0).abs() <= 1.0);
        assert!((percentile_ms(&histogram, 100.0) - 1000.0).abs() <= 1.0);
        assert!((percentile_ms(&histogram, 0.0) - 1.0).abs() <= 0.01);
    }

    #[test]
    fn resources_in_a_window_are_mean_and_max_of_the_rows_within_it() {
        // Given one-second rows at 0, 1, 2 and 3 s, and a window from 1 to 3 s
        let row = |t_s: f64, cpu_percent: f64, rss_bytes: u64| ResourceRow {
            repeat: 1,
            t_s,
            process: "k6".into(),
            cpu_percent,
            rss_bytes,
            pss_bytes: None,
            interval_s: 1.0,
        };
        let rows = [
            row(0.0, 90.0, 5),
            row(1.0, 10.0, 7),
            row(2.0, 30.0, 6),
            row(3.0, 99.0, 9),
        ];
        let window = Window {
            repeat: 1,
            start_s: 1.0,
            end_s: 3.0,
        };
        // Then its figures are those of the rows at 1 and 2 s: the rows ending at its start and
        // starting at its end are not its
        assert_eq!(resources_in(&rows, &window)["k6"], (20.0, 30.0, 7.0));
    }
}
