//! The warm-up before each measured run, with the real k6: one that k6 could not run stops the bench
//! with an error naming its scenario, while one that merely crossed a threshold does not.

use std::{collections::BTreeMap, path::PathBuf};

use stack_study::bench::{
    k6::{self, Invocation},
    sampler::Sampler,
};

/// A k6 script of `text` in a folder of its own.
fn script(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stack-warmup-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("script.js");
    std::fs::write(&path, text).expect("the script");
    path
}

async fn warm_up(script: PathBuf, scenario: &str) -> anyhow::Result<()> {
    let k6 = k6::binary().expect("k6 is installed");
    let urls = BTreeMap::new();
    let go_runtime = k6::go_runtime(None);
    let invocation = Invocation {
        k6: &k6,
        script,
        profile: "baseline",
        urls: &urls,
        env: Vec::new(),
        cpus: None,
        go_runtime: &go_runtime,
    };
    let sampler = Sampler::start(Vec::new(), None);
    invocation.warm_up(scenario, 1.0, &sampler).await
}

#[tokio::test]
async fn a_warm_up_k6_cannot_run_is_an_error_naming_its_scenario() {
    // Given a script that throws while k6 loads it
    let broken = script("broken", "throw new Error('broken on purpose');\n");
    // When s5's warm-up runs it
    let err = warm_up(broken, "s5")
        .await
        .expect_err("a warm-up k6 could not run is an error");
    // Then the error says the warm-up of s5 failed, and how k6 exited
    let message = format!("{err:#}");
    assert!(message.contains("the warm-up of s5 failed"), "{message}");
    assert!(message.contains("exit status"), "{message}");
}

#[tokio::test]
async fn a_warm_up_that_only_crosses_a_threshold_goes_on() {
    // Given a script whose one iteration fails the check its threshold requires, which k6 itself
    // runs to the end and then fails with its exit code for a crossed threshold (99)
    let crossing = script(
        "threshold",
        "import { check } from 'k6';\n\
         export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };\n\
         export default function () { check(1, { 'fails on purpose': () => false }); }\n",
    );
    let k6 = k6::binary().expect("k6 is installed");
    let plain = std::process::Command::new(&k6)
        .args(["run", "-q", "--no-summary"])
        .arg(&crossing)
        .status()
        .expect("k6 runs");
    assert_eq!(plain.code(), Some(k6::THRESHOLDS_CROSSED), "k6 run: {plain}");
    // When s3's warm-up runs it
    let warmed = warm_up(crossing, "s3").await;
    // Then the bench goes on to the measured run
    assert!(
        warmed.is_ok(),
        "a crossed threshold in a warm-up is not a failure: {warmed:?}"
    );
}
