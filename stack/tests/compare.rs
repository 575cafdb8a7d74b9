//! `stack compare` on real records: the two smoke runs committed under `docs/runs/`, the fixture runs
//! of `tests/fixtures/runs/`, and copies of them changed the way a reader's records could differ (a
//! profile changed in `meta.json`, a study directory of two sides). The command is run as a reader
//! runs it, the built `stack` binary, wherever the exit status and the printed table are the point.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use stack_record::{self as record, RunRecord, Study};
use stack_study::{
    compare::{compare_runs, compare_study, CompareOptions, Comparison, Figure, Pairing},
    inference::{Design, Outcome, Untestable, MIN_ROUNDS},
};

const RUN_A: &str = "docs/runs/20261208T011305Z-smoke";
const RUN_B: &str = "docs/runs/20261208T011520Z-smoke";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runs")
        .join(name)
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stack-compare-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// The record files of run `from` (meta, results, resources) copied into `to`.
fn copy_record(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).expect("the copy's folder");
    for file in [record::META_FILE, record::RESULTS_FILE, record::RESOURCES_FILE] {
        std::fs::copy(from.join(file), to.join(file)).expect("copying the record");
    }
    to.to_path_buf()
}

/// `stack compare ARGS...` from the workspace, as a reader types it.
fn stack_compare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stack"))
        .arg("compare")
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("stack runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn options(out: PathBuf) -> CompareOptions {
    CompareOptions {
        out,
        criteria: Default::default(),
        allow_mismatch: false,
        allow_target_kinds: false,
    }
}

/// A study directory whose two sides are copies of `a` and `b`, with `rounds` rounds.
fn study_of(dir: &Path, a: &Path, b: &Path, rounds: usize, seed: u64) -> PathBuf {
    copy_record(a, &dir.join("a"));
    copy_record(b, &dir.join("b"));
    let study = Study {
        format_version: 1,
        seed,
        rounds: (0..rounds)
            .map(|r| {
                let order = if r % 2 == 0 { ["a", "b"] } else { ["b", "a"] };
                order.map(String::from).to_vec()
            })
            .collect(),
        a: "a".into(),
        b: "b".into(),
    };
    record::write_study(dir, &study).expect("study.json");
    dir.to_path_buf()
}

/// A copy of `record` at `to` with five repeats (its three, then the first two again a little
/// moved), each figure's runs then passed through `reorder`: enough rounds for a verdict.
fn five_repeats_of(record: &Path, to: &Path, reorder: impl Fn(&mut Vec<f64>)) -> PathBuf {
    let copy = copy_record(record, to);
    let mut run = RunRecord::read(&copy).expect("the copy reads");
    let results = run.results.as_mut().expect("results");
    results.repeats = MIN_ROUNDS as u32;
    let extend = |runs: &mut Vec<f64>| {
        let more: Vec<f64> = runs
            .iter()
            .take(MIN_ROUNDS - runs.len())
            .map(|v| v * 1.01)
            .collect();
        runs.extend(more);
        reorder(runs);
    };
    for scenario in results.scenarios.values_mut() {
        extend(&mut scenario.rate_per_s.runs);
        for stat in [scenario.p50_ms.as_mut(), scenario.p99_ms.as_mut()]
            .into_iter()
            .flatten()
        {
            extend(&mut stat.runs);
        }
        if let Some(cost) = scenario.cost.as_mut() {
            extend(&mut cost.system_us.runs);
        }
    }
    record::write_results(&copy, results).expect("results.json");
    copy
}

fn headline_outcomes(comparison: &Comparison) -> Vec<Outcome> {
    comparison
        .scenarios
        .iter()
        .flat_map(|scenario| scenario.headline().into_iter().filter_map(|row| row.outcome))
        .collect()
}

#[test]
fn the_committed_smoke_runs_compare_from_the_repository() {
    // Given the two smoke runs committed under docs/runs/
    let out = scratch("committed").join("compare.html");
    // When a reader compares them from the repository
    let output = stack_compare(&[RUN_A, RUN_B, "--out", out.to_str().expect("a UTF-8 path")]);
    // Then the command succeeds, prints every scenario with the weaker design named, and writes the page
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    for scenario in ["s1", "s2", "s3", "s4", "s5", "s6"] {
        assert!(
            stdout.contains(&format!("\n{scenario} ")),
            "{scenario} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("design: separate runs, the weaker design"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&out).expect("the page was written");
    assert!(page.contains("the weaker design"));
}

#[test]
fn a_record_with_another_profile_and_warm_up_is_refused_with_each_difference() {
    // Given a copy of the second committed run whose meta.json says baseline with 5 s of warm-up
    let dir = scratch("refused");
    let changed = copy_record(&workspace().join(RUN_B), &dir.join("changed"));
    let mut run = RunRecord::read(&changed).expect("the copy reads");
    run.meta.profile = "baseline".into();
    run.meta.warmup_s = 5.0;
    record::write_meta(&changed, &run.meta).expect("meta.json");
    // When it is compared with the first
    let output = stack_compare(&[
        RUN_A,
        changed.to_str().expect("a UTF-8 path"),
        "--out",
        dir.join("compare.html").to_str().expect("a UTF-8 path"),
    ]);
    // Then the comparison is refused, naming both differences with both values, and writes no page
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{}", text(&output.stdout));
    assert!(stderr.contains("profile: A smoke, B baseline"), "{stderr}");
    assert!(stderr.contains("warm-up: A 2.00 s, B 5.00 s"), "{stderr}");
    assert!(stderr.contains("--allow-mismatch"), "{stderr}");
    assert!(!dir.join("compare.html").exists());
}

#[test]
fn allowed_mismatched_records_are_compared_and_marked_first_on_the_table_and_the_page() {
    // Given a copy of the second committed run with another k6 version
    let dir = scratch("allowed");
    let changed = copy_record(&workspace().join(RUN_B), &dir.join("changed"));
    let mut run = RunRecord::read(&changed).expect("the copy reads");
    run.meta.versions.k6 = Some("0.50.0".into());
    record::write_meta(&changed, &run.meta).expect("meta.json");
    let out = dir.join("compare.html");
    // When they are compared with --allow-mismatch
    let output = stack_compare(&[
        RUN_A,
        changed.to_str().expect("a UTF-8 path"),
        "--allow-mismatch",
        "--out",
        out.to_str().expect("a UTF-8 path"),
    ]);
    // Then the table opens with the mismatch and the page carries it above everything else
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(stdout.starts_with("!!! MISMATCHED RECORDS"), "{stdout}");
    assert!(stdout.contains("k6 version: A 1.1.0, B 0.50.0"), "{stdout}");
    let page = std::fs::read_to_string(&out).expect("the page");
    let body = page.split("<body>").nth(1).unwrap_or_default();
    assert!(
        body.trim_start()
            .starts_with(r#"<div class="warnings" id="mismatch""#),
        "{body:.300}"
    );
}

#[test]
fn a_study_directory_is_compared_round_by_round_with_the_studys_seed() {
    // Given a study of five rounds whose sides are the same five-repeat record
    let dir = scratch("study");
    let record = five_repeats_of(&fixture("broker-smoke"), &dir.join("five"), |_| {});
    let study = study_of(&dir.join("study"), &record, &record, MIN_ROUNDS, 2026);
    // When the study directory is compared
    let comparison = compare_study(&study, &options(dir.join("compare.html"))).expect("the study compares");
    // Then the design is the paired one with the recorded seed, and every headline row that has a
    // value on both sides is exact in it: A against its own copy never varies
    assert_eq!(
        comparison.pairing,
        Pairing::Interleaved {
            seed: 2026,
            rounds: MIN_ROUNDS
        }
    );
    let outcomes = headline_outcomes(&comparison);
    assert!(
        outcomes.iter().any(|o| matches!(o, Outcome::Exact { .. })),
        "{outcomes:?}"
    );
    for outcome in outcomes {
        match outcome {
            Outcome::Exact { design, .. } => assert_eq!(design, Design::Interleaved),
            Outcome::Untestable(why) => assert!(
                !matches!(why, Untestable::TooFew { .. }),
                "five rounds are enough: {why:?}"
            ),
            Outcome::Tested(estimate) => panic!("A against its own copy varied: {estimate:?}"),
        }
    }
}

#[test]
fn a_study_of_fewer_than_five_rounds_gets_no_verdict() {
    // Given a study of three rounds whose B is 20 % slower on every figure
    let dir = scratch("three-rounds");
    let broker = fixture("broker-smoke");
    let slower = copy_record(&broker, &dir.join("slower"));
    let mut run = RunRecord::read(&slower).expect("the copy reads");
    let results = run.results.as_mut().expect("results");
    for scenario in results.scenarios.values_mut() {
        for stat in [&mut scenario.rate_per_s]
            .into_iter()
            .chain(scenario.p50_ms.as_mut())
        {
            stat.runs.iter_mut().for_each(|v| *v *= 1.2);
        }
    }
    record::write_results(&slower, results).expect("results.json");
    let study = study_of(&dir.join("study"), &broker, &slower, 3, 1);
    // When it is compared
    let comparison = compare_study(&study, &options(dir.join("compare.html"))).expect("the study compares");
    // Then no headline row has a verdict: each says there were too few rounds
    let rows: Vec<_> = comparison.scenarios.iter().flat_map(|s| s.headline()).collect();
    assert!(!rows.is_empty());
    for row in rows {
        assert!(!row.marked(), "{}", row.verdict_text());
        if row.a.stat().is_some() && row.b.stat().is_some() {
            assert!(
                row.verdict_text()
                    .contains("too few rounds: A has 3, B 3; a verdict needs 5"),
                "{}",
                row.verdict_text()
            );
        }
    }
    assert!(comparison.findings().is_empty());
}

#[test]
fn a_study_whose_side_misses_a_round_is_refused() {
    // Given study.json with four rounds beside sides that ran three
    let dir = scratch("missing-round");
    let broker = fixture("broker-smoke");
    let study = study_of(&dir, &broker, &broker, 4, 1);
    // When it is compared
    let err = compare_study(&study, &options(dir.join("compare.html"))).expect_err("refused");
    // Then the error says which side is short
    assert!(
        format!("{err:#}").contains("a/ holds 3 repeats but study.json lists 4 rounds"),
        "{err:#}"
    );
}

#[test]
fn rounds_that_differ_give_a_paired_interval_around_the_ratio() {
    // Given a study whose B is a five-repeat record with its repeats in another order: the same
    // values, paired with other rounds of A
    let dir = scratch("rotated");
    let broker = five_repeats_of(&fixture("broker-smoke"), &dir.join("five"), |_| {});
    let rotated = five_repeats_of(&fixture("broker-smoke"), &dir.join("rotated"), |runs| {
        runs.rotate_left(1)
    });
    let study = study_of(&dir.join("study"), &broker, &rotated, MIN_ROUNDS, 7);
    // When it is compared
    let comparison = compare_study(&study, &options(dir.join("compare.html"))).expect("the study compares");
    // Then each varying throughput row is an interleaved estimate whose interval holds its ratio
    let tested: Vec<_> = comparison
        .scenarios
        .iter()
        .flat_map(|scenario| scenario.headline())
        .filter(|row| row.figure == Figure::Throughput)
        .filter_map(|row| match row.outcome {
            Some(Outcome::Tested(estimate)) => Some(estimate),
            _ => None,
        })
        .collect();
    assert!(!tested.is_empty(), "no throughput row varied");
    for estimate in tested {
        assert_eq!(estimate.design, Design::Interleaved);
        assert!(
            estimate.ci95[0] <= estimate.ratio && estimate.ratio <= estimate.ci95[1],
            "{estimate:?}"
        );
    }
}

#[test]
fn each_runs_own_warnings_are_carried_into_the_comparison() {
    // Given the broker fixture, whose record warns that S6 dropped iterations in repeat 3
    let dir = scratch("warnings");
    let mut options = options(dir.join("compare.html"));
    options.allow_mismatch = true;
    // When it is compared as B
    let comparison =
        compare_runs(&fixture("sync-smoke"), &fixture("broker-smoke"), &options).expect("the runs compare");
    // Then its warning is listed under B's, in the table and on the page
    let table = comparison.to_string();
    let under_b = table.split("warnings of B:").nth(1).unwrap_or_default();
    assert!(under_b.contains("s6 repeat 3: 3 dropped iterations"), "{table}");
    let page = std::fs::read_to_string(dir.join("compare.html")).expect("the page");
    assert!(page.contains("Warnings of B"));
    assert!(page.contains("s6 repeat 3: 3 dropped iterations"));
}

#[test]
fn a_side_whose_repeats_fall_every_time_is_flagged_as_drifting() {
    // Given the committed run with S5's throughput over five repeats falling as in the issue
    let dir = scratch("drift");
    let falling = copy_record(&workspace().join(RUN_A), &dir.join("falling"));
    let mut run = RunRecord::read(&falling).expect("the copy reads");
    let results = run.results.as_mut().expect("results");
    let s5 = results.scenarios.get_mut("s5").expect("s5");
    s5.rate_per_s.runs = vec![420.0, 400.0, 380.0, 300.0, 252.0];
    record::write_results(&falling, results).expect("results.json");
    // When it is compared with the run it came from
    let comparison = compare_runs(
        &workspace().join(RUN_A),
        &falling,
        &options(dir.join("compare.html")),
    )
    .expect("the runs compare");
    // Then B's S5 throughput is named as a drift, in the table and on the page
    let drifts = comparison.drifts();
    assert_eq!(drifts.len(), 1, "{drifts:?}");
    let sentence = drifts[0].1.describe(drifts[0].0);
    assert!(
        sentence.starts_with("s5 throughput /s of B drifts lower"),
        "{sentence}"
    );
    assert!(comparison.to_string().contains(&sentence));
    let page = std::fs::read_to_string(dir.join("compare.html")).expect("the page");
    assert!(page.contains("Drifts over the repeats"));
}

#[test]
fn capacity_runs_compare_their_sustained_rates_and_each_step() {
    // Given the capacity fixture and a copy of it
    let dir = scratch("capacity");
    let copy = copy_record(&fixture("sync-capacity"), &dir.join("copy"));
    // When they are compared
    let comparison = compare_runs(
        &fixture("sync-capacity"),
        &copy,
        &options(dir.join("compare.html")),
    )
    .expect("the runs compare");
    // Then S6's sustained rates are side by side with B/A = 1, and every step is paired with itself
    assert_eq!(comparison.capacity.len(), 1);
    let s6 = &comparison.capacity[0];
    assert_eq!(s6.scenario, "s6");
    assert_eq!(s6.sustained_ratio(), Some(1.0));
    assert!(!s6.steps.is_empty());
    assert!(s6.steps.iter().all(|step| step.p99_ratio() == Some(1.0)));
    assert!(comparison.to_string().contains("s6 capacity: sustained rate"));
}

#[test]
fn a_capacity_runs_figures_pooled_over_its_steps_get_no_verdict() {
    // Given the capacity fixture and a copy of it
    let dir = scratch("capacity-pooled");
    let copy = copy_record(&fixture("sync-capacity"), &dir.join("copy"));
    // When they are compared
    let comparison = compare_runs(
        &fixture("sync-capacity"),
        &copy,
        &options(dir.join("compare.html")),
    )
    .expect("the runs compare");
    // Then every headline row of the scenario is untestable as pooled over steps, never judged
    let outcomes = headline_outcomes(&comparison);
    assert!(!outcomes.is_empty());
    for outcome in outcomes {
        assert_eq!(outcome, Outcome::Untestable(Untestable::PooledSteps));
    }
    assert!(comparison.findings().is_empty());
}
