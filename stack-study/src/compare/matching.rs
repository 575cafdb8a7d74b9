//! Whether two records were made the same way, so that what differs between them is the systems.
//!
//! A comparison is only about the implementations when the load, the warm-up, the generator, the
//! machine and the starting state were the same on both sides. [`mismatches`] lists every way two
//! records' `meta.json` differ in those; the comparison refuses them ([`refusal`]) unless told to go
//! on, and then carries the list so that the table and the page say it first. What may differ
//! (the implementation, its commit, the time, the number of repeats, the command line) is not checked.
//!
//! The files that shape the load are compared by content (the script's and `capacity.json`'s
//! SHA-256), the database by the settings the bench read from it, the generator by its calibrated
//! ceilings and the Go runtime settings it ran with. The target's kind is checked too, but a study
//! of a local system against one behind URLs is a legitimate design: `--allow-target-kinds` lets
//! that difference through, with the system's pinning that follows from it (`stack` pins only a
//! system it starts), still shown ([`refused`]).

use std::collections::BTreeSet;

use stack_record::{
    ceiling::CeilingFile, database::PostgresSettings, pinning::CpuPinning, DbReset, Meta, TargetKind,
};

use crate::page::number;

/// Memory totals of one machine differ by a little from boot to boot (what the kernel reserves):
/// within this fraction they are the same machine.
const MEMORY_TOLERANCE: f64 = 0.01;

/// One way in which the two records were made differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What differs, as a reader would name it.
    pub what: &'static str,
    pub a: String,
    pub b: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: A {}, B {}", self.what, self.a, self.b)
    }
}

/// What the target-kind mismatch is called: the one `--allow-target-kinds` lets through.
pub const TARGET_KIND: &str = "target kind";
/// The system's CPUs: `stack` pins only a system it starts, so two target kinds differ here too.
pub const SYSTEM_PINNING: &str = "system CPU pinning";

/// Every difference between the two records that would make their figures incomparable.
pub fn mismatches(a: &Meta, b: &Meta) -> Vec<Mismatch> {
    let mut found = input_mismatches(a, b);
    let mut check = |what: &'static str, a: String, b: String| {
        if a != b {
            found.push(Mismatch { what, a, b });
        }
    };
    check("profile", a.profile.clone(), b.profile.clone());
    // Since the order of the scenarios is a design choice of its own, only the set must agree.
    let scenarios = |meta: &Meta| {
        let set: BTreeSet<&String> = meta.scenarios.iter().collect();
        set.into_iter().cloned().collect::<Vec<_>>().join(",")
    };
    check("scenarios", scenarios(a), scenarios(b));
    check(
        "warm-up",
        format!("{} s", number(a.warmup_s)),
        format!("{} s", number(b.warmup_s)),
    );
    let k6 = |meta: &Meta| meta.versions.k6.clone().unwrap_or_else(|| "unknown".into());
    check("k6 version", k6(a), k6(b));
    check(
        "database reset",
        reset(a.db_reset).into(),
        reset(b.db_reset).into(),
    );
    check(
        "fixed-work S4 reports",
        option(a.options.s4_reports),
        option(b.options.s4_reports),
    );
    check(
        "capacity step seconds",
        option(a.options.capacity_step_s),
        option(b.options.capacity_step_s),
    );
    check(
        "VU margin",
        option(a.options.vu_margin),
        option(b.options.vu_margin),
    );
    // Each traced request costs the system its spans' export: a cost both sides must share. The
    // contracts may differ: they are each implementation's own.
    check(
        "traced fraction",
        option(a.options.trace_sample),
        option(b.options.trace_sample),
    );
    // An older record did not pin: the same as a record pinned on neither side.
    let pinned = |meta: &Meta, side: fn(&CpuPinning) -> &Option<String>| {
        let cpus = meta.cpus.clone().unwrap_or_default();
        side(&cpus).clone().unwrap_or_else(|| "free".into())
    };
    check(
        "generator CPU pinning",
        pinned(a, |cpus| &cpus.generator),
        pinned(b, |cpus| &cpus.generator),
    );
    check(
        SYSTEM_PINNING,
        pinned(a, |cpus| &cpus.system),
        pinned(b, |cpus| &cpus.system),
    );
    // k6's lag depends on its Go runtime (docs/generator.md); an older record ran Go's defaults.
    let go_runtime = |meta: &Meta| match &meta.generator_runtime {
        Some(settings) if !settings.is_empty() => settings
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "Go's defaults".to_owned(),
    };
    check("generator Go runtime", go_runtime(a), go_runtime(b));
    found.extend(machine_mismatches(&a.machine, &b.machine));
    found.extend(postgres_mismatches(
        a.postgres_settings.as_ref(),
        b.postgres_settings.as_ref(),
    ));
    found
}

/// How the two machines differ: cores, CPU model, kernel, memory (beyond [`MEMORY_TOLERANCE`]).
fn machine_mismatches(a: &stack_record::Machine, b: &stack_record::Machine) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let mut check = |what: &'static str, a: String, b: String| {
        if a != b {
            found.push(Mismatch { what, a, b });
        }
    };
    check("machine cores", a.cores.to_string(), b.cores.to_string());
    check("machine CPU model", a.cpu_model.clone(), b.cpu_model.clone());
    check("machine kernel", a.kernel.clone(), b.kernel.clone());
    let (memory_a, memory_b) = (a.memory_bytes as f64, b.memory_bytes as f64);
    if (memory_a - memory_b).abs() > MEMORY_TOLERANCE * memory_a.max(memory_b) {
        check("machine memory", gib(memory_a), gib(memory_b));
    }
    found
}

/// How the two records differ in what they drove and in the files and generator that made the
/// load: the target's kind, the script, the capacity plan, the generator's calibrated ceiling.
fn input_mismatches(a: &Meta, b: &Meta) -> Vec<Mismatch> {
    let mut found = Vec::new();
    let mut check = |what: &'static str, a: String, b: String| {
        if a != b {
            found.push(Mismatch { what, a, b });
        }
    };
    check(
        TARGET_KIND,
        target_kind(a.target.kind).into(),
        target_kind(b.target.kind).into(),
    );
    let script = |meta: &Meta| {
        meta.script_files
            .as_ref()
            .map_or_else(|| NOT_RECORDED.into(), |files| short_hash(&files.script_sha256))
    };
    check("k6 script (sha256)", script(a), script(b));
    let plan = |meta: &Meta| {
        meta.script_files
            .as_ref()
            .map_or_else(|| NOT_RECORDED.into(), |files| short_hash(&files.capacity_sha256))
    };
    check("capacity.json (sha256)", plan(a), plan(b));
    check(
        "generator ceiling",
        ceilings(a.generator_ceiling.as_ref()),
        ceilings(b.generator_ceiling.as_ref()),
    );
    found
}

/// The mismatches a comparison refuses: all of them, but, where `allow_target_kinds`
/// (`--allow-target-kinds`), the target kind's, and the system's pinning where the kinds differ
/// (a system given by URLs is not pinned by `stack`; a local one is).
pub fn refused(mismatches: &[Mismatch], allow_target_kinds: bool) -> Vec<Mismatch> {
    let kinds_differ = mismatches.iter().any(|mismatch| mismatch.what == TARGET_KIND);
    let follows_the_kind = |mismatch: &Mismatch| {
        mismatch.what == TARGET_KIND || (kinds_differ && mismatch.what == SYSTEM_PINNING)
    };
    mismatches
        .iter()
        .filter(|mismatch| !(allow_target_kinds && follows_the_kind(mismatch)))
        .cloned()
        .collect()
}

/// What a record that predates a field says of it.
const NOT_RECORDED: &str = "not recorded";

/// Each PostgreSQL setting the two records read differently, by name; one mismatch where only one
/// side could read its database's settings.
fn postgres_mismatches(a: Option<&PostgresSettings>, b: Option<&PostgresSettings>) -> Vec<Mismatch> {
    let known = |side: Option<&PostgresSettings>| if side.is_some() { "read" } else { "not read" };
    let (Some(a), Some(b)) = (a, b) else {
        return if a.is_some() != b.is_some() {
            vec![Mismatch {
                what: "PostgreSQL settings",
                a: known(a).into(),
                b: known(b).into(),
            }]
        } else {
            Vec::new()
        };
    };
    let fields = |settings: &PostgresSettings| match serde_json::to_value(settings) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    let (fields_a, fields_b) = (fields(a), fields(b));
    fields_a
        .iter()
        .filter(|(name, value)| fields_b.get(*name) != Some(value))
        .map(|(name, value)| Mismatch {
            what: "PostgreSQL setting",
            a: format!("{name} = {value}"),
            b: format!(
                "{name} = {}",
                fields_b
                    .get(name)
                    .map_or_else(|| "absent".into(), ToString::to_string)
            ),
        })
        .collect()
}

/// The generator's calibrated ceiling per scenario (`stack calibrate`), or that it was not.
fn ceilings(file: Option<&CeilingFile>) -> String {
    let Some(file) = file else {
        return "not calibrated".into();
    };
    let each: Vec<String> = file
        .scenarios
        .iter()
        .map(|(scenario, ceiling)| match ceiling.ceiling_per_s {
            Some(rate) if ceiling.at_least => format!("{scenario} at least {}/s", number(rate)),
            Some(rate) => format!("{scenario} {}/s", number(rate)),
            None => format!("{scenario} none"),
        })
        .collect();
    each.join(", ")
}

/// The first 12 hex digits: enough to tell two files apart in a sentence.
fn short_hash(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

fn target_kind(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Local => "local",
        TargetKind::Compose => "compose",
        TargetKind::Urls => "urls",
    }
}

/// The error of a refused comparison: every difference, and how to go on anyway.
pub fn refusal(mismatches: &[Mismatch]) -> String {
    let mut text = String::from(
        "the two records were not made the same way, so a difference between them need not be the \
         systems':",
    );
    for mismatch in mismatches {
        text.push_str("\n  - ");
        text.push_str(&mismatch.to_string());
    }
    text.push_str("\ncompare them anyway with --allow-mismatch: the table and the page are then marked");
    if mismatches.iter().any(|mismatch| mismatch.what == TARGET_KIND) {
        text.push_str(
            "\n(--allow-target-kinds lets the target kind alone differ, with the system's pinning that \
             follows it, as a study of a local system against one behind URLs must)",
        );
    }
    text
}

fn reset(reset: DbReset) -> &'static str {
    match reset {
        DbReset::Sql => "sql",
        DbReset::ComposeExec => "compose-exec",
        DbReset::None => "none",
    }
}

fn gib(bytes: f64) -> String {
    format!("{} GiB", number(bytes / (1024.0 * 1024.0 * 1024.0)))
}

fn option<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "not set".into(), |value| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stack_record::{RunRecord, ScriptFiles};

    fn committed_run() -> Meta {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs/20261208T011305Z-smoke");
        RunRecord::read(&dir).expect("the committed run reads").meta
    }

    #[test]
    fn records_made_the_same_way_have_no_mismatch() {
        let a = committed_run();
        let mut b = a.clone();
        b.run_id = "another".into();
        b.implementation = "broker".into();
        b.repeats = 5;
        b.scenarios.reverse();
        assert_eq!(mismatches(&a, &b), vec![]);
    }

    #[test]
    fn a_memory_total_that_moved_by_less_than_one_percent_is_the_same_machine() {
        let a = committed_run();
        let mut b = a.clone();
        b.machine.memory_bytes += a.machine.memory_bytes / 1000;
        assert_eq!(mismatches(&a, &b), vec![]);
    }

    #[test]
    fn twice_the_memory_is_another_machine() {
        let a = committed_run();
        let mut b = a.clone();
        b.machine.memory_bytes *= 2;
        let found = mismatches(&a, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].what, "machine memory");
    }

    #[test]
    fn another_target_kind_is_refused_unless_target_kinds_are_allowed_and_then_still_shown() {
        // Given a local record and the same made behind URLs
        let a = committed_run();
        let mut b = a.clone();
        b.target.kind = TargetKind::Urls;
        // Then it is a mismatch, refused by default and let through by --allow-target-kinds
        let found = mismatches(&a, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].to_string(), "target kind: A local, B urls");
        assert_eq!(refused(&found, false), found);
        assert_eq!(refused(&found, true), vec![]);
        assert!(refusal(&found).contains("--allow-target-kinds"));
    }

    #[test]
    fn a_systems_pinning_that_follows_its_target_kind_is_allowed_with_the_kind_alone() {
        // Given a local record pinned on both sides and one of a system behind URLs, which stack
        // does not pin
        let mut a = committed_run();
        a.cpus = Some(CpuPinning {
            generator: Some("1".into()),
            system: Some("0".into()),
            auto: true,
        });
        let mut b = a.clone();
        b.target.kind = TargetKind::Urls;
        b.cpus = Some(CpuPinning {
            system: None,
            ..a.cpus.clone().unwrap_or_default()
        });
        // Then both differences are shown, and --allow-target-kinds lets both through
        let found = mismatches(&a, &b);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found
            .iter()
            .any(|m| m.to_string() == "system CPU pinning: A 0, B free"));
        assert_eq!(refused(&found, true), vec![]);
    }

    #[test]
    fn a_generator_run_with_other_go_runtime_settings_is_a_mismatch() {
        // Given a record made before stack set k6's Go runtime and one made after
        let mut a = committed_run();
        a.generator_runtime = None;
        let mut b = a.clone();
        b.generator_runtime = Some(std::collections::BTreeMap::from([
            ("GOGC".to_owned(), "off".to_owned()),
            ("GOMAXPROCS".to_owned(), "2".to_owned()),
        ]));
        // Then the difference is named, Go's defaults against the settings
        let found = mismatches(&a, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "generator Go runtime: A Go's defaults, B GOGC=off GOMAXPROCS=2"
        );
    }

    #[test]
    fn a_systems_pinning_alone_is_refused_even_with_target_kinds_allowed() {
        // Given two local records, one with its system pinned and one not
        let mut a = committed_run();
        a.cpus = Some(CpuPinning {
            generator: Some("1".into()),
            system: None,
            auto: false,
        });
        let mut b = a.clone();
        b.cpus = Some(CpuPinning {
            system: Some("0".into()),
            ..a.cpus.clone().unwrap_or_default()
        });
        // Then the difference is refused: the kinds are the same, so the pinning is a choice
        let found = mismatches(&a, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(refused(&found, true), found);
    }

    #[test]
    fn another_script_or_capacity_plan_is_a_mismatch_by_content() {
        let mut a = committed_run();
        a.script_files = Some(ScriptFiles {
            script_sha256: "a".repeat(64),
            capacity_sha256: "c".repeat(64),
        });
        let mut b = a.clone();
        b.script_files = Some(ScriptFiles {
            script_sha256: "b".repeat(64),
            capacity_sha256: "d".repeat(64),
        });
        let found = mismatches(&a, &b);
        let what: Vec<&str> = found.iter().map(|m| m.what).collect();
        assert_eq!(what, ["k6 script (sha256)", "capacity.json (sha256)"]);
        assert_eq!(found[0].a, "a".repeat(12));
        // and a record that predates the hashes cannot be said to match one that has them
        b.script_files = None;
        assert_eq!(mismatches(&a, &b)[0].b, NOT_RECORDED);
    }

    #[test]
    fn each_postgresql_setting_that_differs_is_named_with_both_values() {
        let a = committed_run();
        assert!(
            a.postgres_settings.is_some(),
            "the committed run read its settings"
        );
        let mut b = a.clone();
        if let Some(settings) = b.postgres_settings.as_mut() {
            settings.fsync = !settings.fsync;
            settings.shared_buffers_bytes *= 2;
        }
        let found = mismatches(&a, &b);
        let named: Vec<String> = found.iter().map(|m| m.b.clone()).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(named.iter().any(|b| b.starts_with("fsync = ")), "{named:?}");
        assert!(
            named.iter().any(|b| b.starts_with("shared_buffers_bytes = ")),
            "{named:?}"
        );
        b.postgres_settings = None;
        assert_eq!(
            mismatches(&a, &b)[0].to_string(),
            "PostgreSQL settings: A read, B not read"
        );
    }

    #[test]
    fn another_generator_ceiling_is_a_mismatch() {
        let a = committed_run();
        let mut b = a.clone();
        b.generator_ceiling = Some(CeilingFile {
            format_version: 1,
            measured_at: "2026-12-07T00:00:00Z".into(),
            machine: a.machine.clone(),
            k6: None,
            probe_s: 4.0,
            load_average_before: [0.0; 3],
            load_average_after: [0.0; 3],
            scenarios: std::collections::BTreeMap::new(),
        });
        let found = mismatches(&a, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].what, "generator ceiling");
    }

    #[test]
    fn the_refusal_names_each_difference_with_both_values() {
        let a = committed_run();
        let mut b = a.clone();
        b.warmup_s = 5.0;
        b.db_reset = DbReset::None;
        let text = refusal(&mismatches(&a, &b));
        assert!(text.contains("warm-up: A 2.00 s, B 5.00 s"), "{text}");
        assert!(text.contains("database reset: A sql, B none"), "{text}");
        assert!(text.contains("--allow-mismatch"), "{text}");
    }
}
