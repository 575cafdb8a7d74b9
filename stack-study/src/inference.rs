//! The statistics that let a comparison say "B is X % slower than A on scenario S, ± Y", and no more
//! than its data support.
//!
//! A row of a comparison (a figure of a scenario, e.g. S5's p99) has a value per run on each side.
//! Its [`Outcome`] is the ratio B/A with a 95 % interval and a p-value of "no difference", both from
//! one method, Student's t on logarithms, so that the interval excludes 1 exactly when p < 0.05:
//!
//! - When A and B ran in interleaved rounds ([`Design::Interleaved`]), round i's A and B saw the same
//!   machine at the same time, so the per-round log ratios ln(b_i/a_i) are the data: the paired t.
//!   (A bootstrap interval was used before: at 5 rounds or fewer it collapses to [min, max] and
//!   covered the truth 46 % of the time at 2 rounds, 82–87 % at 4.)
//! - When they did not ([`Design::Separate`]), the two sides are independent samples: Welch's t on
//!   the logarithms, its interval on the ratio of geometric means. Anything that drifted between the
//!   two runs reads as a difference: it is the weaker design, and labelled so.
//! - A verdict needs [`MIN_ROUNDS`] runs on each side; below that a row is "too few rounds", never a
//!   finding, whatever its values.
//! - When neither side varies at all (memory figures often do not), there is no noise to test
//!   against: the outcome is [`Outcome::Exact`], the exact ratio with no p-value. A percentile that
//!   does not vary is different: it is read from a histogram of 3 significant digits, so its runs may
//!   all fall in one bucket while the latencies differ; that tie is [`Untestable::BelowResolution`].
//!
//! [`judge_family`] turns the outcomes of a declared family of headline rows into [`Finding`]s. Holm's
//! step-down correction decides which rows differ from 1, and each row's interval is widened to the
//! level Holm tested it at (α/(m − k) for the k-th smallest p, and the level at which the procedure
//! stopped for every row it did not reject), so a row's interval excludes 1 exactly when its verdict
//! says it differs. The minimum effect (default 5 %) is then judged on that interval, not on the point
//! estimate: a row "differs" only when its whole interval lies beyond the tolerance band, and is
//! "within tolerance" (two one-sided tests, TOST) only when its whole interval lies inside it.
//!
//! [`trend`] is the Mann–Kendall test over one side's repeats in the order they ran: a result that
//! drifts from repeat to repeat has no meaningful interval, and the caller turns a [`Trend::Drift`]
//! into a warning. With 3 or 4 repeats no ordering is rare enough to be a finding at 5 %: that case
//! is [`Trend::TooFew`], which still says whether the repeats moved one way every time.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Two-sided level of every test here, family-wise for [`judge_family`].
pub const ALPHA: f64 = 0.05;
/// The smallest difference worth reporting: |B/A − 1| below it is within tolerance.
pub const MIN_EFFECT: f64 = 0.05;
/// Runs each side needs before a row gets a verdict. At 5 the t interval on the logs holds its 95 %
/// on normal and log-normal data (the coverage tests below); fewer leave it too wide to say anything
/// and too sensitive to one odd run.
pub const MIN_ROUNDS: usize = 5;

/// How the two sides' runs were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// A and B alternated in rounds (order within a round randomised): round i pairs a_i with b_i.
    Interleaved,
    /// A and B ran at different times: two independent samples. The weaker design.
    Separate,
}

/// Which way B lies from A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// B's value is higher (slower for a latency, faster for a throughput).
    Higher,
    Lower,
}

/// Whether a figure's recorded values are exact or read from a histogram's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Means, CPU and memory: as measured.
    Exact,
    /// A percentile from an HdrHistogram: runs in one bucket tie although their latencies differ.
    Bucketed,
}

/// B against A on one row, with its noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub design: Design,
    /// B over A: the ratio of the geometric means (paired: the geometric mean of per-round ratios).
    pub ratio: f64,
    /// 95 % interval of `ratio`, on its own (before the family's correction: see [`Finding`]).
    pub ci95: [f64; 2],
    /// Two-sided p of "B/A = 1", before any correction.
    pub p: f64,
    /// The standard error of ln(ratio) and the t's degrees of freedom, from which the interval at any
    /// other level is made.
    pub se_log: f64,
    pub df: f64,
    /// Runs on each side (equal, the rounds, when interleaved).
    pub n_a: usize,
    pub n_b: usize,
}

impl Estimate {
    /// The estimate of a ratio whose logarithm is `log_ratio`, with the standard error `se_log` on
    /// `df` degrees of freedom, from `n` runs on each side.
    pub fn new(design: Design, log_ratio: f64, se_log: f64, df: f64, n: (usize, usize)) -> Self {
        let mut estimate = Self {
            design,
            ratio: log_ratio.exp(),
            ci95: [0.0; 2],
            p: two_sided_t(log_ratio / se_log, df),
            se_log,
            df,
            n_a: n.0,
            n_b: n.1,
        };
        estimate.ci95 = estimate.interval(ALPHA);
        estimate
    }

    /// The two-sided interval of `ratio` at level 1 − `alpha`.
    pub fn interval(&self, alpha: f64) -> [f64; 2] {
        let t = students_t(self.df).map_or(f64::INFINITY, |t| t.inverse_cdf(1.0 - alpha / 2.0));
        let (centre, half) = (self.ratio.ln(), t * self.se_log);
        [(centre - half).exp(), (centre + half).exp()]
    }
}

/// What one row's values allow to be said.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Tested(Estimate),
    /// Nothing varied (neither side, or, interleaved, not the per-round ratio): the ratio is exact,
    /// and there is no noise to test it against. `ratio` is `None` when A is 0.
    Exact {
        design: Design,
        ratio: Option<f64>,
    },
    Untestable(Untestable),
}

/// Why a row cannot be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Untestable {
    /// A side did not record the figure (a process the other implementation does not have).
    MissingSide,
    /// Fewer runs than a verdict needs ([`MIN_ROUNDS`]) on a side.
    TooFew { a: usize, b: usize, needed: usize },
    /// Interleaved, but the sides hold different numbers of rounds.
    UnequalRounds { a: usize, b: usize },
    /// A value is 0 or negative (or not a number), so there is no ratio to take the log of.
    NotPositive,
    /// A percentile whose runs all tie on each side: they share a histogram bucket, so the tie says
    /// nothing about how much the latencies varied.
    BelowResolution,
    /// A figure pooled over a capacity run's steps, at many rates: no one rate's response.
    PooledSteps,
    /// A corrected percentile a side's dropped and interrupted arrivals leave undefined (issue 30):
    /// they are more than 1 − q of its schedule, so the percentile lies among latencies bounded
    /// below only.
    Unanswered,
    /// A completion percentile that is only a lower bound on a side (its work not done by the end
    /// of the drain), so how far it lies from the other side's is not known.
    LowerBound,
    /// An answer a side's contract calls an acknowledgement (its work done later), judged where
    /// the two sides' completions cannot be: an acknowledgement is not set against finished work.
    Acknowledgement,
}

/// A row's finding, once its family has been corrected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Finding {
    /// The interval at Holm's level lies wholly beyond the minimum effect, on one side.
    Differs {
        direction: Direction,
        p_holm: f64,
        interval: [f64; 2],
    },
    /// Beyond the noise (the interval at Holm's level excludes 1), but reaching into the tolerance
    /// band: a difference, whose size may be below the minimum effect.
    Uncertain {
        direction: Direction,
        p_holm: f64,
        interval: [f64; 2],
    },
    /// The interval at Holm's level lies wholly within the tolerance band (TOST): equivalent.
    WithinTolerance {
        p_holm: f64,
        interval: [f64; 2],
    },
    /// Not distinguishable from the noise, nor shown equivalent.
    Noise {
        p_holm: f64,
        interval: [f64; 2],
    },
    /// No variation at all: `direction` by the exact ratio, `None` within tolerance. Not a test.
    Exact {
        direction: Option<Direction>,
    },
    Untestable(Untestable),
}

impl Finding {
    /// Whether the row is a finding: a difference beyond the noise and the tolerance.
    pub fn differs(&self) -> bool {
        matches!(self, Finding::Differs { .. })
    }

    /// The interval at the level Holm's correction tested the row at, for a tested row.
    pub fn interval(&self) -> Option<[f64; 2]> {
        match *self {
            Finding::Differs { interval, .. }
            | Finding::Uncertain { interval, .. }
            | Finding::WithinTolerance { interval, .. }
            | Finding::Noise { interval, .. } => Some(interval),
            Finding::Exact { .. } | Finding::Untestable(_) => None,
        }
    }
}

/// What [`judge_family`] holds a difference to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Criteria {
    /// Family-wise level.
    pub alpha: f64,
    /// The minimum effect, as a fraction (0.05: 5 %).
    pub min_effect: f64,
}

impl Default for Criteria {
    fn default() -> Self {
        Self {
            alpha: ALPHA,
            min_effect: MIN_EFFECT,
        }
    }
}

/// The `q` quantile of sorted `values`, interpolated between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

fn students_t(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!("N(0, 1) is a valid distribution"))
}

/// Two-sided p of a t statistic with `df` degrees of freedom.
fn two_sided_t(t: f64, df: f64) -> f64 {
    students_t(df).map_or(1.0, |dist| (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0))
}

/// The logarithms of `values`, or why not.
fn logs(values: &[f64]) -> Result<Vec<f64>, Untestable> {
    values
        .iter()
        .map(|v| {
            if *v > 0.0 && v.is_finite() {
                Ok(v.ln())
            } else {
                Err(Untestable::NotPositive)
            }
        })
        .collect()
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

/// Whether all `values` are the same, to the precision any figure here is recorded at.
fn invariant(values: &[f64]) -> bool {
    let first = values.first().copied().unwrap_or(0.0);
    values
        .iter()
        .all(|v| (v - first).abs() <= 1e-9 * first.abs().max(1e-9))
}

/// The exact ratio of two sides that did not vary, unless the values are a histogram's buckets.
fn exact(design: Design, resolution: Resolution, a: f64, b: f64) -> Outcome {
    match resolution {
        Resolution::Exact => Outcome::Exact {
            design,
            ratio: (a != 0.0).then(|| b / a),
        },
        Resolution::Bucketed => Outcome::Untestable(Untestable::BelowResolution),
    }
}

/// Why a side's runs are too few for a verdict, if they are.
fn too_few(a: usize, b: usize) -> Option<Outcome> {
    (a < MIN_ROUNDS || b < MIN_ROUNDS).then_some(Outcome::Untestable(Untestable::TooFew {
        a,
        b,
        needed: MIN_ROUNDS,
    }))
}

/// B against A over interleaved rounds: `a[i]` and `b[i]` ran in round i. The paired t on the
/// per-round log ratios.
pub fn interleaved(a: &[f64], b: &[f64], resolution: Resolution) -> Outcome {
    if a.len() != b.len() {
        return Outcome::Untestable(Untestable::UnequalRounds {
            a: a.len(),
            b: b.len(),
        });
    }
    if let Some(too_few) = too_few(a.len(), b.len()) {
        return too_few;
    }
    if invariant(a) && invariant(b) {
        return exact(Design::Interleaved, resolution, a[0], b[0]);
    }
    let (log_a, log_b) = match (logs(a), logs(b)) {
        (Ok(log_a), Ok(log_b)) => (log_a, log_b),
        (Err(why), _) | (_, Err(why)) => return Outcome::Untestable(why),
    };
    let log_ratios: Vec<f64> = log_a.iter().zip(&log_b).map(|(a, b)| b - a).collect();
    let (mean, variance) = mean_and_variance(&log_ratios);
    if invariant(&log_ratios) || variance == 0.0 {
        return Outcome::Exact {
            design: Design::Interleaved,
            ratio: Some(mean.exp()),
        };
    }
    let n = log_ratios.len() as f64;
    Outcome::Tested(Estimate::new(
        Design::Interleaved,
        mean,
        (variance / n).sqrt(),
        n - 1.0,
        (a.len(), b.len()),
    ))
}

/// B against A from runs made at different times: Welch's t-test on the logarithms, the weaker design.
pub fn separate(a: &[f64], b: &[f64], resolution: Resolution) -> Outcome {
    if a.is_empty() || b.is_empty() {
        return Outcome::Untestable(Untestable::MissingSide);
    }
    if let Some(too_few) = too_few(a.len(), b.len()) {
        return too_few;
    }
    if invariant(a) && invariant(b) {
        return exact(Design::Separate, resolution, a[0], b[0]);
    }
    let (log_a, log_b) = match (logs(a), logs(b)) {
        (Ok(log_a), Ok(log_b)) => (log_a, log_b),
        (Err(why), _) | (_, Err(why)) => return Outcome::Untestable(why),
    };
    let (mean_a, var_a) = mean_and_variance(&log_a);
    let (mean_b, var_b) = mean_and_variance(&log_b);
    let (se_a, se_b) = (var_a / log_a.len() as f64, var_b / log_b.len() as f64);
    if se_a + se_b == 0.0 {
        // Only possible when both sides' logs are constant: caught above, up to rounding.
        return exact(Design::Separate, resolution, a[0], b[0]);
    }
    // Welch–Satterthwaite; a side without spread adds nothing to either sum.
    let df_term = |s: f64, n: usize| if s == 0.0 { 0.0 } else { s * s / (n as f64 - 1.0) };
    let df = (se_a + se_b).powi(2) / (df_term(se_a, log_a.len()) + df_term(se_b, log_b.len()));
    Outcome::Tested(Estimate::new(
        Design::Separate,
        mean_b - mean_a,
        (se_a + se_b).sqrt(),
        df,
        (a.len(), b.len()),
    ))
}

/// Holm's step-down adjusted p-values, in the order given: sorted ascending, the k-th smallest
/// (from 0) is multiplied by m − k, and the adjusted values are made monotone. A hypothesis is
/// rejected at family-wise level α when its adjusted p is at most α.
pub fn holm(p: &[f64]) -> Vec<f64> {
    holm_steps(p, ALPHA).0
}

/// Holm's adjusted p-values with, for each row, the level its interval is drawn at: α/(m − k) for
/// the k-th smallest p while the procedure rejects, and the level it stopped at for every row after.
/// At those levels a row's interval excludes 1 exactly when Holm rejects it, and no interval is
/// narrower than its own 1 − α.
fn holm_steps(p: &[f64], alpha: f64) -> (Vec<f64>, Vec<f64>) {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let (mut adjusted, mut levels) = (vec![0.0; m], vec![alpha; m]);
    let mut running = 0.0_f64;
    let mut stopped: Option<f64> = None;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
        let level = alpha / (m - k) as f64;
        if stopped.is_none() && p[i] > level {
            stopped = Some(level);
        }
        levels[i] = stopped.unwrap_or(level);
    }
    (adjusted, levels)
}

/// The verdicts of a family of rows, in the order given: Holm over the rows that were tested (an
/// exact or untestable row is no hypothesis), each row's interval at its Holm level, then the minimum
/// effect judged on that interval. A row judged on its own is a family of one: no correction.
pub fn judge_family(outcomes: &[Outcome], criteria: &Criteria) -> Vec<Finding> {
    let tested: Vec<f64> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Tested(estimate) => Some(estimate.p),
            _ => None,
        })
        .collect();
    let (adjusted, levels) = holm_steps(&tested, criteria.alpha);
    let mut holm = adjusted.into_iter().zip(levels);
    let band = [1.0 - criteria.min_effect, 1.0 + criteria.min_effect];
    let direction = |ratio: f64| {
        ((ratio - 1.0).abs() >= criteria.min_effect).then_some(if ratio > 1.0 {
            Direction::Higher
        } else {
            Direction::Lower
        })
    };
    outcomes
        .iter()
        .map(|outcome| match *outcome {
            Outcome::Tested(estimate) => {
                let (p_holm, level) = holm.next().unwrap_or((1.0, criteria.alpha));
                judge_interval(&estimate, p_holm, estimate.interval(level), band, criteria.alpha)
            }
            Outcome::Exact { ratio, .. } => Finding::Exact {
                direction: ratio.and_then(direction),
            },
            Outcome::Untestable(why) => Finding::Untestable(why),
        })
        .collect()
}

/// One tested row's verdict from its interval at Holm's level and the tolerance band.
fn judge_interval(
    estimate: &Estimate,
    p_holm: f64,
    interval: [f64; 2],
    band: [f64; 2],
    alpha: f64,
) -> Finding {
    let [low, high] = interval;
    let direction = if estimate.ratio > 1.0 {
        Direction::Higher
    } else {
        Direction::Lower
    };
    if band[0] <= low && high <= band[1] {
        Finding::WithinTolerance { p_holm, interval }
    } else if p_holm > alpha {
        Finding::Noise { p_holm, interval }
    } else if low > band[1] || high < band[0] {
        Finding::Differs {
            direction,
            p_holm,
            interval,
        }
    } else {
        Finding::Uncertain {
            direction,
            p_holm,
            interval,
        }
    }
}
/// Kendall's S of a series against its order, with the two-sided p of "no trend".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannKendall {
    pub n: usize,
    /// Later values above earlier ones minus later values below earlier ones.
    pub s: i64,
    /// Var(S) under no trend, corrected for ties.
    pub variance: f64,
    /// The normal approximation's statistic, with continuity correction: (S − sign S)/√Var(S).
    pub z: f64,
    /// Two-sided p: exact (the permutation distribution of S given the ties) up to
    /// [`EXACT_UP_TO`] values, the normal approximation beyond.
    pub p: f64,
    pub exact: bool,
    /// The smallest p any ordering of these values could give: above α, no trend can be found.
    pub smallest_p: f64,
}

/// Up to this many values S's distribution is counted exactly (its counts fit in an i128).
pub const EXACT_UP_TO: usize = 30;

/// How one side's repeats moved over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "trend")]
pub enum Trend {
    /// Too few repeats for any ordering to be a finding (n ≤ 4 without ties). `monotone` says whether
    /// they nonetheless rose or fell at every repeat.
    TooFew {
        n: usize,
        smallest_p: f64,
        monotone: Option<Direction>,
    },
    /// Every repeat gave the same value.
    Constant,
    Steady {
        s: i64,
        p: f64,
    },
    /// A drift: `slope` is Sen's estimate, the median change per repeat, as a fraction of the median.
    Drift {
        direction: Direction,
        s: i64,
        p: f64,
        slope: f64,
    },
}

/// The Mann–Kendall statistic of `values` in the order they ran.
pub fn mann_kendall(values: &[f64]) -> MannKendall {
    let n = values.len();
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += match values[j].total_cmp(&values[i]) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let ties = tie_groups(values);
    let nf = n as f64;
    let tied: f64 = ties.iter().map(|&t| (t * (t - 1) * (2 * t + 5)) as f64).sum();
    let variance = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - tied) / 18.0;
    let z = if variance > 0.0 {
        (s - s.signum()) as f64 / variance.sqrt()
    } else {
        0.0
    };
    let normal_p = (2.0 * standard_normal().cdf(-z.abs())).min(1.0);
    let (p, smallest_p, exact) = match (n <= EXACT_UP_TO).then(|| inversions_distribution(n, &ties)) {
        Some(counts) => {
            // S = N' − 2I, where N' is the number of untied pairs and I the inversions.
            let untied =
                (n * n.saturating_sub(1) / 2 - ties.iter().map(|t| t * (t - 1) / 2).sum::<usize>()) as i64;
            let total: i128 = counts.iter().sum();
            let at_least = |threshold: i64| -> f64 {
                let hits: i128 = counts
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| (untied - 2 * *k as i64).abs() >= threshold)
                    .map(|(_, c)| *c)
                    .sum();
                hits as f64 / total as f64
            };
            (at_least(s.abs()), at_least(untied).min(1.0), true)
        }
        None => (normal_p, 0.0, false),
    };
    MannKendall {
        n,
        s,
        variance,
        z,
        p,
        exact,
        smallest_p,
    }
}

/// The sizes of the groups of equal values, singletons left out.
fn tie_groups(values: &[f64]) -> Vec<usize> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups = Vec::new();
    let mut run = 1;
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            run += 1;
        } else {
            if run > 1 {
                groups.push(run);
            }
            run = 1;
        }
    }
    if run > 1 && !sorted.is_empty() {
        groups.push(run);
    }
    groups
}

/// How many distinct orderings of a multiset of n values with these tie groups have k inversions,
/// for every k: the coefficients of the q-multinomial [n]_q! / Π [t]_q!, where [m]_q! is the product
/// of [j]_q = 1 + q + … + q^(j−1) (without ties: the Mahonian numbers, OEIS A008302).
fn inversions_distribution(n: usize, ties: &[usize]) -> Vec<i128> {
    let mut counts = vec![1i128];
    for j in 1..=n {
        let mut next = vec![0i128; counts.len() + j - 1];
        for (k, c) in counts.iter().enumerate() {
            for slot in &mut next[k..k + j] {
                *slot += c;
            }
        }
        counts = next;
    }
    for &t in ties {
        for j in 2..=t {
            // Divide by [j]_q = (1 − q^j)/(1 − q): multiply by 1 − q, then divide by 1 − q^j.
            let mut times: Vec<i128> = (0..=counts.len())
                .map(|k| counts.get(k).copied().unwrap_or(0) - if k > 0 { counts[k - 1] } else { 0 })
                .collect();
            for k in j..times.len() {
                times[k] += times[k - j];
            }
            times.truncate(counts.len() + 1 - j);
            counts = times;
        }
    }
    counts
}

/// The trend of one side's repeats, in the order they ran, at level `alpha`.
pub fn trend(values: &[f64], alpha: f64) -> Trend {
    if invariant(values) {
        return Trend::Constant;
    }
    let test = mann_kendall(values);
    let direction = if test.s > 0 {
        Direction::Higher
    } else {
        Direction::Lower
    };
    if test.smallest_p > alpha {
        let strictly =
            |ordering: std::cmp::Ordering| values.windows(2).all(|w| w[1].total_cmp(&w[0]) == ordering);
        let monotone = if strictly(std::cmp::Ordering::Greater) {
            Some(Direction::Higher)
        } else if strictly(std::cmp::Ordering::Less) {
            Some(Direction::Lower)
        } else {
            None
        };
        return Trend::TooFew {
            n: values.len(),
            smallest_p: test.smallest_p,
            monotone,
        };
    }
    if test.p > alpha {
        return Trend::Steady { s: test.s, p: test.p };
    }
    Trend::Drift {
        direction,
        s: test.s,
        p: test.p,
        slope: sen_slope(values) / median(values.to_vec()).abs().max(f64::MIN_POSITIVE),
    }
}

/// Sen's slope: the median of (x_j − x_i)/(j − i) over all pairs i < j.
pub fn sen_slope(values: &[f64]) -> f64 {
    let mut slopes = Vec::new();
    for i in 0..values.len() {
        for j in i + 1..values.len() {
            slopes.push((values[j] - values[i]) / (j - i) as f64);
        }
    }
    median(slopes)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Headline rows of a comparison: p50, p99 and CPU per request of six scenarios (throughput of an
    /// open-loop run is its input, so not in the family).
    const ROWS: usize = 18;
    /// Rounds of the synthetic studies: the fewest a verdict takes.
    const ROUNDS: usize = MIN_ROUNDS;

    /// A standard normal draw (Box–Muller), for synthetic runs.
    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A Gamma(4, 1/4) draw, mean 1: a right-skewed noise factor (the sum of four exponentials).
    fn skewed(rng: &mut ChaCha8Rng) -> f64 {
        (0..4).map(|_| -(1.0 - rng.random::<f64>()).ln()).sum::<f64>() / 4.0
    }

    /// How one run's noise multiplies its value.
    #[derive(Clone, Copy)]
    enum Noise {
        /// exp(σ·Z): log-normal values, the usual shape of latencies and CPU.
        LogNormal(f64),
        /// 1 + σ·Z: normal values (σ small enough that they stay positive).
        Normal(f64),
        /// Gamma(4) with mean 1: skewed values.
        Skewed,
    }

    impl Noise {
        fn draw(self, rng: &mut ChaCha8Rng) -> f64 {
            match self {
                Self::LogNormal(sigma) => (sigma * normal(rng)).exp(),
                Self::Normal(sigma) => (1.0 + sigma * normal(rng)).max(1e-6),
                Self::Skewed => skewed(rng),
            }
        }
    }

    /// One row's values over `rounds` interleaved rounds: each round moves both sides alike by
    /// `round_noise` (the machine that day), each run adds `run` noise of its own; B is `factor` × A.
    fn rounds_of(
        rng: &mut ChaCha8Rng,
        rounds: usize,
        factor: f64,
        round_noise: f64,
        run: Noise,
    ) -> (Vec<f64>, Vec<f64>) {
        let base = 1.0 + 100.0 * rng.random::<f64>();
        (0..rounds)
            .map(|_| {
                let round = (round_noise * normal(rng)).exp();
                let a = base * round * run.draw(rng);
                let b = factor * base * round * run.draw(rng);
                (a, b)
            })
            .unzip()
    }

    fn rounds(rng: &mut ChaCha8Rng, factor: f64, round_noise: f64, run_noise: f64) -> (Vec<f64>, Vec<f64>) {
        rounds_of(rng, ROUNDS, factor, round_noise, Noise::LogNormal(run_noise))
    }

    fn beyond_noise(verdict: &Finding) -> bool {
        matches!(verdict, Finding::Differs { .. } | Finding::Uncertain { .. })
    }

    /// Over 300 A/A comparisons of `ROWS` headline rows, each row drawn and compared by `compare`,
    /// judged with no minimum effect so that only Holm stands in the way: how many rows were marked
    /// beyond the noise, of how many.
    fn a_against_itself(compare: impl Fn(&mut ChaCha8Rng) -> Outcome) -> (usize, usize) {
        let criteria = Criteria {
            min_effect: 0.0,
            ..Criteria::default()
        };
        let (mut flagged, mut rows) = (0, 0);
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let outcomes: Vec<Outcome> = (0..ROWS).map(|_| compare(&mut rng)).collect();
            let verdicts = judge_family(&outcomes, &criteria);
            flagged += verdicts.iter().filter(|v| beyond_noise(v)).count();
            rows += verdicts.len();
        }
        eprintln!("A/A: {flagged} of {rows} headline rows beyond the noise");
        (flagged, rows)
    }

    #[test]
    fn a_against_itself_interleaved_marks_at_most_5_percent_of_headline_rows() {
        // Given A/A comparisons over 5 rounds, with a round effect twice the runs' own noise
        // When each family is judged
        let (flagged, rows) = a_against_itself(|rng| {
            let (a, b) = rounds(rng, 1.0, 0.10, 0.05);
            interleaved(&a, &b, Resolution::Exact)
        });
        // Then at most 5 % of the rows are beyond the noise
        assert!(
            flagged as f64 / rows as f64 <= 0.05,
            "{flagged} of {rows} rows flagged"
        );
    }

    #[test]
    fn a_against_itself_in_separate_runs_marks_at_most_5_percent_of_headline_rows() {
        let (flagged, rows) = a_against_itself(|rng| {
            let (a, b) = rounds(rng, 1.0, 0.0, 0.05);
            separate(&a, &b, Resolution::Exact)
        });
        assert!(
            flagged as f64 / rows as f64 <= 0.05,
            "{flagged} of {rows} rows flagged"
        );
    }

    /// Of `studies` synthetic studies at the minimum rounds, B `factor` × A, how many 95 % intervals
    /// held the true ratio.
    fn coverage(studies: u64, noise: Noise, design: Design) -> f64 {
        let factor = 1.2;
        let covered = (0..studies)
            .filter(|&seed| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let round_noise = if design == Design::Interleaved { 0.10 } else { 0.0 };
                let (a, b) = rounds_of(&mut rng, ROUNDS, factor, round_noise, noise);
                let outcome = match design {
                    Design::Interleaved => interleaved(&a, &b, Resolution::Exact),
                    Design::Separate => separate(&a, &b, Resolution::Exact),
                };
                let Outcome::Tested(estimate) = outcome else {
                    panic!("seed {seed}: {outcome:?}");
                };
                // The truth: each side's noise has the same distribution, so the ratio of geometric
                // means (and the geometric mean of the per-round ratios) is `factor`.
                estimate.ci95[0] <= factor && factor <= estimate.ci95[1]
            })
            .count();
        covered as f64 / studies as f64
    }

    #[test]
    fn intervals_at_the_minimum_rounds_hold_95_percent_on_normal_log_normal_and_skewed_data() {
        // Given 4,000 studies of 5 rounds per shape of noise, in both designs
        for design in [Design::Interleaved, Design::Separate] {
            for (name, noise) in [
                ("log-normal", Noise::LogNormal(0.05)),
                ("normal", Noise::Normal(0.05)),
                ("skewed, Gamma(4)", Noise::Skewed),
            ] {
                // When each study's 95 % interval is drawn
                let held = coverage(4_000, noise, design);
                eprintln!("{design:?}, {name}: {:.1} % covered", 100.0 * held);
                // Then at least 93 % hold the true ratio (the binomial's 2 σ at 4,000 is 0.7 %)
                assert!(held >= 0.93, "{design:?}, {name}: {:.1} % covered", 100.0 * held);
            }
        }
    }

    /// B 20 % slower on one headline row of 18, over 5 interleaved rounds: (found, interval covers 1.2).
    fn one_slower_row(seed: u64) -> (bool, bool, Estimate) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let outcomes: Vec<Outcome> = (0..ROWS)
            .map(|row| {
                let (a, b) = rounds(&mut rng, if row == 0 { 1.2 } else { 1.0 }, 0.10, 0.03);
                interleaved(&a, &b, Resolution::Exact)
            })
            .collect();
        let verdicts = judge_family(&outcomes, &Criteria::default());
        let Outcome::Tested(estimate) = outcomes[0] else {
            panic!("the slower row was not tested: {:?}", outcomes[0]);
        };
        // Found: beyond the noise, B higher. Whether the whole interval also clears the 5 % band at
        // Holm's level over 18 rows (a Differs, not an Uncertain) takes more rounds than 5.
        let found = matches!(
            verdicts[0],
            Finding::Differs {
                direction: Direction::Higher,
                ..
            } | Finding::Uncertain {
                direction: Direction::Higher,
                ..
            }
        );
        let covers = estimate.ci95[0] <= 1.2 && 1.2 <= estimate.ci95[1];
        (found, covers, estimate)
    }

    #[test]
    fn a_b_that_is_20_percent_slower_is_found_and_its_interval_covers_1_2() {
        // Given B 20 % slower than A on S5's p50, the other 17 rows alike, 5 rounds
        // When the family is judged
        let (found, covers, estimate) = one_slower_row(7);
        // Then the row is beyond the noise, B higher, and its 95 % interval holds 1.2
        assert!(found, "{estimate:?}");
        assert!(covers, "{estimate:?}");
        assert!((estimate.ratio - 1.2).abs() < 0.05, "{estimate:?}");
        assert_eq!(estimate.design, Design::Interleaved);
    }

    #[test]
    fn over_many_seeds_the_slower_b_is_found_and_covered_at_about_the_nominal_rate() {
        let seeds = 200;
        let (mut found, mut covered) = (0, 0);
        for seed in 0..seeds {
            let (f, c, _) = one_slower_row(1000 + seed);
            found += usize::from(f);
            covered += usize::from(c);
        }
        eprintln!("A/B: found in {found} of {seeds}, 1.2 covered in {covered}");
        assert!(found as f64 >= 0.90 * seeds as f64, "found in {found} of {seeds}");
        assert!(
            covered as f64 >= 0.92 * seeds as f64,
            "covered in {covered} of {seeds}"
        );
    }

    #[test]
    fn fewer_than_five_rounds_get_no_verdict() {
        // Given two and four rounds that differ by 50 %
        for n in [2, 4] {
            let a = vec![10.0; n]
                .iter()
                .enumerate()
                .map(|(i, v)| v + i as f64 * 0.1)
                .collect::<Vec<_>>();
            let b: Vec<f64> = a.iter().map(|v| v * 1.5).collect();
            // When they are compared, Then there are too few rounds, in both designs
            let too_few = Outcome::Untestable(Untestable::TooFew {
                a: n,
                b: n,
                needed: MIN_ROUNDS,
            });
            assert_eq!(interleaved(&a, &b, Resolution::Exact), too_few);
            assert_eq!(separate(&a, &b, Resolution::Exact), too_few);
        }
    }

    #[test]
    fn sides_that_never_vary_give_the_exact_ratio_and_no_p_value() {
        // Given memory figures that are the same in every run, on both sides
        let a = [10.0; 6];
        let same = [10.0; 6];
        let larger = [12.0; 6];
        // When they are compared in either design
        for outcome in [
            interleaved(&a, &same, Resolution::Exact),
            separate(&a, &same, Resolution::Exact),
        ] {
            assert!(
                matches!(outcome, Outcome::Exact { ratio: Some(r), .. } if r == 1.0),
                "{outcome:?}"
            );
        }
        let outcomes = [
            interleaved(&a, &larger, Resolution::Exact),
            separate(&a, &larger, Resolution::Exact),
        ];
        // Then the ratio is exact, and the verdict says so without a test
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Outcome::Exact { ratio: Some(r), .. } if (r - 1.2).abs() < 1e-12),
                "{outcome:?}"
            );
        }
        assert_eq!(
            judge_family(&outcomes, &Criteria::default()),
            vec![
                Finding::Exact {
                    direction: Some(Direction::Higher)
                };
                2
            ]
        );
        assert_eq!(
            judge_family(&[separate(&a, &same, Resolution::Exact)], &Criteria::default()),
            vec![Finding::Exact { direction: None }]
        );
    }

    #[test]
    fn a_percentile_tied_in_its_bucket_is_below_resolution_not_exact() {
        // Given p99s that read the same in every run on each side: one histogram bucket
        let (a, b) = ([12.3; 5], [12.4; 5]);
        // When they are compared as bucketed figures, Then the tie is not an exact ratio
        for outcome in [
            interleaved(&a, &b, Resolution::Bucketed),
            separate(&a, &b, Resolution::Bucketed),
        ] {
            assert_eq!(outcome, Outcome::Untestable(Untestable::BelowResolution));
        }
    }

    #[test]
    fn a_single_varying_run_below_the_minimum_is_too_few_not_exact() {
        // Given one run on A and five on B, all the same
        let outcome = separate(&[10.0], &[10.0; 5], Resolution::Exact);
        // Then n is checked before anything is called exact
        assert_eq!(
            outcome,
            Outcome::Untestable(Untestable::TooFew {
                a: 1,
                b: 5,
                needed: MIN_ROUNDS
            })
        );
    }

    #[test]
    fn a_ratio_that_is_the_same_every_round_is_exact_too() {
        let a = [10.0, 11.0, 9.0, 10.5, 9.5];
        let b: Vec<f64> = a.iter().map(|v| v * 1.2).collect();
        assert!(matches!(
            interleaved(&a, &b, Resolution::Exact),
            Outcome::Exact { ratio: Some(r), .. } if (r - 1.2).abs() < 1e-9
        ));
    }

    #[test]
    fn one_side_varying_is_tested_with_a_p_above_zero() {
        let outcome = separate(&[10.0; 5], &[11.0, 12.0, 10.5, 11.5, 12.5], Resolution::Exact);
        let Outcome::Tested(estimate) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(estimate.p > 0.0 && estimate.p < 1.0, "{estimate:?}");
        assert!(estimate.ci95[0] < estimate.ratio && estimate.ratio < estimate.ci95[1]);
    }

    #[test]
    fn the_interval_excludes_1_exactly_when_p_is_below_alpha() {
        // Given many tested rows, some differing and some not
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for i in 0..400 {
            let (a, b) = rounds(&mut rng, 1.0 + 0.0005 * f64::from(i), 0.05, 0.05);
            let Outcome::Tested(estimate) = interleaved(&a, &b, Resolution::Exact) else {
                continue;
            };
            // Then the one method's interval and test agree
            let excludes_1 = estimate.ci95[0] > 1.0 || estimate.ci95[1] < 1.0;
            assert_eq!(excludes_1, estimate.p < ALPHA, "{estimate:?}");
        }
    }

    /// A tested row with B/A = `ratio`, p = `p`, and the standard error that p implies at 5 rounds.
    fn tested(ratio: f64, p: f64) -> Outcome {
        let df = (MIN_ROUNDS - 1) as f64;
        let t = students_t(df).map_or(f64::NAN, |t| t.inverse_cdf(1.0 - p / 2.0));
        Outcome::Tested(Estimate::new(
            Design::Interleaved,
            ratio.ln(),
            ratio.ln().abs() / t,
            df,
            (MIN_ROUNDS, MIN_ROUNDS),
        ))
    }

    #[test]
    fn exact_and_untestable_rows_are_not_counted_in_holms_family() {
        // Given one tested row with p = 0.001 beside an exact row and a missing one
        let outcomes = [
            tested(1.5, 0.001),
            Outcome::Exact {
                design: Design::Separate,
                ratio: Some(1.0),
            },
            Outcome::Untestable(Untestable::MissingSide),
        ];
        // Then the tested row is a family of one, uncorrected
        let verdicts = judge_family(&outcomes, &Criteria::default());
        assert!(
            matches!(verdicts[0], Finding::Differs { direction: Direction::Higher, p_holm, .. } if (p_holm - 0.001).abs() < 1e-9),
            "{:?}",
            verdicts[0]
        );
        assert_eq!(verdicts[2], Finding::Untestable(Untestable::MissingSide));
    }

    #[test]
    fn the_minimum_effect_is_judged_on_the_interval_not_the_point() {
        // Given rows beyond the noise whose intervals lie inside, across and beyond the ±5 % band
        let verdicts = judge_family(
            &[tested(1.02, 1e-4), tested(1.06, 0.001), tested(0.80, 1e-4)],
            &Criteria::default(),
        );
        // Then only the interval wholly beyond the band differs; inside is within tolerance; across
        // is a difference of uncertain size, although its point estimate (6 %) is beyond 5 %
        assert!(
            matches!(verdicts[0], Finding::WithinTolerance { .. }),
            "{verdicts:?}"
        );
        assert!(
            matches!(
                verdicts[1],
                Finding::Uncertain {
                    direction: Direction::Higher,
                    ..
                }
            ),
            "{verdicts:?}"
        );
        assert!(
            matches!(
                verdicts[2],
                Finding::Differs {
                    direction: Direction::Lower,
                    ..
                }
            ),
            "{verdicts:?}"
        );
    }

    #[test]
    fn a_row_without_difference_whose_interval_is_inside_the_band_is_equivalent() {
        // Given a row with p = 0.5 and a narrow interval around 1.01 (TOST)
        let outcome = tested(1.01, 0.5);
        let verdicts = judge_family(&[outcome], &Criteria::default());
        // Then it is within tolerance, not mere noise
        assert!(
            matches!(verdicts[0], Finding::WithinTolerance { .. }),
            "{verdicts:?}"
        );
        // And a wide one is noise
        let wide = judge_family(&[tested(1.30, 0.5)], &Criteria::default());
        assert!(matches!(wide[0], Finding::Noise { .. }), "{wide:?}");
    }

    #[test]
    fn each_intervals_level_follows_holms_steps_so_it_excludes_1_exactly_when_rejected() {
        // Given the worked example's four p-values as tested rows
        let outcomes: Vec<Outcome> = [0.01, 0.04, 0.03, 0.005]
            .iter()
            .map(|&p| tested(1.3, p))
            .collect();
        let verdicts = judge_family(
            &outcomes,
            &Criteria {
                min_effect: 0.0,
                ..Criteria::default()
            },
        );
        for (outcome, verdict) in outcomes.iter().zip(&verdicts) {
            let (Outcome::Tested(estimate), Some(interval)) = (outcome, verdict.interval()) else {
                panic!("{outcome:?} {verdict:?}");
            };
            // Then every interval is at least as wide as its own 95 % one
            assert!(interval[0] <= estimate.ci95[0] + 1e-12 && interval[1] >= estimate.ci95[1] - 1e-12);
            // And it excludes 1 exactly where Holm rejects
            let excludes_1 = interval[0] > 1.0 || interval[1] < 1.0;
            assert_eq!(excludes_1, beyond_noise(verdict), "{verdict:?}");
        }
        let rejected: Vec<bool> = verdicts.iter().map(beyond_noise).collect();
        assert_eq!(rejected, [true, false, false, true]);
    }

    #[test]
    fn values_that_cannot_be_logged_or_paired_are_untestable() {
        assert_eq!(
            interleaved(
                &[1.0, 0.0, 1.0, 1.0, 1.0],
                &[1.0, 2.0, 1.0, 1.0, 2.0],
                Resolution::Exact
            ),
            Outcome::Untestable(Untestable::NotPositive)
        );
        assert_eq!(
            interleaved(&[1.0, 2.0, 3.0], &[1.0, 2.0], Resolution::Exact),
            Outcome::Untestable(Untestable::UnequalRounds { a: 3, b: 2 })
        );
        assert_eq!(
            separate(&[], &[1.0, 2.0], Resolution::Exact),
            Outcome::Untestable(Untestable::MissingSide)
        );
    }

    #[test]
    fn holm_rejects_as_in_the_worked_example() {
        // Wikipedia, "Holm–Bonferroni method", example: four hypotheses with unadjusted p-values
        // p1 = 0.01, p2 = 0.04, p3 = 0.03, p4 = 0.005 at α = 0.05. Sorted: 0.005 ≤ 0.05/4 rejected,
        // 0.01 ≤ 0.05/3 rejected, 0.03 > 0.05/2 stops: H1 and H4 are rejected, H2 and H3 are not.
        // Adjusted: p4 = 4·0.005 = 0.02, p1 = 3·0.01 = 0.03, p3 = 2·0.03 = 0.06, p2 = max(0.04, 0.06).
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (got, want) in adjusted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{adjusted:?}");
        }
        let rejected: Vec<bool> = adjusted.iter().map(|p| *p <= 0.05).collect();
        assert_eq!(rejected, [true, false, false, true]);
    }

    #[test]
    fn outcomes_findings_and_trends_read_back_as_written() {
        // Given what a comparison would record
        let outcome = interleaved(
            &[10.0, 11.0, 9.5, 10.2, 10.8],
            &[12.0, 13.5, 11.0, 12.1, 13.3],
            Resolution::Exact,
        );
        let untestable = Outcome::Untestable(Untestable::TooFew {
            a: 1,
            b: 2,
            needed: MIN_ROUNDS,
        });
        let findings = judge_family(&[outcome, untestable], &Criteria::default());
        let drift = trend(&[5.0, 4.0, 3.0, 2.0, 1.0], ALPHA);
        // When it is written as JSON and read back, Then nothing changed
        let json = serde_json::to_string(&(&outcome, &untestable, &findings, &drift)).expect("JSON");
        let back: (Outcome, Outcome, Vec<Finding>, Trend) = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, (outcome, untestable, findings, drift), "{json}");
        let criteria: Criteria = serde_json::from_str("{}").expect("defaults");
        assert_eq!(criteria, Criteria::default());
    }

    #[test]
    fn holm_caps_adjusted_p_at_one() {
        assert_eq!(holm(&[0.6, 0.9]), vec![1.0, 1.0]);
    }

    #[test]
    fn mann_kendall_matches_the_worked_example() {
        // "A Mann-Kendall Example (By Hand)", J. Little, Holy Cross: 14 values with one tied pair;
        // S = 72 − 18 = 54, V = (14·13·33 − 2·1·9)/18 = 332.67, Z = (S − 1)/√V = 2.9058, one-sided
        // p ≈ .0018 from the normal table.
        let values = [
            12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7,
        ];
        let test = mann_kendall(&values);
        assert_eq!(test.s, 54);
        assert!((test.variance - 5988.0 / 18.0).abs() < 1e-9, "{test:?}");
        assert!((test.z - 2.9058).abs() < 1e-4, "{test:?}");
        let normal_two_sided = 2.0 * standard_normal().cdf(-test.z);
        assert!((normal_two_sided / 2.0 - 0.0018).abs() < 1e-4);
        // With 14 values the p is the exact one, near the normal approximation's.
        assert!(test.exact);
        assert!((test.p - normal_two_sided).abs() < 0.002, "{test:?}");
        assert!(matches!(
            trend(&values, ALPHA),
            Trend::Drift {
                direction: Direction::Higher,
                s: 54,
                ..
            }
        ));
    }

    #[test]
    fn the_exact_distribution_of_inversions_is_mahonian() {
        // OEIS A008302, row n = 5.
        assert_eq!(
            inversions_distribution(5, &[]),
            vec![1, 4, 9, 15, 20, 22, 20, 15, 9, 4, 1]
        );
        // Arrangements of {1, 1, 2}: 112, 121, 211, with 0, 1 and 2 inversions.
        assert_eq!(inversions_distribution(3, &[2]), vec![1, 1, 1]);
        // {1, 1, 2, 2}: six arrangements, inversions 0,1,2,2,3,4 (the q-binomial [4 choose 2]).
        assert_eq!(inversions_distribution(4, &[2, 2]), vec![1, 1, 2, 1, 1]);
    }

    #[test]
    fn three_or_four_repeats_are_too_few_for_a_trend_but_say_they_fell() {
        // The baseline run of the issue: S5's throughput over three repeats.
        assert_eq!(
            trend(&[535.0, 481.0, 336.0], ALPHA),
            Trend::TooFew {
                n: 3,
                smallest_p: 2.0 / 6.0,
                monotone: Some(Direction::Lower)
            }
        );
        assert!(matches!(
            trend(&[1.0, 3.0, 2.0, 4.0], ALPHA),
            Trend::TooFew {
                n: 4,
                monotone: None,
                ..
            }
        ));
    }

    #[test]
    fn five_repeats_find_a_drift_only_when_every_repeat_moves_one_way() {
        // 2/120 = 0.017: strictly falling is a drift
        let falling = trend(&[420.0, 400.0, 380.0, 300.0, 252.0], ALPHA);
        let Trend::Drift {
            direction: Direction::Lower,
            s: -10,
            p,
            slope,
        } = falling
        else {
            panic!("{falling:?}");
        };
        assert!((p - 2.0 / 120.0).abs() < 1e-12);
        // Sen's slope: the median of the ten pairwise changes per repeat (−80, −64, −50, −49.3, −48,
        // −42, −40, −20, −20, −20) is −45, over the median value 380.
        assert!((slope + 45.0 / 380.0).abs() < 1e-9, "{slope}");
        // One step out of order (S = 8, p = 10/120) is not
        assert!(matches!(
            trend(&[400.0, 420.0, 380.0, 300.0, 252.0], ALPHA),
            Trend::Steady { s: -8, .. }
        ));
    }

    #[test]
    fn repeats_without_order_or_without_variation_show_no_drift() {
        assert!(matches!(
            trend(&[10.0, 12.0, 9.0, 11.5, 10.2, 11.0], ALPHA),
            Trend::Steady { .. }
        ));
        assert_eq!(trend(&[7.0; 6], ALPHA), Trend::Constant);
    }
}
