//! The runs the documentation quotes are in the repository: every `docs/runs/<id>` that the README
//! or a page under `docs/` names exists, is a complete record that `record` reads (or a study
//! directory whose two sides are), and every run kept
//! there is named somewhere (no orphan). A researcher can then `stack compare docs/runs/<id> ...` on
//! a fresh clone.
//!
//! Every published run must also come from a clean tree (`meta.json`'s `git.dirty` false), so that
//! its commit is the code that made it (issue 30: the runs of 2026-12-05, made from trees with
//! changes under way, were made again and replaced).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use stack_record::{read_study, RunRecord};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files a reader meets: the README and every page under `docs/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.join("README.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                found.push(path);
            }
        }
    }
    found
}

/// Every run id written as `docs/runs/<id>` in `text`.
fn cited_runs(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "docs/runs/";
    let mut ids = BTreeSet::new();
    for (start, _) in text.match_indices(PREFIX) {
        let id: String = text[start + PREFIX.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        // `docs/runs/<id>/` written as a pattern is not a citation.
        if !id.is_empty() {
            ids.insert(id);
        }
    }
    ids
}

#[test]
fn every_cited_run_is_in_the_repository_and_reads_as_a_complete_record() {
    // Given the README and the pages under docs/
    let root = workspace();
    let mut cited = BTreeSet::new();
    for document in documents(&root) {
        let text = std::fs::read_to_string(&document).expect("a readable Markdown file");
        cited.extend(cited_runs(&text));
    }
    assert!(!cited.is_empty(), "the documentation cites no committed run");

    // When each cited run is read (a study's two sides each as a run)
    for id in &cited {
        for (name, dir) in records_in(&root.join("docs/runs").join(id), id) {
            assert_complete(&name, &dir);
        }
    }
}

/// The records under a cited folder: itself, or a study's two sides (`study.json`'s `a` and `b`).
fn records_in(dir: &Path, id: &str) -> Vec<(String, PathBuf)> {
    if !dir.join("study.json").is_file() {
        return vec![(format!("docs/runs/{id}"), dir.to_path_buf())];
    }
    let study = read_study(dir).unwrap_or_else(|err| panic!("docs/runs/{id} is cited but: {err:#}"));
    assert!(!study.rounds.is_empty(), "docs/runs/{id} has no round");
    [study.a, study.b]
        .into_iter()
        .map(|side| (format!("docs/runs/{id}/{side}"), dir.join(side)))
        .collect()
}

/// Then each is complete: it ended, and has its figures and its resource samples, and it was made
/// from a clean tree at a known commit.
fn assert_complete(name: &str, dir: &Path) {
    let run = RunRecord::read(dir).unwrap_or_else(|err| panic!("{name} is cited but: {err:#}"));
    assert!(run.meta.ended_at.is_some(), "{name} never ended");
    assert!(run.meta.git.commit.is_some(), "{name} has no commit");
    assert_eq!(
        run.meta.git.dirty,
        Some(false),
        "{name} was made from a tree with uncommitted changes (git.dirty): make it again from a clean one"
    );
    let results = run
        .results
        .unwrap_or_else(|| panic!("{name} has no results.json"));
    assert!(!results.scenarios.is_empty(), "{name} has no scenario");
    assert!(!run.resources.is_empty(), "{name} has no resources.csv rows");
}

#[test]
fn every_committed_run_is_cited() {
    // Given the runs kept under docs/runs
    let root = workspace();
    let mut cited = BTreeSet::new();
    for document in documents(&root) {
        cited.extend(cited_runs(
            &std::fs::read_to_string(&document).unwrap_or_default(),
        ));
    }
    let kept: BTreeSet<String> = std::fs::read_dir(root.join("docs/runs"))
        .expect("docs/runs")
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();

    // Then each is named by the documentation, so none is kept without a reason
    let orphans: Vec<_> = kept.difference(&cited).collect();
    assert!(orphans.is_empty(), "runs no document cites: {orphans:?}");
}
