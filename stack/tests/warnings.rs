//! Warnings are made from the record alone, by `stack_study::warning`, once each.

use std::path::PathBuf;

use stack_record::RunRecord;
use stack_study::warning::{warnings, Warning};

fn fixture(name: &str) -> RunRecord {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runs")
        .join(name);
    RunRecord::read(&dir).expect("the fixture reads")
}

#[test]
fn a_warning_the_record_carries_and_the_analysis_makes_is_shown_once() {
    // Given a capacity run whose results.json carries the warning about its dropped iterations
    let run = fixture("sync-capacity");
    // When its warnings are made
    let made = warnings(&run);
    // Then that warning is there once, as the type the analysis makes
    assert_eq!(
        made,
        [Warning::Dropped {
            scenario: "s6".into(),
            repeat: 1,
            count: 3,
        }]
    );
}

#[test]
fn a_warning_only_the_record_carries_is_kept_as_it_is() {
    // Given a run whose record carries a warning of another tool's
    let mut run = fixture("sync-smoke");
    let results = run.results.as_mut().expect("the fixture has results");
    results.warnings.push("the broker lagged".into());
    // When its warnings are made
    let made = warnings(&run);
    // Then it is shown as recorded
    assert_eq!(made, [Warning::Recorded("the broker lagged".into())]);
}
