//! `stack coverage` as a reader runs it: the built binary on the committed study of two copies of
//! this system (`docs/runs/20261208T015602Z-open-versus`, 6 rounds of S5).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const STUDY: &str = "docs/runs/20261208T015602Z-open-versus";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn coverage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stack"))
        .arg("coverage")
        .arg(workspace().join(STUDY))
        .args(args)
        .output()
        .expect("stack runs")
}

#[test]
fn coverage_of_a_study_prints_each_judged_row_and_the_family() {
    // Given the committed 6-round study
    // When it is subsampled into 5-round studies
    let output = coverage(&["--rounds", "5", "--draws", "100", "--seed", "3"]);
    // Then every headline row compare judged is counted over the 100 subsets, and the family too
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for row in [
        "answer p50 ms (corrected)",
        "answer p99 ms (corrected)",
        "CPU µs/request",
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with("s5") && line.contains(row))
            .unwrap_or_else(|| panic!("no {row} row in\n{text}"));
        assert!(line.contains(" 100 "), "{line}");
    }
    assert!(
        text.contains("subsets with a row beyond the noise (Holm over the family, no minimum effect):"),
        "{text}"
    );
}

#[test]
fn coverage_refuses_subsets_smaller_than_a_verdict_needs() {
    // Given the committed study, When asked for 4-round subsets
    let output = coverage(&["--rounds", "4"]);
    // Then it refuses, and says why
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("at least 5 rounds"), "{said}");
}
