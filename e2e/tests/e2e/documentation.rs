//! The documentation is true to the repository: every relative link in the README and under `docs/`
//! resolves inside it, the README stays short, `CITATION.cff` names the version `Cargo.toml` has, and
//! the README's sample outputs are those of the committed runs they name. Each sample is marked by
//! an HTML comment before its code block: `<!-- sample:k6 FILE -->` (every line is a line of that
//! k6 output), `<!-- sample:run docs/runs/ID -->` (the end of `./run`: each scenario's requests are
//! those of the run's results.json) and `<!-- sample:compare A B -->` (every line is printed by
//! `stack compare A B` now).

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::binaries::release_binary;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .canonicalize()
        .expect("the workspace exists")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The README and every Markdown page under `docs/` (run records' own READMEs included).
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.join("README.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("docs/ is readable") {
            let path = entry.expect("a docs entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                found.push(path);
            }
        }
    }
    found
}

/// The targets of the Markdown links `[text](target)` in `text`, outside code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves_inside_the_repository() {
    // Given the README and the pages under docs/
    let root = workspace();
    let mut broken = Vec::new();
    for document in documents(&root) {
        // When each relative link is followed from the page's folder
        let folder = document.parent().expect("a page's folder");
        for target in link_targets(&read(&document)) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let resolved = folder.join(path);
            let inside = resolved.canonicalize().map(|real| real.starts_with(&root));
            if !matches!(inside, Ok(true)) {
                broken.push(format!(
                    "{}: {target}",
                    document.strip_prefix(&root).unwrap_or(&document).display()
                ));
            }
        }
    }
    // Then every one names a file or folder of the repository
    assert!(
        broken.is_empty(),
        "links that do not resolve inside the repository:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_readme_fits_in_300_lines() {
    // Given the README
    let lines = read(&workspace().join("README.md")).lines().count();
    // Then it is at most 300 lines long
    assert!(
        lines <= 300,
        "README.md has {lines} lines; reference material goes under docs/"
    );
}

#[test]
fn citation_cff_names_the_version_and_licence_of_cargo_toml() {
    // Given CITATION.cff and the workspace's Cargo.toml
    let root = workspace();
    let citation = read(&root.join("CITATION.cff"));
    let cargo = read(&root.join("Cargo.toml"));
    let value = |text: &str, key: &str, separator: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix(separator))
            .map(|value| value.trim().trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("no {key} in {text:.60}..."))
    };
    // Then both name the same version and licence, and the LICENSE file is that licence
    assert_eq!(value(&citation, "version", ":"), value(&cargo, "version", "="));
    assert_eq!(value(&citation, "license", ":"), value(&cargo, "license", "="));
    assert!(
        read(&root.join("LICENSE")).starts_with("MIT License"),
        "LICENSE is not the MIT licence"
    );
}

/// The README's samples marked `<!-- sample:KIND ARGS -->`: (kind, arguments, the lines of the code
/// block after the marker).
fn samples(readme: &str, kind: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let marker = format!("<!-- sample:{kind} ");
    let lines: Vec<&str> = readme.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(start) = line.find(&marker) else { continue };
        let args = line[start + marker.len()..]
            .split("-->")
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let fence = lines[at..]
            .iter()
            .position(|l| l.starts_with("```"))
            .expect("a code block after the marker")
            + at;
        let block = lines[fence + 1..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
            .map(|l| l.trim_end().to_string())
            .collect();
        found.push((args, block));
    }
    assert!(!found.is_empty(), "the README has no {marker}... sample");
    found
}

/// Whether `line` of a sample is in `output`: exactly, or, where the sample elides with `...`, each
/// part in order within one line.
fn shown_in(line: &str, output: &[String]) -> bool {
    let parts: Vec<&str> = line
        .split("...")
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        return true;
    }
    output.iter().any(|candidate| {
        let mut rest = candidate.as_str();
        parts.iter().all(|part| match rest.find(part) {
            Some(at) => {
                rest = &rest[at + part.len()..];
                true
            }
            None => false,
        })
    })
}

#[test]
fn the_readmes_k6_excerpt_is_what_k6_printed_in_the_committed_run() {
    // Given the README's k6 excerpts and the k6 output each names
    let root = workspace();
    for (args, block) in samples(&read(&root.join("README.md")), "k6") {
        let output: Vec<String> = read(&root.join(&args[0]))
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect();
        // Then every line of the excerpt is a line k6 printed
        for line in block.iter().filter(|line| !line.trim().is_empty()) {
            assert!(
                shown_in(line, &output),
                "{}: k6 printed no line {line:?}",
                args[0]
            );
        }
    }
}

#[test]
fn the_readmes_run_output_has_the_committed_runs_requests() {
    // Given the README's sample of ./run's end and the committed run it names
    let root = workspace();
    for (args, block) in samples(&read(&root.join("README.md")), "run") {
        let run = &args[0];
        let id = Path::new(run)
            .file_name()
            .and_then(|name| name.to_str())
            .expect("a run id");
        let results: Value =
            serde_json::from_str(&read(&root.join(run).join("results.json"))).expect("results.json");
        // Then it names that run
        assert!(
            block.iter().any(|line| line.contains(id)),
            "the sample does not name {id}"
        );
        // And each scenario's row has the run's mean requests
        let mut rows = 0;
        for line in &block {
            let mut words = line.split_whitespace();
            let Some(name) = words
                .next()
                .filter(|word| results["scenarios"].get(word).is_some())
            else {
                continue;
            };
            let shown: f64 = words
                .next()
                .and_then(|word| word.replace(',', "").parse().ok())
                .expect("requests");
            let mean = results["scenarios"][name]["requests"]["mean"]
                .as_f64()
                .expect("requests.mean");
            assert!(
                (shown - mean).abs() < 0.005,
                "{name}: the README shows {shown} requests, {run} has {mean}"
            );
            rows += 1;
        }
        assert!(rows > 0, "the sample has no scenario row");
    }
}

#[test]
fn the_readmes_comparison_is_what_stack_compare_prints() {
    // Given the README's sample comparison of two committed runs
    let root = workspace();
    for (args, block) in samples(&read(&root.join("README.md")), "compare") {
        // When stack compare runs on them now
        let page = std::env::temp_dir().join(format!("readme-compare-{}.html", std::process::id()));
        let output = Command::new(release_binary("stack"))
            .current_dir(&root)
            .args(["compare", &args[0], &args[1], "--out"])
            .arg(&page)
            .output()
            .expect("stack compare runs");
        let _ = std::fs::remove_file(&page);
        assert!(
            output.status.success(),
            "stack compare failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect();
        // Then every line of the sample is one it printed
        for line in block.iter().filter(|line| !line.trim().is_empty()) {
            assert!(
                shown_in(line, &printed),
                "stack compare printed no line {line:?}:\n{}",
                printed.join("\n")
            );
        }
    }
}
