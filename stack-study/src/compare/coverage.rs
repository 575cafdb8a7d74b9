//! `stack coverage <study> --rounds K`: how often the comparison's 95 % intervals hold the truth on
//! real data (issue 30, item 5).
//!
//! An A/A study, both sides driving the same system, has a known truth: B/A = 1 on every figure. From
//! its N rounds, `draws` random K-round subsets (drawn from a seed) are each judged as a K-round study
//! would be, by the code `stack compare` judges with: every headline row the whole study's comparison
//! tested gets its outcome from [`Pairing::outcome`] on the subset's rounds, and the subset's rows are
//! one family for [`inference::judge_family`]. Per row, the count of subsets whose own 95 % interval
//! holds the truth, and whose interval at Holm's level does; per subset, whether any row of the family
//! was marked beyond the noise (what Holm bounds at 5 %).
//!
//! The subsets share rounds, so they are not independent studies: the fractions describe the K-round
//! studies this one study's data can form, and they are only as precise as N rounds allow.

use std::fmt::Write as _;

use anyhow::{ensure, Result};
use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Comparison, Figure, Pairing};
use crate::inference::{self, Criteria, Finding, Outcome, MIN_ROUNDS};
use stack_record::Stat;

/// What to draw from a study.
#[derive(Debug, Clone, Copy)]
pub struct CoverageOptions {
    /// Rounds per subset (K).
    pub rounds: usize,
    /// How many subsets to draw.
    pub draws: usize,
    pub seed: u64,
    /// The true B/A of every figure: 1 for an A/A study.
    pub truth: f64,
}

/// One headline row over the subsets.
#[derive(Debug, Clone)]
pub struct FigureCoverage {
    pub scenario: String,
    pub figure: Figure,
    /// The whole study's outcome for the row.
    pub whole: Outcome,
    /// Subsets in which the row was tested (had an interval).
    pub tested: usize,
    /// Of those, how many 95 % intervals held the truth.
    pub held_95: usize,
    /// Of those, how many intervals at the level Holm tested the row at held the truth.
    pub held_holm: usize,
}

/// A study's rows over its subsets.
#[derive(Debug, Clone)]
pub struct Coverage {
    pub study_rounds: usize,
    pub options: CoverageOptions,
    pub figures: Vec<FigureCoverage>,
    /// Subsets in which some row of the family was beyond the noise (Holm, no minimum effect).
    pub family_beyond_noise: usize,
    /// Subsets in which some row was a finding under the comparison's own criteria.
    pub family_findings: usize,
}

/// A headline row the whole study's comparison tested (or found exact): where it is in the
/// comparison, and its values on each side, by round.
struct JudgedRow<'c> {
    scenario: &'c str,
    figure: &'c Figure,
    whole: Outcome,
    a: &'c [f64],
    b: &'c [f64],
}

/// The rows `comparison` judged on their rounds' values; rows it refused for other reasons (a side
/// missing, drops, lower bounds, pooled steps) stay refused and are left out.
fn judged_rows(comparison: &Comparison) -> Vec<JudgedRow<'_>> {
    comparison
        .scenarios
        .iter()
        .flat_map(|scenario| {
            scenario
                .rows
                .iter()
                .map(move |row| (scenario.scenario.as_str(), row))
        })
        .filter_map(|(scenario, row)| {
            let whole = row.outcome?;
            let judged = matches!(whole, Outcome::Tested(_) | Outcome::Exact { .. });
            let (a, b) = (row.a.stat()?, row.b.stat()?);
            judged.then_some(JudgedRow {
                scenario,
                figure: &row.figure,
                whole,
                a: &a.runs,
                b: &b.runs,
            })
        })
        .collect()
}

/// The values of `rounds` (indices from 0) as a [`Stat`] of their own.
fn subset(values: &[f64], rounds: &[usize]) -> Stat {
    let runs: Vec<f64> = rounds.iter().map(|&round| values[round]).collect();
    Stat {
        mean: runs.iter().sum::<f64>() / runs.len() as f64,
        ci95: None,
        runs,
    }
}

/// Each judged row's outcome on the study made of `rounds` only, as `stack compare` would give it.
fn subset_outcomes(rows: &[JudgedRow<'_>], rounds: &[usize], seed: u64) -> Vec<Outcome> {
    let pairing = Pairing::Interleaved {
        seed,
        rounds: rounds.len(),
    };
    rows.iter()
        .map(|row| {
            pairing.outcome(
                &subset(row.a, rounds),
                &subset(row.b, rounds),
                row.figure.resolution(),
            )
        })
        .collect()
}

/// Subsamples `comparison`, a study of interleaved rounds, into K-round studies.
pub fn coverage(comparison: &Comparison, options: CoverageOptions) -> Result<Coverage> {
    let Pairing::Interleaved { seed, rounds } = comparison.pairing else {
        anyhow::bail!("coverage subsamples a study of interleaved rounds; these are two separate runs");
    };
    ensure!(
        (MIN_ROUNDS..=rounds).contains(&options.rounds),
        "--rounds {}: a subset needs at least {MIN_ROUNDS} rounds (below that compare gives no interval) \
         and at most the study's {rounds}",
        options.rounds
    );
    let rows = judged_rows(comparison);
    ensure!(
        !rows.is_empty(),
        "the study's comparison judged no row on its rounds"
    );
    let no_minimum = Criteria {
        min_effect: 0.0,
        ..comparison.criteria
    };
    let mut figures: Vec<FigureCoverage> = rows
        .iter()
        .map(|row| FigureCoverage {
            scenario: row.scenario.to_owned(),
            figure: row.figure.clone(),
            whole: row.whole,
            tested: 0,
            held_95: 0,
            held_holm: 0,
        })
        .collect();
    let (mut family_beyond_noise, mut family_findings) = (0, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut all: Vec<usize> = (0..rounds).collect();
    for _ in 0..options.draws {
        let (chosen, _) = all.partial_shuffle(&mut rng, options.rounds);
        let mut chosen = chosen.to_vec();
        chosen.sort_unstable();
        let outcomes = subset_outcomes(&rows, &chosen, seed);
        let holm = inference::judge_family(&outcomes, &no_minimum);
        let findings = inference::judge_family(&outcomes, &comparison.criteria);
        let holds = |interval: [f64; 2]| interval[0] <= options.truth && options.truth <= interval[1];
        for ((figure, outcome), finding) in figures.iter_mut().zip(&outcomes).zip(&holm) {
            if let (Outcome::Tested(estimate), Some(interval)) = (outcome, finding.interval()) {
                figure.tested += 1;
                figure.held_95 += usize::from(holds(estimate.ci95));
                figure.held_holm += usize::from(holds(interval));
            }
        }
        let beyond = |f: &Finding| matches!(f, Finding::Differs { .. } | Finding::Uncertain { .. });
        family_beyond_noise += usize::from(holm.iter().any(beyond));
        family_findings += usize::from(findings.iter().any(Finding::differs));
    }
    Ok(Coverage {
        study_rounds: rounds,
        options,
        figures,
        family_beyond_noise,
        family_findings,
    })
}

/// `part` of `whole` as a percentage, or "-" of nothing.
fn percent(part: usize, whole: usize) -> String {
    match whole {
        0 => "-".into(),
        _ => format!("{:.1} %", 100.0 * part as f64 / whole as f64),
    }
}

impl Coverage {
    /// The table `stack coverage` prints.
    pub fn table(&self) -> String {
        let o = &self.options;
        let mut out =
            format!(
            "{} subsets of {} of the study's {} rounds (seed {}), each judged as compare judges a study; \
             the truth is B/A = {}\n\n{:<6} {:<28} {:>7} {:>12} {:>12}  whole study B/A [95 %]\n",
            o.draws, o.rounds, self.study_rounds, o.seed, o.truth, "", "figure", "tested", "95 % holds",
            "Holm holds"
        );
        for figure in &self.figures {
            let whole = match figure.whole {
                Outcome::Tested(e) => format!("{:.4} [{:.4}, {:.4}]", e.ratio, e.ci95[0], e.ci95[1]),
                Outcome::Exact { ratio, .. } => format!("exact {ratio:?}"),
                Outcome::Untestable(why) => format!("{why:?}"),
            };
            let _ = writeln!(
                out,
                "{:<6} {:<28} {:>7} {:>12} {:>12}  {whole}",
                figure.scenario,
                figure.figure.label(),
                figure.tested,
                percent(figure.held_95, figure.tested),
                percent(figure.held_holm, figure.tested),
            );
        }
        let _ = write!(
            out,
            "\nsubsets with a row beyond the noise (Holm over the family, no minimum effect): {} of {} ({})\n\
             subsets with a finding (the comparison's criteria): {} of {} ({})\n",
            self.family_beyond_noise,
            o.draws,
            percent(self.family_beyond_noise, o.draws),
            self.family_findings,
            o.draws,
            percent(self.family_findings, o.draws),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::compare::{judge_study, CompareOptions};

    /// The committed study of two copies of this system (6 rounds of S5): an A/A of sorts.
    fn committed_study() -> Comparison {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs/20261208T015602Z-open-versus");
        let options = CompareOptions {
            out: std::env::temp_dir().join("unused.html"),
            criteria: Criteria::default(),
            allow_mismatch: true,
            allow_target_kinds: true,
        };
        judge_study(&dir, &options).expect("the committed study compares")
    }

    fn options(rounds: usize, draws: usize, seed: u64) -> CoverageOptions {
        CoverageOptions {
            rounds,
            draws,
            seed,
            truth: 1.0,
        }
    }

    #[test]
    fn a_subset_of_every_round_is_judged_exactly_as_compare_judges_the_study() {
        // Given the committed study's comparison
        let comparison = committed_study();
        let rows = judged_rows(&comparison);
        assert!(!rows.is_empty());
        // When its rows are judged on a subset holding all its rounds
        let Pairing::Interleaved { seed, rounds } = comparison.pairing else {
            panic!("a study");
        };
        let all: Vec<usize> = (0..rounds).collect();
        let outcomes = subset_outcomes(&rows, &all, seed);
        // Then every outcome is compare's own
        for (row, outcome) in rows.iter().zip(&outcomes) {
            assert_eq!(&row.whole, outcome, "{:?}", row.figure);
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_subsets_and_counts_stay_within_the_draws() {
        // Given the committed study, subsampled twice with one seed and once with another
        let comparison = committed_study();
        let first = coverage(&comparison, options(5, 50, 7)).expect("coverage");
        let again = coverage(&comparison, options(5, 50, 7)).expect("coverage");
        // Then the same seed gives the same counts
        let counts = |c: &Coverage| {
            c.figures
                .iter()
                .map(|f| (f.tested, f.held_95, f.held_holm))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&first), counts(&again));
        // And no count exceeds what it is a part of
        for figure in &first.figures {
            assert!(
                figure.held_95 <= figure.tested && figure.tested <= 50,
                "{figure:?}"
            );
            // An interval at Holm's level is never narrower than its own 95 % one.
            assert!(figure.held_holm >= figure.held_95, "{figure:?}");
        }
        // A finding is beyond the noise too, so subsets with one are among those beyond it
        assert!(first.family_findings <= first.family_beyond_noise);
        assert!(first.table().contains("subsets with a row beyond the noise"));
    }

    #[test]
    fn subsets_below_the_rounds_a_verdict_needs_or_above_the_studys_are_refused() {
        let comparison = committed_study();
        for rounds in [MIN_ROUNDS - 1, 7] {
            let err = coverage(&comparison, options(rounds, 10, 1)).expect_err("refused");
            assert!(err.to_string().contains("at least"), "{err}");
        }
    }
}
