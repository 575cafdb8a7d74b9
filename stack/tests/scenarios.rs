//! The scenarios are defined once, in `stack::scenario`. These tests walk the definitions and check
//! each against the other places a scenario must be told about: the compose file (its services),
//! the k6 script (its function and its name) and the capacity plan (its SLO and steps). Adding a
//! seventh scenario is one more variant there, its handler, its function in the script and its tests;
//! whatever of that is missing, these name.

use std::path::PathBuf;

use clap::ValueEnum;
use stack_record::TargetKind;
use stack_study::{
    scenario::{CapacityPlan, Scenario},
    target::Target,
};
use stack_system::compose::Compose;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script() -> String {
    std::fs::read_to_string(root().join("k6-tests/script-sync.js")).expect("the k6 script reads")
}

fn compose() -> Compose {
    Compose::read(&root().join("docker-compose-sync.yml")).expect("the compose file reads")
}

#[test]
fn every_scenario_is_named_once_and_the_command_line_knows_it_by_that_name() {
    for scenario in Scenario::ALL {
        assert_eq!(Scenario::parse(scenario.name()), Some(scenario));
        let on_command_line = scenario.to_possible_value().expect("a value for clap");
        assert_eq!(on_command_line.get_name(), scenario.name());
        assert!(!scenario.title().is_empty(), "{scenario} has no title");
    }
    let mut titles: Vec<&str> = Scenario::ALL.iter().map(|s| s.title()).collect();
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(titles.len(), Scenario::ALL.len(), "two scenarios share a title");
}

#[test]
fn every_scenario_has_its_function_in_the_k6_script_and_is_in_its_list() {
    let script = script();
    for scenario in Scenario::ALL {
        let name = scenario.name();
        assert!(
            script.contains(&format!("export function {name}()")),
            "k6-tests/script-sync.js has no `export function {name}()`"
        );
        assert!(
            script.contains(&format!("'{name}'")),
            "k6-tests/script-sync.js does not list '{name}' among its scenarios"
        );
    }
}

#[test]
fn every_scenario_enters_by_a_published_service_and_calls_services_compose_runs() {
    let compose = compose();
    let target = Target::new(TargetKind::Local, &compose, &[]).expect("the entrypoints are published");
    for scenario in Scenario::ALL {
        let entry = scenario.entry();
        assert!(
            target.urls().contains_key(entry.service),
            "{scenario} enters by {}, which compose does not publish",
            entry.service
        );
        assert!(entry.route.starts_with('/'), "{scenario}: {}", entry.route);
        for call in scenario.downstream() {
            assert!(
                compose.services.contains_key(call.service),
                "{scenario} calls {}, which compose does not run",
                call.service
            );
        }
        assert_eq!(scenario.has_hops(), !scenario.downstream().is_empty());
    }
}

#[test]
fn every_scenario_has_an_slo_and_capacity_steps_of_rising_rate() {
    let plan = CapacityPlan::read(&root()).expect("k6-tests/capacity.json reads");
    for scenario in Scenario::ALL {
        let steps = &plan.scenarios[&scenario];
        assert!(steps.slo_p99_ms > 0.0, "{scenario}: no SLO");
        assert!(!steps.steps.is_empty(), "{scenario}: no capacity steps");
        for pair in steps.steps.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{scenario}: the rates do not rise: {pair:?}"
            );
        }
        for &(_, pre_allocated, max) in &steps.steps {
            assert!(
                pre_allocated <= max,
                "{scenario}: more VUs allocated than allowed"
            );
        }
    }
}

#[test]
fn a_capacity_step_belongs_to_its_scenario_and_to_no_other() {
    assert!(Scenario::S1.runs_as("s1"));
    assert!(Scenario::S1.runs_as(&Scenario::S1.step_name(0)));
    assert_eq!(Scenario::S3.step_name(1), "s3_step2");
    assert!(!Scenario::S1.runs_as("s1_warmup"));
    assert!(!Scenario::S1.runs_as("s10"));
    assert!(!Scenario::S6.runs_as("s1_step1"));
}
