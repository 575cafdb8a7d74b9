//! The completion figures from a real k6 sample file and a `traces.csv` (`tests/fixtures/k6/traced`,
//! see the README there): 40 traced S1 requests, 36 of whose traces ended before their answer, 3
//! still receiving spans at the end of the drain, and one that reached no service.

use std::path::{Path, PathBuf};

use stack_record::{
    scenario_dir,
    traces::{read_traces, write_traces, TraceSummary, TRACES_FILE},
    Results, Window,
};
use stack_study::{
    bench::{
        analysis::{results, Inputs, MeasuredRun},
        completion::NOT_PASSED_ON,
    },
    scenario::{CapacityPlan, Scenario},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k6/traced")
}

fn number_in(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("the fixture's number")
        .trim()
        .to_owned()
}

/// The figures of the fixture's run, its files in `dir`.
fn figures_of(dir: &Path) -> Results {
    let plan = CapacityPlan::read(&root()).expect("capacity.json");
    let measured = vec![MeasuredRun {
        scenario: Scenario::S1,
        window: Window {
            repeat: 1,
            start_s: 0.0,
            end_s: 20.0,
        },
        repeat_start_ms: number_in(&fixture().join("repeat-start-ms"))
            .parse()
            .expect("Unix ms"),
        thresholds_crossed: false,
        drain_end_unix_ns: Some(
            number_in(&fixture().join("drain-end-unix-ns"))
                .parse()
                .expect("Unix ns"),
        ),
    }];
    results(&Inputs {
        dir,
        repeats: 1,
        measured: &measured,
        resources: &[],
        s4_reports: None,
        plans: &plan.scenarios,
        capacity_step_s: None,
        ceiling: None,
        spans_on_this_host: true,
        defers: &[],
    })
    .expect("the figures")
}

#[test]
fn one_untraced_request_in_forty_withholds_the_completion_figures() {
    // Given the fixture as it is: 1 of the 40 traced requests reached no service (2.5 % > 1 %)
    // When its figures are computed
    let results = figures_of(&fixture());
    // Then the counts are kept, and every other completion figure is withheld with the reason
    let completion = results.scenarios["s1"]
        .completion
        .clone()
        .expect("traced requests");
    assert_eq!((completion.traced.mean, completion.untraced.mean), (40.0, 1.0));
    assert_eq!(completion.withheld_because.as_deref(), Some(NOT_PASSED_ON));
    assert_eq!((completion.p50_ms, completion.completed_fraction), (None, None));
}

#[test]
fn completed_and_still_receiving_traces_give_the_completion_beside_the_answer() {
    // Given the fixture with the missing trace found, completed like the first 36
    let dir = std::env::temp_dir().join(format!("stack-completion-{}", std::process::id()));
    let s1 = scenario_dir(&dir, 1, "s1");
    std::fs::create_dir_all(&s1).expect("a copy");
    let from = scenario_dir(&fixture(), 1, "s1");
    std::fs::copy(from.join("samples.csv.gz"), s1.join("samples.csv.gz")).expect("the samples copied");
    let mut traces = read_traces(&from.join(TRACES_FILE)).expect("the fixture's traces");
    let completed: TraceSummary = traces.values().next().cloned().expect("a trace");
    let samples = stack_study::bench::stats::Samples::read(&s1.join("samples.csv.gz")).expect("samples");
    let missing = samples
        .traced
        .iter()
        .find(|answer| !traces.contains_key(&answer.trace_id))
        .expect("the untraced request");
    traces.insert(missing.trace_id, completed);
    write_traces(&s1.join(TRACES_FILE), &traces).expect("written");
    // When its figures are computed
    let results = figures_of(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    // Then 37 of 40 completed, the 3 still receiving counted as not completed, none untraced
    let s1 = &results.scenarios["s1"];
    let completion = s1.completion.clone().expect("traced requests");
    assert_eq!(completion.withheld_because, None);
    assert_eq!(completion.untraced.mean, 0.0);
    assert_eq!(completion.completed.as_ref().map(|c| c.mean), Some(37.0));
    let fraction = completion.completed_fraction.as_ref().expect("a fraction").mean;
    assert!((fraction - 37.0 / 40.0).abs() < 1e-3, "{fraction}");
    // And the completion p50 lies among the completed ones, a little under the answer's p50 (from
    // the same intended start), and the p99 is withheld for want of 1,000 requests
    let completion_p50 = completion.p50_ms.as_ref().expect("a p50 from 40 requests").mean;
    let answer_p50 = s1
        .open_loop
        .as_ref()
        .and_then(|open| open.corrected_p50_ms.as_ref())
        .expect("the corrected p50")
        .mean;
    eprintln!("completion p50 {completion_p50} ms, answer p50 {answer_p50} ms");
    assert!(completion.at_least.is_empty(), "{:?}", completion.at_least);
    assert!(
        completion_p50 > 590.0 && completion_p50 < answer_p50,
        "{completion_p50} vs {answer_p50}"
    );
    assert_eq!(completion.p99_ms, None);
    assert!(s1.withheld.iter().any(|w| w.figure == "completion_p99_ms"));
}
