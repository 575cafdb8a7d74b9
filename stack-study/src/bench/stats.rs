//! The figures of a run, from k6's raw samples: exact percentiles of each measured run
//! (HdrHistogram, 3 significant digits, in microseconds), the mean with a 95 % confidence interval
//! over the repeats (Student's t), Welch's test between two runs' repeats, resources within a
//! window, and the capacity analysis of steps.

use std::{collections::BTreeMap, io::BufReader, path::Path};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use statrs::distribution::{ContinuousCDF, StudentsT};

use stack_record::{Percentile, ResourceRow, Stat, Window, PERCENTILE_LADDER};

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
    /// Each scenario's clock from its `(Unix ms, lag)` samples.
    fn of(lags: &BTreeMap<String, Vec<(f64, f64)>>) -> BTreeMap<String, Self> {
        lags.iter()
            .filter(|(_, timed)| !timed.is_empty())
            .map(|(name, timed)| {
                let clock = Self {
                    began_ms: timed.iter().map(|(t, lag)| t - lag).fold(f64::INFINITY, f64::min),
                    last_start_ms: timed.iter().map(|(t, _)| *t).fold(f64::NEG_INFINITY, f64::max),
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
        } = Columns::of(reader.headers()?, path)?;
        let mut samples = Self::default();
        // By scenario, as `(Unix ms, value)`: corrected for drops once every sample is read.
        let mut lags: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut corrected: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut drops: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("reading {}", path.display()))?;
            let field = |index: usize| record.get(index).unwrap_or("");
            let number = |index: usize| field(index).parse::<f64>().unwrap_or(0.0);
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
                    .push((number(time), number(value))),
                "corrected_duration" => corrected
                    .entry(field(scenario).to_owned())
                    .or_default()
                    .push((number(time), number(value))),
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
        if let Some(planned) = tags.split('&').find_map(|tag| tag.strip_prefix("planned=")) {
            let plan = self.plans.entry(planned.to_owned()).or_default();
            if name == "schedule_arrivals" {
                plan.arrivals = value as u64;
            } else {
                plan.seconds = value;
            }
        }
    }

    /// Keeps the lags and corrected latencies (`(Unix ms, value)` by scenario) net of the drops: a
    /// correction that needs every drop and plan, so only once the whole file is read.
    fn set_net_of_drops(
        &mut self,
        lags: BTreeMap<String, Vec<(f64, f64)>>,
        corrected: BTreeMap<String, Vec<(f64, f64)>>,
        mut drops: BTreeMap<String, Vec<f64>>,
    ) {
        for times in drops.values_mut() {
            times.sort_by(f64::total_cmp);
        }
        let interval_ms = |name: &str| {
            self.plans
                .get(name)
                .filter(|plan| plan.arrivals > 0)
                .map(|plan| plan.seconds * 1000.0 / plan.arrivals as f64)
        };
        let no_drops = Vec::new();
        for (into, from) in [(&mut self.lags, lags), (&mut self.corrected, corrected)] {
            for (name, timed) in from {
                let values = match interval_ms(&name) {
                    Some(interval) => net_of_drops(&timed, drops.get(&name).unwrap_or(&no_drops), interval),
                    None => timed.iter().map(|(_, value)| *value).collect(),
                };
                into.insert(name, values);
            }
        }
    }
}

/// `timed` lag or corrected-latency samples `(Unix ms when emitted, ms)` of one arrival-rate
/// scenario, net of the arrivals k6 dropped before each (`drops`: their Unix ms, sorted).
///
/// The script measures an iteration against the slot of its index, `exec.scenario.iterationInTest`,
/// which counts started iterations only: after k6 drops an arrival (no idle VU) every later index
/// runs one slot behind its arrival, and its lag and corrected latency read one arrival interval
/// too long per drop. A sample's emission time minus its value is the (wrong) slot the script
/// measured from, the same for the lag at the iteration's start and the corrected latency at its
/// end. The iteration's own slot is `k` intervals later, where `k` is the number of drops timed at
/// or before that slot (the slots skipped to reach it): found by iterating from `k = 0` (each step
/// can only add drops, and stops at the total). k6 times a drop at its slot, so this is exact to
/// the millisecond of its timestamps for constant-arrival-rate; for ramping-arrival-rate, whose
/// interval varies, it uses the plan's mean interval (approximate).
pub fn net_of_drops(timed: &[(f64, f64)], drops: &[f64], interval_ms: f64) -> Vec<f64> {
    // Drops at or before slot time `t` (half an interval of slack for the timestamps' milliseconds).
    let dropped_by = |t: f64| drops.partition_point(|&dropped| dropped <= t + interval_ms / 2.0);
    timed
        .iter()
        .map(|&(emitted, value)| {
            let measured_from = emitted - value;
            let mut behind = 0;
            loop {
                let found = dropped_by(measured_from + behind as f64 * interval_ms);
                if found == behind {
                    break;
                }
                behind = found;
            }
            (value - behind as f64 * interval_ms).max(0.0)
        })
        .collect()
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

    #[test]
    fn after_dropped_arrivals_a_lag_is_measured_from_its_own_slot_not_its_index() {
        // Given arrivals every 10 ms from t = 0 whose slots 3, 4 and 5 were dropped (timed at 30,
        // 40 and 50 ms), so the iteration of slot 6, started 2 ms late at 62 ms, has index 3 and
        // the script measured its lag from slot 3 (32 ms); and an iteration before the drops
        let drops = [30.0, 40.0, 50.0];
        let timed = [(21.0, 1.0), (62.0, 32.0)];
        // When they are taken net of the drops
        let lags = net_of_drops(&timed, &drops, 10.0);
        // Then the later one is 2 ms late, the earlier one as measured
        assert_eq!(lags, vec![1.0, 2.0]);
    }

    #[test]
    fn a_corrected_latency_counts_only_the_drops_before_its_slot_not_those_while_it_waited() {
        // Given an iteration of slot 2 (20 ms) on time, answered at 1,020 ms after a stall in which
        // slots 5 to 104 were dropped (50 to 1,040 ms): its corrected latency is 1,000 ms
        let drops: Vec<f64> = (5..105).map(|slot| slot as f64 * 10.0).collect();
        let timed = [(1_020.0, 1_000.0)];
        // When it is taken net of the drops
        let corrected = net_of_drops(&timed, &drops, 10.0);
        // Then none of the drops counts against it: they came after its slot
        assert_eq!(corrected, vec![1_000.0]);
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
