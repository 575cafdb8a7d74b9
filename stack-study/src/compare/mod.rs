//! `stack compare`: the point of the study, "B is X % slower than A on scenario S, ± Y", said only as
//! far as the two records support it.
//!
//! Two records compare in one of two designs ([`Pairing`]). Two run directories made at different
//! times ([`compare_runs`]) are independent samples: each headline row is Welch's test on the
//! logarithms, the weaker design, and labelled so. A study directory of interleaved rounds
//! ([`compare_study`]) pairs round i of A with round i of B: each headline row is the paired t on the
//! per-round log ratios B/A. The statistics themselves are [`crate::inference`]'s; a verdict needs
//! [`inference::MIN_ROUNDS`] runs on each side.
//!
//! The headline rows of every scenario (p50, p99, CPU per request, and throughput where the run was
//! closed-loop) are one declared family. An open-loop run's p50 and p99 are its corrected ones, from
//! each arrival's intended start with its dropped and interrupted arrivals counted (issue 30); k6's
//! plain percentiles and each side's drops are shown beside them without a verdict, and a corrected
//! percentile a side's unanswered arrivals leave undefined gets none ([`Untestable::Unanswered`]).
//! The family is judged as one: Holm's correction runs over all of them, each row's interval
//! is drawn at the level Holm tested it at, and the minimum effect is judged on that interval. An
//! open-loop run's throughput is the rate it was offered, its input, so it is shown without a verdict;
//! a capacity run's scenario figures are pooled over steps at many rates, so they get none either
//! (its steps and sustained rates are compared side by side). Every other row (each process's CPU
//! and memory) is shown with its ratio of means and no verdict. Each side's repeats are tested for a drift (Mann–Kendall); each run's own
//! warnings are carried over; capacity results are set side by side.
//!
//! Records that were not made the same way ([`matching`]) are refused unless the caller allows it,
//! and then the comparison carries the differences so that the table and the page can say so loudly.
//! This module builds the comparison; [`table`] prints it for the terminal and [`page`] draws it;
//! [`coverage`] subsamples an A/A study's comparison to count how often its intervals hold the truth.

mod capacity;
mod comparison;
pub mod coverage;
mod matching;
mod page;
mod table;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

pub use capacity::{CapacityComparison, StepPair, FAILED_STEP};
pub use comparison::{
    two_decimals, ComparedRun, Comparison, Figure, Observed, Pairing, Row, ScenarioComparison, SideTrend,
};
pub use matching::Mismatch;

use stack_record::{
    self as record, Basis, Completion, Results, RunRecord, ScenarioResult, Stat, COST_FIGURE,
    CPU_TICKS_NEEDED,
};

use crate::{
    inference::{self, Criteria, Outcome, Trend, Untestable},
    page::{why_withheld, UNDER_TICKS},
};

/// How `stack compare` was asked to judge and where it writes its page.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    pub out: PathBuf,
    pub criteria: Criteria,
    /// Go on when the records were not made the same way, and mark the comparison.
    pub allow_mismatch: bool,
    /// Go on when only the target kinds differ (a local system against one behind URLs), marked.
    pub allow_target_kinds: bool,
}

/// Compares run `a` with run `b`, made at different times, and writes the page.
pub fn compare_runs(a: &Path, b: &Path, options: &CompareOptions) -> Result<Comparison> {
    build(
        RunRecord::read(a)?,
        RunRecord::read(b)?,
        Pairing::Separate,
        options,
    )
}

/// Compares the two sides of an interleaved study directory (`study.json`, `a/`, `b/`).
pub fn compare_study(dir: &Path, options: &CompareOptions) -> Result<Comparison> {
    let (run_a, run_b, pairing) = study_sides(dir)?;
    build(run_a, run_b, pairing, options)
}

/// The comparison of a study directory's two sides as [`compare_study`] makes it, without writing
/// its page: what [`coverage`] subsamples.
pub fn judge_study(dir: &Path, options: &CompareOptions) -> Result<Comparison> {
    let (run_a, run_b, pairing) = study_sides(dir)?;
    assemble(&run_a, &run_b, pairing, options)
}

/// A study directory's two records, and their pairing by round.
fn study_sides(dir: &Path) -> Result<(RunRecord, RunRecord, Pairing)> {
    let study = record::read_study(dir)?;
    let run_a = RunRecord::read(&dir.join(&study.a))?;
    let run_b = RunRecord::read(&dir.join(&study.b))?;
    let rounds = study.rounds.len();
    for (side, run) in [(&study.a, &run_a), (&study.b, &run_b)] {
        let repeats = results_of(run)?.repeats as usize;
        if repeats != rounds {
            bail!(
                "{}: {side}/ holds {repeats} repeats but study.json lists {rounds} rounds: a round of this \
                 study is missing, so its pairs cannot be formed",
                dir.display()
            );
        }
    }
    let pairing = Pairing::Interleaved {
        seed: study.seed,
        rounds,
    };
    Ok((run_a, run_b, pairing))
}

/// The comparison of two records, its page written.
fn build(
    run_a: RunRecord,
    run_b: RunRecord,
    pairing: Pairing,
    options: &CompareOptions,
) -> Result<Comparison> {
    let comparison = assemble(&run_a, &run_b, pairing, options)?;
    let page = page::render(&comparison, results_of(&run_a)?, results_of(&run_b)?);
    std::fs::write(&options.out, page).with_context(|| format!("writing {}", options.out.display()))?;
    Ok(comparison)
}

/// The comparison of two records: refused where they were not made the same way (unless allowed),
/// else every scenario both have, its headline family judged.
fn assemble(
    run_a: &RunRecord,
    run_b: &RunRecord,
    pairing: Pairing,
    options: &CompareOptions,
) -> Result<Comparison> {
    let mismatches = matching::mismatches(&run_a.meta, &run_b.meta);
    let refused = matching::refused(&mismatches, options.allow_target_kinds);
    if !refused.is_empty() && !options.allow_mismatch {
        bail!(matching::refusal(&refused));
    }
    let results_a = results_of(run_a)?;
    let results_b = results_of(run_b)?;
    let names_a: BTreeSet<&String> = results_a.scenarios.keys().collect();
    let names_b: BTreeSet<&String> = results_b.scenarios.keys().collect();
    // A scenario measured in capacity steps has figures pooled over every step's rate.
    let pooled = |name: &str| {
        [results_a, results_b].iter().any(|results| {
            results
                .capacity
                .as_ref()
                .is_some_and(|steps| steps.contains_key(name))
        })
    };
    let mut scenarios: Vec<ScenarioComparison> = names_a
        .intersection(&names_b)
        .map(|name| {
            let mut compared = compare_scenario(
                name,
                &results_a.scenarios[name.as_str()],
                &results_b.scenarios[name.as_str()],
                pairing,
                pooled(name),
            );
            if defers(run_a, name) || defers(run_b, name) {
                refuse_acknowledgements(&mut compared);
            }
            compared
        })
        .collect();
    judge_headline_family(&mut scenarios, &options.criteria);
    Ok(Comparison {
        a: ComparedRun::of(run_a),
        b: ComparedRun::of(run_b),
        pairing,
        criteria: options.criteria,
        mismatches,
        scenarios,
        capacity: capacity::compare_capacity(results_a, results_b),
        only_in_a: names_a.difference(&names_b).map(|n| (*n).clone()).collect(),
        only_in_b: names_b.difference(&names_a).map(|n| (*n).clone()).collect(),
        html: options.out.clone(),
    })
}

fn results_of(run: &RunRecord) -> Result<&Results> {
    run.results.as_ref().with_context(|| {
        format!(
            "{} has no results.json: the run is under way or stopped before its end",
            run.dir.display()
        )
    })
}

/// Holm's correction over every scenario's headline rows at once, then the minimum effect.
fn judge_headline_family(scenarios: &mut [ScenarioComparison], criteria: &Criteria) {
    let mut headline: Vec<&mut Row> = scenarios
        .iter_mut()
        .flat_map(|scenario| scenario.rows.iter_mut())
        .filter(|row| row.outcome.is_some())
        .collect();
    let outcomes: Vec<Outcome> = headline.iter().filter_map(|row| row.outcome).collect();
    let findings = inference::judge_family(&outcomes, criteria);
    for (row, finding) in headline.iter_mut().zip(findings) {
        row.finding = Some(finding);
    }
}

/// Whether `run`'s contract calls `scenario`'s answer an acknowledgement.
fn defers(run: &RunRecord, scenario: &str) -> bool {
    run.meta
        .options
        .contract
        .as_ref()
        .is_some_and(|contract| contract.defers.iter().any(|name| name == scenario))
}

/// Where a side only acknowledges a scenario's requests, its answer rows still judged (their
/// percentile not judged on both sides' completions) are refused: an acknowledgement is not set
/// against finished work.
fn refuse_acknowledgements(compared: &mut ScenarioComparison) {
    for row in &mut compared.rows {
        if Percentile::of_answer(&row.figure).is_some() && row.outcome.is_some() {
            row.outcome = Some(Outcome::Untestable(Untestable::Acknowledgement));
        }
    }
}

/// Why an older record has no CPU per request.
const NO_COST: &str = "this record has no cost per request (written before it was measured)";

fn compare_scenario(
    name: &str,
    a: &ScenarioResult,
    b: &ScenarioResult,
    pairing: Pairing,
    pooled: bool,
) -> ScenarioComparison {
    let headline = |figure: Figure, a: Observed, b: Observed| headline_row(figure, a, b, pairing, pooled);
    // An open-loop run's throughput is the rate it was offered: the input, not a response to test.
    let throughput = if a.open_loop.is_some() || b.open_loop.is_some() {
        shown(Figure::Throughput, Some(&a.rate_per_s), Some(&b.rate_per_s))
    } else {
        headline(
            Figure::Throughput,
            Observed::Recorded(a.rate_per_s.clone()),
            Observed::Recorded(b.rate_per_s.clone()),
        )
    };
    // The answer's latency: corrected in an open-loop run (k6's own and the drops beside it), k6's
    // own in a closed-loop one.
    let mut rows = if a.open_loop.is_some() || b.open_loop.is_some() {
        open_loop_latency_rows(a, b, pairing, pooled)
    } else {
        vec![
            headline(Figure::P50, p50(a), p50(b)),
            headline(Figure::P99, p99(a), p99(b)),
        ]
    };
    // Each percentile is judged on the completion where both sides have that completion figure (an
    // answer may be an acknowledgement), and its answer rows are then shown without a verdict; no
    // row sets one side's answer against the other's completion.
    let on_completion = [Percentile::P50, Percentile::P99].map(|q| both_complete(a, b, q));
    for row in &mut rows {
        if let Some(q) = Percentile::of_answer(&row.figure) {
            if on_completion[q as usize] {
                row.outcome = None;
            }
        }
    }
    rows.push(throughput);
    rows.push(headline(
        Figure::CpuPerRequest,
        cpu_per_request(a),
        cpu_per_request(b),
    ));
    let basis = completion_basis(a, b);
    if basis.is_some() {
        rows.extend(completion_rows(a, b, on_completion, headline));
    }
    rows.extend(process_rows(a, b));
    let trends = trends_of(&rows);
    ScenarioComparison {
        scenario: name.into(),
        rows,
        trends,
        basis,
    }
}

/// A percentile judged on the answer or on the completion.
#[derive(Debug, Clone, Copy)]
enum Percentile {
    P50 = 0,
    P99 = 1,
}

impl Percentile {
    /// The percentile of an answer row.
    fn of_answer(figure: &Figure) -> Option<Self> {
        match figure {
            Figure::P50 | Figure::CorrectedP50 => Some(Self::P50),
            Figure::P99 | Figure::CorrectedP99 => Some(Self::P99),
            _ => None,
        }
    }

    /// Its completion figure, as the record has it, and its names in `withheld` and `at_least`.
    fn completion(self) -> CompletionPercentile {
        match self {
            Self::P50 => CompletionPercentile {
                figure: Figure::CompletionP50,
                pick: |c| c.p50_ms.as_ref(),
                withheld_as: "completion_p50_ms",
                bound_as: "p50_ms",
            },
            Self::P99 => CompletionPercentile {
                figure: Figure::CompletionP99,
                pick: |c| c.p99_ms.as_ref(),
                withheld_as: "completion_p99_ms",
                bound_as: "p99_ms",
            },
        }
    }

    /// The corrected answer percentile whose unanswered arrivals also leave the completion undefined.
    fn corrected(self) -> &'static str {
        match self {
            Self::P50 => "corrected_p50_ms",
            Self::P99 => "corrected_p99_ms",
        }
    }
}

/// A completion percentile: its row, where the record has it, and its names in the record's
/// `withheld` and in the completion's `at_least`.
struct CompletionPercentile {
    figure: Figure,
    pick: fn(&Completion) -> Option<&Stat>,
    withheld_as: &'static str,
    bound_as: &'static str,
}

/// Whether both sides have the completion figure of `q` to judge.
fn both_complete(a: &ScenarioResult, b: &ScenarioResult, q: Percentile) -> bool {
    let pick = q.completion().pick;
    let has = |s: &ScenarioResult| {
        s.completion
            .as_ref()
            .is_some_and(|c| c.withheld_because.is_none() && pick(c).is_some())
    };
    has(a) && has(b)
}

/// The completion rows of two sides that traced requests: p50 and p99 judged where both sides have
/// them (`on_completion`, by `headline`), shown otherwise; completions per second shown. A judged
/// percentile is refused where a side's unanswered arrivals leave it undefined (they never reach a
/// trace, so the completion cannot count them) or where it is only a lower bound on a side.
fn completion_rows(
    a: &ScenarioResult,
    b: &ScenarioResult,
    on_completion: [bool; 2],
    headline: impl Fn(Figure, Observed, Observed) -> Row,
) -> Vec<Row> {
    let completion = |q: Percentile| {
        let CompletionPercentile {
            figure,
            pick,
            withheld_as,
            bound_as,
        } = q.completion();
        let (oa, ob) = (
            completion_of(a, pick, withheld_as),
            completion_of(b, pick, withheld_as),
        );
        if !on_completion[q as usize] {
            return unjudged(figure, oa, ob);
        }
        let mut row = headline(figure, oa, ob);
        let lower_bound = |s: &ScenarioResult| {
            s.completion
                .as_ref()
                .is_some_and(|c| c.at_least.iter().any(|f| f == bound_as))
        };
        if undefined_by_unanswered(a, q.corrected()) || undefined_by_unanswered(b, q.corrected()) {
            row.outcome = Some(Outcome::Untestable(Untestable::Unanswered));
        } else if lower_bound(a) || lower_bound(b) {
            row.outcome = Some(Outcome::Untestable(Untestable::LowerBound));
        }
        row
    };
    vec![
        completion(Percentile::P50),
        completion(Percentile::P99),
        unjudged(
            Figure::CompletionsPerS,
            completion_of(a, |c| c.completions_per_s.as_ref(), ""),
            completion_of(b, |c| c.completions_per_s.as_ref(), ""),
        ),
    ]
}

/// A headline row, with what its values allow to be said.
fn headline_row(figure: Figure, a: Observed, b: Observed, pairing: Pairing, pooled: bool) -> Row {
    let outcome = match (a.stat(), b.stat()) {
        _ if pooled => Outcome::Untestable(Untestable::PooledSteps),
        (Some(a), Some(b)) => pairing.outcome(a, b, figure.resolution()),
        _ => Outcome::Untestable(Untestable::MissingSide),
    };
    Row {
        figure,
        a,
        b,
        outcome: Some(outcome),
        finding: None,
    }
}

/// An open-loop run's latency rows (issue 30): the corrected p50 and p99 judged, refused where a
/// side's unanswered arrivals leave the percentile undefined; k6's plain ones and each side's drops
/// shown beside them.
fn open_loop_latency_rows(
    a: &ScenarioResult,
    b: &ScenarioResult,
    pairing: Pairing,
    pooled: bool,
) -> Vec<Row> {
    let corrected = |figure: Figure, name: &str, pick: fn(&ScenarioResult) -> Option<&Stat>| {
        let mut row = headline_row(
            figure,
            percentile(a, pick(a), name),
            percentile(b, pick(b), name),
            pairing,
            pooled,
        );
        if !pooled && (undefined_by_unanswered(a, name) || undefined_by_unanswered(b, name)) {
            row.outcome = Some(Outcome::Untestable(Untestable::Unanswered));
        }
        row
    };
    let plain = |figure: Figure, name: &str, pick: fn(&ScenarioResult) -> Option<&Stat>| Row {
        outcome: None,
        ..headline_row(
            figure,
            percentile(a, pick(a), name),
            percentile(b, pick(b), name),
            pairing,
            pooled,
        )
    };
    vec![
        corrected(Figure::CorrectedP50, "corrected_p50_ms", |s| {
            s.open_loop.as_ref()?.corrected_p50_ms.as_ref()
        }),
        corrected(Figure::CorrectedP99, "corrected_p99_ms", |s| {
            s.open_loop.as_ref()?.corrected_p99_ms.as_ref()
        }),
        plain(Figure::P50, "p50_ms", |s| s.p50_ms.as_ref()),
        plain(Figure::P99, "p99_ms", |s| s.p99_ms.as_ref()),
        shown(
            Figure::Dropped,
            Some(&a.dropped_iterations),
            Some(&b.dropped_iterations),
        ),
    ]
}

/// Whether the record withheld `figure` because too many of its arrivals went unanswered.
fn undefined_by_unanswered(scenario: &ScenarioResult, figure: &str) -> bool {
    scenario
        .withheld
        .iter()
        .any(|w| w.figure == figure && w.basis == Basis::Answered)
}

/// A row shown with no verdict, its values as observed.
fn unjudged(figure: Figure, a: Observed, b: Observed) -> Row {
    Row {
        figure,
        a,
        b,
        outcome: None,
        finding: None,
    }
}

/// Whether a side has completion figures to judge (traced requests, not withheld).
fn has_completion(scenario: &ScenarioResult) -> bool {
    scenario
        .completion
        .as_ref()
        .is_some_and(|c| c.withheld_because.is_none())
}

/// Which figure a scenario's verdicts are on, said in one sentence; `None` where neither side
/// traced a request.
fn completion_basis(a: &ScenarioResult, b: &ScenarioResult) -> Option<String> {
    let basis = completion_verdicts(a, b)?;
    let bounds: Vec<String> = [("A", a), ("B", b)]
        .iter()
        .flat_map(|(side, scenario)| {
            let at_least = scenario.completion.iter().flat_map(|c| &c.at_least);
            at_least.map(move |figure| format!("{side}'s completion {}", figure.replace("_ms", "")))
        })
        .collect();
    Some(match bounds.is_empty() {
        true => basis,
        false => format!(
            "{basis}. Lower bounds (work not done by the end of the drain, so at least this long): {}",
            bounds.join(", ")
        ),
    })
}

/// Which figure a scenario's verdicts are on, in one sentence.
fn completion_verdicts(a: &ScenarioResult, b: &ScenarioResult) -> Option<String> {
    match (has_completion(a), has_completion(b)) {
        (true, true) => Some(
            "verdicts on the completion (the time until the work was done, from the traces) for each percentile both sides have it for, the answer's rows of that percentile then shown without a verdict; on the answer for the others"
                .into(),
        ),
        (true, false) | (false, true) => {
            let (with, without) = if has_completion(a) { ("A", "B") } else { ("B", "A") };
            Some(format!(
                "verdicts on the answer: only {with} has completion figures, shown without a verdict; {with}'s completion is not set against {without}'s answer"
            ))
        }
        (false, false) if a.completion.is_some() || b.completion.is_some() => Some(
            "verdicts on the answer: neither side's completion figures could be used (see their rows)"
                .into(),
        ),
        (false, false) => None,
    }
}

/// One completion figure of a side, or why it has none.
fn completion_of(
    scenario: &ScenarioResult,
    pick: fn(&Completion) -> Option<&Stat>,
    figure: &str,
) -> Observed {
    let Some(completion) = &scenario.completion else {
        return Observed::Missing("no traced requests, or no traces, in this run".into());
    };
    if let Some(why) = &completion.withheld_because {
        return Observed::Missing(why.clone());
    }
    let reason = why_withheld(figure, &scenario.withheld).unwrap_or_else(|| "not in this run".into());
    Observed::from_option(pick(completion), &reason)
}

/// A row shown with no verdict.
fn shown(figure: Figure, a: Option<&Stat>, b: Option<&Stat>) -> Row {
    Row {
        figure,
        a: Observed::from_option(a, "not in this run"),
        b: Observed::from_option(b, "not in this run"),
        outcome: None,
        finding: None,
    }
}

/// Each process's CPU rows, then each one's memory rows: shown, never judged. Memory is compared by
/// peak PSS where both sides measured it (a multi-process server's shared pages count once), else
/// by peak RSS.
fn process_rows(a: &ScenarioResult, b: &ScenarioResult) -> Vec<Row> {
    let processes: BTreeSet<&String> = a.resources.keys().chain(b.resources.keys()).collect();
    let cpu = processes.iter().map(|process| Row {
        figure: Figure::Cpu((*process).clone()),
        a: process_cpu(a, process),
        b: process_cpu(b, process),
        outcome: None,
        finding: None,
    });
    let memory = processes.iter().map(|process| {
        let (ra, rb) = (a.resources.get(*process), b.resources.get(*process));
        match (
            ra.and_then(|r| r.pss_max_bytes.as_ref()),
            rb.and_then(|r| r.pss_max_bytes.as_ref()),
        ) {
            (Some(pss_a), Some(pss_b)) => shown(Figure::Pss((*process).clone()), Some(pss_a), Some(pss_b)),
            _ => shown(
                Figure::Rss((*process).clone()),
                ra.map(|r| &r.rss_max_bytes),
                rb.map(|r| &r.rss_max_bytes),
            ),
        }
    });
    cpu.chain(memory).collect()
}

/// `process`'s mean CPU on one side; "under 100 ticks" where it spent fewer than
/// [`CPU_TICKS_NEEDED`] clock ticks in some measured window (its % of one core times the window's
/// seconds is its ticks), since such a figure is mostly `/proc`'s rounding.
fn process_cpu(scenario: &ScenarioResult, process: &str) -> Observed {
    let Some(resources) = scenario.resources.get(process) else {
        return Observed::Missing("not in this run".into());
    };
    let cpu = &resources.cpu_mean_percent;
    let least_ticks = cpu
        .runs
        .iter()
        .zip(&scenario.window)
        .map(|(percent, window)| percent * (window.end_s - window.start_s))
        .fold(f64::INFINITY, f64::min);
    if least_ticks < CPU_TICKS_NEEDED as f64 {
        Observed::Missing(UNDER_TICKS.into())
    } else {
        Observed::Recorded(cpu.clone())
    }
}

/// The headline figures whose repeats moved one way on a side, where that is worth saying.
fn trends_of(rows: &[Row]) -> Vec<SideTrend> {
    rows.iter()
        .filter(|row| row.figure.is_headline() && row.figure != Figure::Dropped)
        .flat_map(|row| [("A", &row.a), ("B", &row.b)].map(|(side, observed)| (side, row, observed)))
        .filter_map(|(side, row, observed)| {
            let trend = inference::trend(&observed.stat()?.runs, inference::ALPHA);
            // Two values always move one way: that says nothing.
            let worth_saying = match trend {
                Trend::Drift { .. } => true,
                Trend::TooFew { n, monotone, .. } => n >= 3 && monotone.is_some(),
                _ => false,
            };
            worth_saying.then(|| SideTrend {
                side,
                figure: row.figure.clone(),
                trend,
            })
        })
        .collect()
}

fn p50(scenario: &ScenarioResult) -> Observed {
    percentile(scenario, scenario.p50_ms.as_ref(), "p50_ms")
}

fn p99(scenario: &ScenarioResult) -> Observed {
    percentile(scenario, scenario.p99_ms.as_ref(), "p99_ms")
}

/// A percentile as the record has it, or why the record withheld it (too few samples).
fn percentile(scenario: &ScenarioResult, stat: Option<&Stat>, figure: &str) -> Observed {
    let reason = why_withheld(figure, &scenario.withheld).unwrap_or_else(|| "not in this run".into());
    Observed::from_option(stat, &reason)
}

/// The system's cost per request, or why the record has none (too little CPU to measure it, or
/// a record from before it was measured).
fn cpu_per_request(scenario: &ScenarioResult) -> Observed {
    let reason = why_withheld(COST_FIGURE, &scenario.withheld).unwrap_or_else(|| NO_COST.into());
    Observed::from_option(scenario.cost.as_ref().map(|cost| &cost.system_us), &reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::{Design, Estimate, Finding};

    /// A tested row with B/A = `ratio` and p = `p` over 5 rounds.
    fn tested(p: f64, ratio: f64) -> Outcome {
        let df = 4.0;
        let t = statrs::distribution::StudentsT::new(0.0, 1.0, df)
            .map(|t| statrs::distribution::ContinuousCDF::inverse_cdf(&t, 1.0 - p / 2.0))
            .expect("t with 4 degrees of freedom");
        Outcome::Tested(Estimate::new(
            Design::Interleaved,
            ratio.ln(),
            ratio.ln().abs() / t,
            df,
            (5, 5),
        ))
    }

    fn row(figure: Figure, outcome: Option<Outcome>) -> Row {
        let stat = Stat {
            mean: 1.0,
            ci95: None,
            runs: vec![1.0],
        };
        Row {
            figure,
            a: Observed::Recorded(stat.clone()),
            b: Observed::Recorded(stat),
            outcome,
            finding: None,
        }
    }

    fn scenario(name: &str, rows: Vec<Row>) -> ScenarioComparison {
        ScenarioComparison {
            scenario: name.into(),
            rows,
            trends: vec![],
            basis: None,
        }
    }

    /// S1 of a committed smoke run, with completion figures of p50 `completion_p50` ms if given.
    fn s1_with_completion(completion_p50: Option<f64>) -> ScenarioResult {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs/20261208T011305Z-smoke");
        let run = RunRecord::read(&dir).expect("the committed smoke run");
        let mut s1 = run.results.expect("its results").scenarios["s1"].clone();
        let stat = |value: f64| Stat {
            mean: value,
            ci95: None,
            runs: vec![value],
        };
        s1.completion = completion_p50.map(|p50| Completion {
            traced: stat(40.0),
            untraced: stat(0.0),
            completed: Some(stat(40.0)),
            completed_fraction: Some(stat(1.0)),
            completions_per_s: Some(stat(20.0)),
            p50_ms: Some(stat(p50)),
            p99_ms: None,
            at_least: vec![],
            withheld_because: None,
            clock: "one host".into(),
            clock_offset_ms: None,
        });
        s1
    }

    fn judged(comparison: &ScenarioComparison, figure: Figure) -> bool {
        comparison
            .rows
            .iter()
            .find(|row| row.figure == figure)
            .unwrap_or_else(|| panic!("a row {figure:?}"))
            .outcome
            .is_some()
    }

    #[test]
    fn where_both_sides_have_completion_the_verdicts_are_on_it_and_say_so() {
        // Given A and B both with completion figures (B's an acknowledgement finishing 10 s later)
        let (a, b) = (
            s1_with_completion(Some(600.0)),
            s1_with_completion(Some(10_600.0)),
        );
        // When they are compared
        let compared = compare_scenario("s1", &a, &b, Pairing::Separate, false);
        // Then the completion rows are judged, the answer rows only shown, and the basis says so
        assert!(judged(&compared, Figure::CompletionP50));
        assert!(!judged(&compared, Figure::P50));
        assert!(!judged(&compared, Figure::CompletionsPerS));
        let basis = compared.basis.expect("a basis");
        assert!(basis.starts_with("verdicts on the completion"), "{basis}");
    }

    #[test]
    fn where_one_side_lacks_completion_its_answer_is_never_set_against_the_others_completion() {
        // Given A without traces and B with completion figures
        let (a, b) = (s1_with_completion(None), s1_with_completion(Some(10_600.0)));
        // When they are compared
        let compared = compare_scenario("s1", &a, &b, Pairing::Separate, false);
        // Then the verdicts stay on the answer, and B's completion is shown beside A's missing one
        assert!(judged(&compared, Figure::P50));
        assert!(!judged(&compared, Figure::CompletionP50));
        let row = compared
            .rows
            .iter()
            .find(|row| row.figure == Figure::CompletionP50)
            .expect("a completion row");
        assert!(row.a.stat().is_none() && row.b.stat().is_some());
        assert_eq!(row.ratio(), None);
        let basis = compared.basis.expect("a basis");
        assert!(basis.contains("only B has completion figures"), "{basis}");
    }

    fn outcome(comparison: &ScenarioComparison, figure: Figure) -> Option<Outcome> {
        comparison
            .rows
            .iter()
            .find(|row| row.figure == figure)
            .unwrap_or_else(|| panic!("a row {figure:?}"))
            .outcome
    }

    #[test]
    fn a_percentile_judged_on_the_answer_where_a_side_lacks_its_completion_figure() {
        // Given both sides with a completion p50 but neither with a completion p99 (too few traced)
        let (a, b) = (s1_with_completion(Some(600.0)), s1_with_completion(Some(650.0)));
        // When they are compared
        let compared = compare_scenario("s1", &a, &b, Pairing::Separate, false);
        // Then p50 is judged on the completion, p99 stays on the answer
        assert!(judged(&compared, Figure::CompletionP50) && !judged(&compared, Figure::P50));
        assert!(judged(&compared, Figure::P99) && !judged(&compared, Figure::CompletionP99));
    }

    #[test]
    fn a_completion_percentile_that_is_a_lower_bound_on_a_side_is_not_judged() {
        // Given B's completion p50 a lower bound (its work not done by the end of the drain)
        let (a, mut b) = (
            s1_with_completion(Some(7_000.0)),
            s1_with_completion(Some(5_500.0)),
        );
        if let Some(completion) = b.completion.as_mut() {
            completion.at_least.push("p50_ms".into());
        }
        // When they are compared
        let compared = compare_scenario("s1", &a, &b, Pairing::Separate, false);
        // Then "B lower" is never said: the row is untestable as a lower bound
        assert_eq!(
            outcome(&compared, Figure::CompletionP50),
            Some(Outcome::Untestable(Untestable::LowerBound))
        );
    }

    #[test]
    fn a_completion_percentile_a_sides_drops_leave_undefined_is_refused() {
        // Given both sides with a completion p50, and B's corrected p50 withheld for its drops
        let (a, mut b) = (s1_with_completion(Some(600.0)), s1_with_completion(Some(500.0)));
        b.withheld.push(stack_record::Withheld {
            figure: "corrected_p50_ms".into(),
            basis: Basis::Answered,
            samples: 40,
            needed: 50,
        });
        // When they are compared
        let compared = compare_scenario("s1", &a, &b, Pairing::Separate, false);
        // Then the completion p50 is refused: the dropped arrivals never reached a trace
        assert_eq!(
            outcome(&compared, Figure::CompletionP50),
            Some(Outcome::Untestable(Untestable::Unanswered))
        );
    }

    #[test]
    fn an_acknowledgement_is_not_judged_against_an_answer_where_completions_are_missing() {
        // Given A without traces and B, whose contract defers S1, with completion figures
        let (a, b) = (s1_with_completion(None), s1_with_completion(Some(10_600.0)));
        let mut compared = compare_scenario("s1", &a, &b, Pairing::Separate, false);
        // When B's acknowledgements are refused
        refuse_acknowledgements(&mut compared);
        // Then the answer rows, which were judged, are untestable, and nothing else changed
        assert_eq!(
            outcome(&compared, Figure::P50),
            Some(Outcome::Untestable(Untestable::Acknowledgement))
        );
        assert!(judged(&compared, Figure::CpuPerRequest));
        assert_eq!(
            outcome(&compared, Figure::CpuPerRequest),
            compare_scenario("s1", &a, &b, Pairing::Separate, false)
                .rows
                .iter()
                .find(|row| row.figure == Figure::CpuPerRequest)
                .and_then(|row| row.outcome)
        );
    }

    #[test]
    fn holms_family_spans_the_headline_rows_of_every_scenario() {
        // Given two scenarios whose p99 alone would each differ at p = 0.03
        let mut scenarios = vec![
            scenario("s1", vec![row(Figure::P99, Some(tested(0.03, 1.3)))]),
            scenario("s2", vec![row(Figure::P99, Some(tested(0.03, 1.3)))]),
        ];
        // When the headline family is judged
        judge_headline_family(&mut scenarios, &Criteria::default());
        // Then both are corrected as one family of two, and neither is a finding
        for scenario in &scenarios {
            let finding = scenario.rows[0].finding;
            assert!(
                matches!(finding, Some(Finding::Noise { p_holm, .. }) if (p_holm - 0.06).abs() < 1e-12),
                "{finding:?}"
            );
        }
    }

    #[test]
    fn per_process_rows_get_no_verdict_and_no_mark() {
        // Given a scenario with a headline row and a process's CPU row that doubled
        let mut cpu = row(Figure::Cpu("postgres".into()), None);
        cpu.b = Observed::Recorded(Stat {
            mean: 2.0,
            ci95: None,
            runs: vec![2.0],
        });
        let mut scenarios = vec![scenario(
            "s1",
            vec![row(Figure::P50, Some(tested(0.001, 1.5))), cpu],
        )];
        // When the family is judged
        judge_headline_family(&mut scenarios, &Criteria::default());
        // Then the headline row is marked, and the process row has its ratio but no verdict
        let rows = &scenarios[0].rows;
        assert!(rows[0].marked());
        assert_eq!(rows[1].finding, None);
        assert!(!rows[1].marked());
        assert_eq!(rows[1].ratio_text(), "2.00");
        assert_eq!(rows[1].verdict_text(), "");
    }

    #[test]
    fn a_marked_row_says_whether_b_is_better_or_worse() {
        let mut scenarios = vec![scenario(
            "s1",
            vec![
                row(Figure::P99, Some(tested(0.001, 1.5))),
                row(Figure::Throughput, Some(tested(0.001, 1.5))),
            ],
        )];
        judge_headline_family(&mut scenarios, &Criteria::default());
        assert!(scenarios[0].rows[0]
            .verdict_text()
            .starts_with("B higher, worse *"));
        assert!(scenarios[0].rows[1]
            .verdict_text()
            .starts_with("B higher, better *"));
    }
}
