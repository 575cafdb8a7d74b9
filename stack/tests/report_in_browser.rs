//! The report and the comparison as a person sees them: rendered by Debian's headless chromium.
//!
//! Each test writes a page from run directories in the documented format (`tests/fixtures/runs/`),
//! opens it from disk in chromium through `tests/browser/render.mjs` (playwright-core over the
//! DevTools protocol), and fails on any console error or warning, any uncaught exception, any
//! request for anything but the page itself (the page must open offline), or a chart that did not
//! draw. The screenshot is kept in `target/report-screenshots/`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures/runs").join(name)
}

/// A copy of a fixture run in a fresh folder, so the report is written beside it and not into git.
fn copy_of(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stack-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    for entry in std::fs::read_dir(fixture(name)).expect("the fixture exists") {
        let entry = entry.expect("a fixture file");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copying the fixture");
        }
    }
    dir
}

/// What the browser saw, as printed by render.mjs.
struct Rendering {
    charts: u64,
    outcome: Value,
    passed: bool,
    screenshot: PathBuf,
}

/// Opens `page` in headless chromium; panics with the install command if a part is missing.
fn render_in_chromium(page: &Path, screenshot_name: &str) -> Rendering {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    assert!(
        Path::new(&chromium).is_file(),
        "no chromium at {chromium}: install it with `apt-get install chromium` (./test does), \
         or set CHROMIUM to its path"
    );
    let browser_dir = crate_dir().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: ./test installs it (`npm ci --prefix stack/tests/browser`, \
         with Node.js 20 from npm in .tools/node/bin: Debian 12's nodejs is 18)"
    );
    let screenshots = crate_dir().join("../target/report-screenshots");
    std::fs::create_dir_all(&screenshots).expect("the screenshot folder");
    let screenshot = screenshots.join(screenshot_name);
    // The page beside its picture, to open by hand.
    let _ = std::fs::copy(page, screenshot.with_extension("html"));
    let output = Command::new("node")
        .arg(browser_dir.join("render.mjs"))
        .arg(page)
        .arg(&screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs (./test installs Node.js 20 into .tools/node/bin; put it on the PATH)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcome: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!(
                "render.mjs printed no outcome; stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    eprintln!(
        "{}: {outcome}\nscreenshot: {}",
        page.display(),
        screenshot.display()
    );
    Rendering {
        charts: outcome["charts"].as_u64().unwrap_or(0),
        passed: output.status.success(),
        outcome,
        screenshot,
    }
}

fn assert_clean(rendering: &Rendering, at_least_charts: u64) {
    assert!(
        rendering.passed,
        "the browser saw a problem: {}",
        rendering.outcome
    );
    assert!(
        rendering.charts >= at_least_charts,
        "{} charts drawn, expected at least {at_least_charts}: {}",
        rendering.charts,
        rendering.outcome
    );
    assert!(
        rendering.screenshot.is_file(),
        "no screenshot at {}",
        rendering.screenshot.display()
    );
}

#[test]
fn a_run_report_draws_every_chart_offline_without_errors() {
    // Given a run with six scenarios, two repeats and twelve sampled processes
    let run = copy_of("sync-smoke");
    // When its report is written and opened in chromium
    let page = stack_study::report::write_report(&run).expect("the report is written");
    let rendering = render_in_chromium(&page, "report.png");
    // Then three charts per scenario and one per process drew, with no error and no request
    assert_clean(&rendering, 6 * 3 + 12);
    let _ = std::fs::remove_dir_all(&run);
}

#[test]
fn a_capacity_report_draws_the_offered_against_achieved_curve() {
    // Given a capacity run of S6 with its rate ladder
    let run = copy_of("sync-capacity");
    // When its report is written and opened in chromium
    let page = stack_study::report::write_report(&run).expect("the report is written");
    let rendering = render_in_chromium(&page, "report-capacity.png");
    // Then the scenario's two charts (no pooled percentile plot: it would mix the steps' loads), the
    // capacity curve, the offered, achieved and backlog per second, and the processes drew
    assert_clean(&rendering, 2 + 2 + 12);
    let html = std::fs::read_to_string(&page).expect("the report reads");
    assert!(html.contains("capacity"), "the page names the capacity section");
    let _ = std::fs::remove_dir_all(&run);
}

#[test]
fn a_comparison_overlays_both_runs_and_names_the_scenarios_only_one_has() {
    // Given two runs of different implementations, B without S4
    let out = std::env::temp_dir().join(format!("stack-browser-compare-{}.html", std::process::id()));
    // When they are compared and the page is opened in chromium
    let options = stack_study::compare::CompareOptions {
        out: out.clone(),
        criteria: Default::default(),
        // The fixtures were made on different machines with different warm-ups.
        allow_mismatch: true,
        allow_target_kinds: false,
    };
    let comparison =
        stack_study::compare::compare_runs(&fixture("sync-smoke"), &fixture("broker-smoke"), &options)
            .expect("the runs compare");
    let rendering = render_in_chromium(&out, "compare.png");
    // Then the five shared scenarios each drew two charts, and S4 is listed as only in A
    assert_clean(&rendering, 5 * 2);
    assert_eq!(comparison.only_in_a, vec!["s4".to_string()]);
    assert!(comparison.to_string().contains("only in A (not compared): s4"));
    let _ = std::fs::remove_file(&out);
}
