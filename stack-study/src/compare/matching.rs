//! Whether two records were made the same way, so that what differs between them is the systems.
//!
//! A comparison is only about the implementations when the load, the warm-up, the generator, the
//! machine and the starting state were the same on both sides. [`mismatches`] lists every way two
//! records' `meta.json` differ in those; the comparison refuses them ([`refusal`]) unless told to go
//! on, and then carries the list so that the table and the page say it first. What may differ
//! (the implementation, its commit, the time, the number of repeats, the command line) is not checked.

use std::collections::BTreeSet;

use stack_record::{DbReset, Meta};

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

/// Every difference between the two records that would make their figures incomparable.
pub fn mismatches(a: &Meta, b: &Meta) -> Vec<Mismatch> {
    let mut found = Vec::new();
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
        "machine cores",
        a.machine.cores.to_string(),
        b.machine.cores.to_string(),
    );
    check(
        "machine CPU model",
        a.machine.cpu_model.clone(),
        b.machine.cpu_model.clone(),
    );
    check(
        "machine kernel",
        a.machine.kernel.clone(),
        b.machine.kernel.clone(),
    );
    let (memory_a, memory_b) = (a.machine.memory_bytes as f64, b.machine.memory_bytes as f64);
    if (memory_a - memory_b).abs() > MEMORY_TOLERANCE * memory_a.max(memory_b) {
        check("machine memory", gib(memory_a), gib(memory_b));
    }
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
    let pinning = |meta: &Meta| {
        let cpus = meta.cpus.clone().unwrap_or_default();
        format!(
            "generator {}, system {}",
            cpus.generator.as_deref().unwrap_or("free"),
            cpus.system.as_deref().unwrap_or("free")
        )
    };
    check("CPU pinning", pinning(a), pinning(b));
    found
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
    use stack_record::RunRecord;

    fn committed_run() -> Meta {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runs/20261205T084928Z-smoke");
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
