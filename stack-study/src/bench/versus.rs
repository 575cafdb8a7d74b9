//! `stack bench --versus <target> --rounds N`: two systems measured in turns, so that whatever
//! drifts over the study (the machine's load, the time of day) falls on both alike.
//!
//! Each round is one repeat of every selected scenario on side A and one on side B, the two in an
//! order drawn per round from the study's seed; within a repeat the scenarios run in the order drawn
//! from the same seed on both sides, so round r of A and round r of B are a pair. Each side's runs
//! form a complete record of their own (`<study>/a/`, `<study>/b/`, repeat r = round r) and
//! `<study>/study.json` says which side ran first in each round. While one side is measured the other
//! is up and meant to be idle: its CPU over each measured run is recorded in the measured side's
//! `meta.json` (`runs[].idle_system_cpu_percent`) where its processes can be read on this machine
//! (a local system, compose's containers, or a system behind URLs watched by `--watch NAME=pid:N`).
//!
//! Both systems are up at once, so at most one of them can be the one on the compose file's ports
//! (`local` or `compose`): the other is given by URLs (`--versus urls --versus-url ...`, or
//! `--target urls` with `--versus local`).

use std::{path::Path, process::ExitCode};

use anyhow::{ensure, Context, Result};
use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{pinning, print_summary, sampler::Source, system_roots, Bench, BenchRun, RecordUnderWay};
use stack_record::{self as record, pinning::CpuPinning, Study, TargetKind, STUDY_FORMAT_VERSION};
use stack_system::{
    compose::Compose,
    proc::{ProcessSet, K6},
    System,
};

use crate::target::Target;

/// The other side of a `--versus` study.
#[derive(Debug, Clone)]
pub struct Versus {
    pub target: Target,
    /// Which implementation side B is, for its record.
    pub implementation: String,
    /// Which answers of side B count as accepted (`--versus-contract`).
    pub contract: super::contract::Contract,
}

/// The two sides' names, as `study.json` and the study's folders name them.
const SIDES: [&str; 2] = ["a", "b"];

impl Bench {
    /// The two sides' benches: this one and `versus`'s, each with its own target, implementation and
    /// contract, and each record saying what was pinned of it (the system CPUs only where it is the
    /// local one).
    fn sides(&self, versus: &Versus) -> [Bench; 2] {
        let pinning_of = |target: &Target| CpuPinning {
            system: self
                .cpus
                .system
                .clone()
                .filter(|_| target.kind() == TargetKind::Local),
            ..self.cpus.clone()
        };
        let a = Bench {
            cpus: pinning_of(&self.target),
            ..self.clone()
        };
        let b = Bench {
            target: versus.target.clone(),
            implementation: versus.implementation.clone(),
            contract: versus.contract.clone(),
            cpus: pinning_of(&versus.target),
            ..self.clone()
        };
        [a, b]
    }

    /// Runs this bench (side A) and `versus` (side B) in `self.repeat` rounds; writes the study
    /// under `root/results/`.
    pub async fn run_versus(&self, versus: &Versus, root: &Path, compose: &Compose) -> Result<ExitCode> {
        let on_compose_ports = |kind: TargetKind| kind != TargetKind::Urls;
        ensure!(
            !(on_compose_ports(self.target.kind()) && on_compose_ports(versus.target.kind())),
            "--versus: a local or compose system takes the compose file's ports 8001-8010, so only one \
             side can be one; give the other by URLs (--versus urls --versus-url SERVICE=URL ..., or \
             --target urls --url ... --versus local)"
        );
        ensure!(
            self.cpus.system.is_none()
                || [self.target.kind(), versus.target.kind()].contains(&TargetKind::Local),
            "--cpus system= pins a local system only, and neither side is one"
        );
        let [a, b] = self.sides(versus);
        let started_at = super::provenance::now_rfc3339();
        let study_id = format!(
            "{}-{}-versus",
            super::provenance::compact(&started_at),
            self.profile.name()
        );
        let study_dir = root.join("results").join(&study_id);
        // One receiver for both sides: they take turns, and each run takes its traces after its drain.
        let receiver = super::start_trace_receiver(self, &[&self.target, &b.target]).await?;
        let bench_runs = [
            BenchRun::begin_in(
                &a,
                root,
                study_dir.join(SIDES[0]),
                format!("{study_id}-a"),
                receiver.clone(),
            )?,
            BenchRun::begin_in(
                &b,
                root,
                study_dir.join(SIDES[1]),
                format!("{study_id}-b"),
                receiver.clone(),
            )?,
        ];
        let mut local = if [self.target.kind(), b.target.kind()].contains(&TargetKind::Local) {
            let env = super::trace_export_env(&receiver);
            let system = System::up_with_env(root, compose, self.no_build, 0, &env).await?;
            system.print_table();
            Some(system)
        } else {
            None
        };
        let outcome = self.rounds(&bench_runs, &mut local, compose, &study_dir).await;
        let stopped = match local {
            Some(system) => system.down().await,
            None => Ok(ExitCode::SUCCESS),
        };
        let results = outcome?;
        println!("\nstudy: {}", study_dir.display());
        let mut passed = true;
        for (bench_run, results) in bench_runs.iter().zip(&results) {
            println!(
                "\n{}: {}",
                bench_run.bench.implementation,
                bench_run.dir.display()
            );
            print_summary(results);
            match crate::report::write_report(&bench_run.dir) {
                Ok(report) => println!("report: {}", report.display()),
                Err(err) => eprintln!("stack: the report could not be written: {err:#}"),
            }
            passed &= results.thresholds.passed;
        }
        if !passed {
            eprintln!("stack: k6 reported crossed thresholds (see each side's summary)");
            return Ok(ExitCode::FAILURE);
        }
        stopped
    }

    /// The rounds themselves, `study.json` rewritten after each; each side's results. The local
    /// system, if a side is one, is restarted before every round but the first (unless
    /// `--keep-processes`), before either side runs.
    async fn rounds(
        &self,
        bench_runs: &[BenchRun<'_>; 2],
        local: &mut Option<System>,
        compose: &Compose,
        study_dir: &Path,
    ) -> Result<Vec<stack_record::Results>> {
        // The side whose system `stack` started pins it, and restarts it pinned, as its record says.
        let local_side = usize::from(bench_runs[1].bench.target.kind() == TargetKind::Local);
        if let (Some(system), Some(cpus)) = (local.as_ref(), &bench_runs[local_side].bench.cpus.system) {
            pinning::pin_trees(&system_roots(system), cpus)
                .with_context(|| format!("pinning the system to CPUs {cpus}"))?;
        }
        let mut processes = [0, 1].map(|side| {
            idle_processes(
                &bench_runs[side].bench.target,
                local_of(&bench_runs[side], local.as_ref()),
            )
        });
        let mut under_way = [
            RecordUnderWay::start(&bench_runs[0], local_of(&bench_runs[0], local.as_ref()), compose).await?,
            RecordUnderWay::start(&bench_runs[1], local_of(&bench_runs[1], local.as_ref()), compose).await?,
        ];
        let mut study = Study {
            format_version: STUDY_FORMAT_VERSION,
            seed: self.seed,
            rounds: Vec::new(),
            a: SIDES[0].to_owned(),
            b: SIDES[1].to_owned(),
        };
        let mut rng = round_rng(self.seed);
        for round in 1..=self.repeat {
            // The local system, either side's, is restarted once per round, with both samplers paused.
            let mut restart_ms = None;
            if bench_runs[local_side].restart_due(round, local.as_ref()) {
                for record in &under_way {
                    record.pause_sampling().await;
                }
                restart_ms = Some(bench_runs[local_side].restart(round, local, compose).await?);
            }
            for side in [0, 1] {
                let system = local_of(&bench_runs[side], local.as_ref());
                if restart_ms.is_some() && system.is_some() {
                    under_way[side].renew(system, compose).await?;
                    processes[side] = idle_processes(&bench_runs[side].bench.target, system);
                }
                under_way[side].note_processes(round, system, restart_ms.filter(|_| system.is_some()));
            }
            let mut order = [0, 1];
            order.shuffle(&mut rng);
            study
                .rounds
                .push(order.iter().map(|side| SIDES[*side].to_owned()).collect());
            record::write_study(study_dir, &study)?;
            for side in order {
                let other = 1 - side;
                eprintln!(
                    "stack: round {round}/{}: side {} ({})",
                    self.repeat, SIDES[side], bench_runs[side].bench.implementation
                );
                under_way[side]
                    .repeat(round, processes[other].as_deref())
                    .await
                    .with_context(|| format!("side {} in round {round}", SIDES[side]))?;
            }
        }
        let [a, b] = under_way;
        Ok(vec![a.finish()?, b.finish()?])
    }
}

/// `local` if `bench_run`'s side is the local system, else `None`.
fn local_of<'s>(bench_run: &BenchRun<'_>, local: Option<&'s System>) -> Option<&'s System> {
    (bench_run.bench.target.kind() == TargetKind::Local)
        .then_some(local)
        .flatten()
}

/// The generator of the rounds' order: ChaCha8 from the study's seed, on a stream of its own so it
/// draws independently of the scenario orders drawn from the same seed.
fn round_rng(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    rng
}

/// A side's system as process sets this machine can read, for its CPU while the other side runs:
/// a local system's services and postmaster, compose's containers, what `--watch` names by pid
/// behind URLs; `None` otherwise.
fn idle_processes(target: &Target, system: Option<&System>) -> Option<Vec<ProcessSet>> {
    match (target, system) {
        (Target::Local { .. }, Some(system)) => {
            Some(system_roots(system).into_iter().map(ProcessSet::Tree).collect())
        }
        (Target::Compose { docker, .. }, _) => {
            let names: Vec<String> = target
                .watched(None)
                .into_iter()
                .filter(|(name, _)| name != K6)
                .map(|(name, _)| name)
                .collect();
            let output = std::process::Command::new(docker)
                .args(["inspect", "--format", "{{.State.Pid}}"])
                .args(&names)
                .output()
                .ok()?;
            let pids: Vec<ProcessSet> = String::from_utf8_lossy(&output.stdout)
                .split_whitespace()
                .filter_map(|pid| pid.parse::<u32>().ok())
                .filter(|pid| *pid > 0)
                .map(ProcessSet::Tree)
                .collect();
            (!pids.is_empty()).then_some(pids)
        }
        (Target::Urls { watch, .. }, _) => {
            let trees: Vec<ProcessSet> = watch
                .iter()
                .filter_map(|(_, source)| match source {
                    Source::Processes(ProcessSet::Tree(pid)) => Some(ProcessSet::Tree(*pid)),
                    _ => None,
                })
                .collect();
            (!trees.is_empty()).then_some(trees)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_round_orders_and_both_orders_occur() {
        let draw = |seed| {
            let mut rng = round_rng(seed);
            (0..12)
                .map(|_| {
                    let mut order = [0, 1];
                    order.shuffle(&mut rng);
                    order
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        let rounds = draw(9);
        assert!(rounds.contains(&[0, 1]) && rounds.contains(&[1, 0]), "{rounds:?}");
    }
}
