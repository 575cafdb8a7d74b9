//! The figures of a run, from k6's raw samples: exact percentiles of each measured run
//! (HdrHistogram, 3 significant digits, in microseconds), the mean with a 95 % confidence interval
//! over the repeats (Student's t), Welch's test between two runs' repeats, resources within a
//! window, and the capacity analysis of steps.

use std::{collections::BTreeMap, io::BufReader, path::Path};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::study::record::{Percentile, ResourceRow, Stat, Window, PERCENTILE_LADDER};

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

/// Two-sided p-value of Welch's unequal-variances t-test.
pub fn welch_p(a: &[f64], b: &[f64]) -> f64 {
    let (mean_a, var_a) = mean_and_variance(a);
    let (mean_b, var_b) = mean_and_variance(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (sa, sb) = (var_a / na, var_b / nb);
    if sa + sb == 0.0 {
        // No spread at all: the means are equal or they certainly differ.
        return if mean_a == mean_b { 1.0 } else { 0.0 };
    }
    let t = (mean_a - mean_b) / (sa + sb).sqrt();
    let df = (sa + sb).powi(2) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => 2.0 * (1.0 - dist.cdf(t.abs())),
        Err(_) => 1.0,
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
    /// Arrival-rate scenarios, by scenario: each started iteration's schedule lag, in ms.
    pub lags: BTreeMap<String, Vec<f64>>,
    /// ... and each answered iteration's latency from its intended start, in ms.
    pub corrected: BTreeMap<String, Vec<f64>>,
    /// ... and the script's plan: arrivals scheduled and over how many seconds.
    pub plans: BTreeMap<String, Plan>,
}

/// An arrival-rate scenario's plan, as the k6 script emits it in its setup.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Plan {
    pub arrivals: u64,
    pub seconds: f64,
}

impl Samples {
    /// Reads k6's `--out csv=...gz` (timestamps in Unix milliseconds: `K6_CSV_TIME_FORMAT=unix_milli`).
    pub fn read(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = csv::Reader::from_reader(BufReader::new(flate2::read::GzDecoder::new(file)));
        let headers = reader.headers()?.clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|header| header == name)
                .with_context(|| format!("{}: no column {name}", path.display()))
        };
        let (metric, time, value, scenario, expected) = (
            column("metric_name")?,
            column("timestamp")?,
            column("metric_value")?,
            column("scenario")?,
            column("expected_response")?,
        );
        // Tags of the script's own (`planned`) are in `extra_tags`, `name=value&...`.
        let extra = column("extra_tags").ok();
        let mut samples = Self::default();
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
                    *samples
                        .dropped_iterations
                        .entry(field(scenario).to_owned())
                        .or_default() += number(value) as u64;
                }
                "vus" => samples.vus.push((number(time), number(value) as u64)),
                "schedule_lag" => samples
                    .lags
                    .entry(field(scenario).to_owned())
                    .or_default()
                    .push(number(value)),
                "corrected_duration" => samples
                    .corrected
                    .entry(field(scenario).to_owned())
                    .or_default()
                    .push(number(value)),
                name @ ("schedule_arrivals" | "schedule_seconds") => {
                    let tags = extra.map_or("", field);
                    if let Some(planned) = tags.split('&').find_map(|tag| tag.strip_prefix("planned=")) {
                        let plan = samples.plans.entry(planned.to_owned()).or_default();
                        if name == "schedule_arrivals" {
                            plan.arrivals = number(value) as u64;
                        } else {
                            plan.seconds = number(value);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(samples)
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

/// The figures of one measured run of one scenario (or one capacity step).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunFigures {
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

pub fn run_figures(requests: &[&Request]) -> RunFigures {
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
    RunFigures {
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

/// Per process: (mean CPU %, max CPU %, max RSS) of the rows of `window`.
pub fn resources_in(rows: &[ResourceRow], window: &Window) -> BTreeMap<String, (f64, f64, f64)> {
    let mut by_process: BTreeMap<String, Vec<&ResourceRow>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|row| row.repeat == window.repeat && row.t_s >= window.start_s && row.t_s <= window.end_s)
    {
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

/// The sustained rate of one repeat's steps: the highest rate that is ok with every lower step ok.
pub fn sustained_rate(steps: &[(f64, bool)]) -> Option<f64> {
    let mut sorted = steps.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted
        .iter()
        .take_while(|(_, ok)| *ok)
        .last()
        .map(|(rate, _)| *rate)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_sustained_rate_is_the_highest_ok_step_below_the_first_failure() {
        let steps = [(500.0, true), (1000.0, true), (2000.0, false), (4000.0, true)];
        assert_eq!(sustained_rate(&steps), Some(1000.0));
    }

    #[test]
    fn no_rate_is_sustained_when_the_first_step_fails() {
        assert_eq!(sustained_rate(&[(500.0, false), (1000.0, true)]), None);
    }

    #[test]
    fn every_step_ok_sustains_the_highest() {
        assert_eq!(sustained_rate(&[(2000.0, true), (500.0, true)]), Some(2000.0));
    }

    #[test]
    fn resources_in_a_window_are_mean_and_max_of_its_rows() {
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
            end_s: 2.0,
        };
        assert_eq!(resources_in(&rows, &window)["k6"], (20.0, 30.0, 7.0));
    }

    #[test]
    fn welch_matches_a_textbook_value() {
        // t = -4.958 on 5.83 degrees of freedom (Welch-Satterthwaite): p = 0.00277, the value of
        // R's t.test(a, b) (integrated numerically to check).
        let p = welch_p(&[19.1, 20.3, 21.0, 19.8], &[22.4, 21.9, 23.5, 22.8]);
        assert!((p - 0.00277).abs() < 0.0001, "p = {p}");
    }
}
