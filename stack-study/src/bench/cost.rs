//! Cost per request: the CPU time each part of the system spent per completed request, over a
//! scenario's measured windows, from the sampler's rows (`resources.csv`). One figure, built once,
//! that `results.json`, the report and the comparison all show (issues 17 and 18).
//!
//! A row stands for the CPU time of its interval ([`ResourceRow::cpu_seconds`]). A run's window is
//! bounded by sampler marks, so it is made of whole rows and its CPU is what was measured in it;
//! a row that straddles a window's edge (a window cut from within a run) counts in proportion to
//! its overlap ([`Window::share_of`]), as if its CPU were spread evenly over the interval. Each measured run gives one
//! value per figure, `CPU µs ÷ completed requests`; a [`Stat`] summarises them over the repeats.
//!
//! The parts, by watched name: `k6` is the generator, `postgres` the database, every other name a
//! service of the system (a broker or a cache of another implementation included). The system is
//! services and database together; the generator is never part of it.
//!
//! `/proc` counts CPU in clock ticks of 10 ms per process, so a component that spent a few ticks in
//! a run has a figure that is mostly rounding (S4's database: 0 or 1 tick, which would read as
//! 2,000 µs per request). The whole cost is withheld when the system spent fewer than
//! [`CPU_TICKS_NEEDED`] in a run; any one component under that is listed in [`Cost::under_ticks`],
//! and shown as "under 100 ticks" instead of its number.

use std::collections::BTreeMap;

use stack_system::proc::{K6, POSTGRES};

use super::stats::stat;
use stack_record::{
    Basis, Cost, ResourceRow, Stat, Window, Withheld, COST_FIGURE, CPU_TICKS_NEEDED, CPU_TICKS_PER_SECOND,
};

/// CPU-µs per completed request over `windows` (one per measured run), `completed[i]` requests in
/// `windows[i]`; `None` when there is nothing to divide by (no rows, or a run that completed no
/// request), or when a run's system spent fewer than [`CPU_TICKS_NEEDED`] ticks of CPU (then
/// `withheld` says so).
pub fn per_request(
    rows: &[ResourceRow],
    windows: &[Window],
    completed: &[u64],
    withheld: &mut Vec<Withheld>,
) -> Option<Cost> {
    if rows.is_empty() || windows.is_empty() || windows.len() != completed.len() || completed.contains(&0) {
        return None;
    }
    let seconds: Vec<BTreeMap<&str, f64>> = windows
        .iter()
        .map(|window| cpu_seconds_in(rows, window))
        .collect();
    let least_ticks = seconds
        .iter()
        .map(|run| {
            let system: f64 = run.iter().filter(|(p, _)| **p != K6).map(|(_, s)| s).sum();
            (system * CPU_TICKS_PER_SECOND).round() as u64
        })
        .min()
        .unwrap_or(0);
    if least_ticks < CPU_TICKS_NEEDED {
        withheld.push(Withheld {
            figure: COST_FIGURE.into(),
            samples: least_ticks,
            needed: CPU_TICKS_NEEDED,
            basis: Basis::CpuTicks,
        });
        return None;
    }
    let under_ticks = under_ticks(&seconds);
    let per_run: Vec<BTreeMap<&str, f64>> = seconds
        .into_iter()
        .zip(completed)
        .map(|(run, &requests)| {
            run.into_iter()
                .map(|(process, seconds)| (process, seconds * 1e6 / requests as f64))
                .collect()
        })
        .collect();
    let across = |part: &dyn Fn(&str) -> bool| -> Stat {
        let runs: Vec<f64> = per_run
            .iter()
            .map(|run| tidy(run.iter().filter(|(p, _)| part(p)).map(|(_, us)| us).sum()))
            .collect();
        stat(&runs)
    };
    let mut names: Vec<&str> = per_run.iter().flat_map(|run| run.keys().copied()).collect();
    names.sort_unstable();
    names.dedup();
    Some(Cost {
        system_us: across(&|p| p != K6),
        services_us: across(&|p| p != K6 && p != POSTGRES),
        database_us: across(&|p| p == POSTGRES),
        generator_us: across(&|p| p == K6),
        by_process: names
            .into_iter()
            .map(|name| (name.to_owned(), across(&|p| p == name)))
            .collect(),
        under_ticks,
    })
}

/// A part of the system by name, and which watched names it is made of.
type Part<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

/// Each component (the three parts, and every watched name) whose CPU in its smallest run was under
/// [`CPU_TICKS_NEEDED`] ticks, with that count; `seconds` holds each run's CPU seconds by name.
fn under_ticks(seconds: &[BTreeMap<&str, f64>]) -> BTreeMap<String, u64> {
    let least = |part: &dyn Fn(&str) -> bool| -> u64 {
        seconds
            .iter()
            .map(|run| {
                let used: f64 = run.iter().filter(|(p, _)| part(p)).map(|(_, s)| s).sum();
                (used * CPU_TICKS_PER_SECOND).round() as u64
            })
            .min()
            .unwrap_or(0)
    };
    let mut names: Vec<&str> = seconds.iter().flat_map(|run| run.keys().copied()).collect();
    names.sort_unstable();
    names.dedup();
    let parts: [Part; 3] = [
        (Cost::SERVICES, &|p| p != K6 && p != POSTGRES),
        (Cost::DATABASE, &|p| p == POSTGRES),
        (Cost::GENERATOR, &|p| p == K6),
    ];
    let processes = names.into_iter().map(|name| (name, least(&|p| p == name)));
    parts
        .into_iter()
        .map(|(part, of)| (part, least(of)))
        .chain(processes)
        .filter(|(_, ticks)| *ticks < CPU_TICKS_NEEDED)
        .map(|(name, ticks)| (name.to_owned(), ticks))
        .collect()
}

/// Each watched name's CPU seconds within `window`.
fn cpu_seconds_in<'a>(rows: &'a [ResourceRow], window: &Window) -> BTreeMap<&'a str, f64> {
    let mut seconds: BTreeMap<&str, f64> = BTreeMap::new();
    for row in rows {
        *seconds.entry(row.process.as_str()).or_default() += row.cpu_seconds() * window.share_of(row);
    }
    seconds
}

/// µs to a tenth: finer is below what the sampler resolves.
fn tidy(us: f64) -> f64 {
    (us * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(repeat: u32, t_s: f64, process: &str, cpu_percent: f64) -> ResourceRow {
        ResourceRow {
            repeat,
            t_s,
            process: process.into(),
            cpu_percent,
            rss_bytes: 0,
            pss_bytes: None,
            interval_s: 1.0,
        }
    }

    fn window(repeat: u32, start_s: f64, end_s: f64) -> Window {
        Window {
            repeat,
            start_s,
            end_s,
        }
    }

    #[test]
    fn each_part_costs_its_cpu_in_the_window_over_the_requests_completed() {
        // Given two seconds in which a service used 50 % of a core, PostgreSQL 20 % and k6 10 %,
        // and 1,000 requests completed
        let rows: Vec<ResourceRow> = [0.0, 1.0]
            .into_iter()
            .flat_map(|t| {
                [
                    row(1, t, "orderservice", 50.0),
                    row(1, t, "postgres", 20.0),
                    row(1, t, "k6", 10.0),
                ]
            })
            .collect();
        // When the cost per request is taken over that window
        let cost = per_request(&rows, &[window(1, 0.0, 2.0)], &[1_000], &mut Vec::new()).expect("a cost");
        // Then each part costs its CPU seconds / 1,000 in µs, and the system is services + database
        assert_eq!(cost.services_us.mean, 1_000.0);
        assert_eq!(cost.database_us.mean, 400.0);
        assert_eq!(cost.system_us.mean, 1_400.0);
        assert_eq!(cost.generator_us.mean, 200.0);
        assert_eq!(cost.by_process["orderservice"].mean, 1_000.0);
        assert_eq!(cost.by_process["k6"].mean, 200.0);
    }

    #[test]
    fn a_row_straddling_the_window_counts_in_proportion_to_its_overlap() {
        // Given rows of two full cores at 0-1 s and 1-2 s, and a window from 0.5 s to 1.25 s
        let rows = [row(1, 0.0, "svc", 200.0), row(1, 1.0, "svc", 200.0)];
        // When one request completed in it
        let cost = per_request(&rows, &[window(1, 0.5, 1.25)], &[1], &mut Vec::new()).expect("a cost");
        // Then it cost the 1.5 s of CPU of the window's 0.75 s that the rows cover
        assert_eq!(cost.services_us.mean, 1_500_000.0);
    }

    #[test]
    fn a_row_of_a_longer_interval_counts_all_the_cpu_it_stands_for() {
        // Given a late tick: one row covering 2.5 s at 40 % of a core
        let mut late = row(1, 0.0, "svc", 40.0);
        late.interval_s = 2.5;
        // When 100 requests completed in a window holding it whole
        let cost = per_request(&[late], &[window(1, 0.0, 3.0)], &[100], &mut Vec::new()).expect("a cost");
        // Then its 1 s of CPU is spread over them
        assert_eq!(cost.services_us.mean, 10_000.0);
    }

    #[test]
    fn each_repeat_is_one_run_of_the_figure_from_its_own_rows() {
        // Given a service at 100 % of a core in repeat 1 and 300 % in repeat 2, both with 100
        // requests in 1 s
        let rows = [row(1, 0.0, "svc", 100.0), row(2, 0.0, "svc", 300.0)];
        let windows = [window(1, 0.0, 1.0), window(2, 0.0, 1.0)];
        // When the cost is taken
        let cost = per_request(&rows, &windows, &[100, 100], &mut Vec::new()).expect("a cost");
        // Then each repeat has its own value and the figure is their mean
        assert_eq!(cost.services_us.runs, vec![10_000.0, 30_000.0]);
        assert_eq!(cost.services_us.mean, 20_000.0);
        assert!(cost.services_us.ci95.is_some());
    }

    #[test]
    fn a_component_under_100_ticks_in_a_run_is_listed_with_its_ticks_and_the_others_are_not() {
        // Given two runs in which a service spent 2 s and 1.5 s of CPU, PostgreSQL 0.01 s (one tick)
        // in the second, and k6 1 s in each
        let rows = [
            row(1, 0.0, "svc", 200.0),
            row(1, 0.0, "postgres", 150.0),
            row(1, 0.0, "k6", 100.0),
            row(2, 0.0, "svc", 150.0),
            row(2, 0.0, "postgres", 1.0),
            row(2, 0.0, "k6", 100.0),
        ];
        let windows = [window(1, 0.0, 1.0), window(2, 0.0, 1.0)];
        // When the cost is taken
        let cost = per_request(&rows, &windows, &[100, 100], &mut Vec::new()).expect("a cost");
        // Then the database, as a part and as a process, is under 100 ticks with the 1 it had
        assert_eq!(
            cost.under_ticks,
            BTreeMap::from([("database".to_owned(), 1), ("postgres".to_owned(), 1)])
        );
        assert!(cost.is_under_ticks(Cost::DATABASE));
        assert!(!cost.is_under_ticks(Cost::SERVICES) && !cost.is_under_ticks("svc"));
        assert!(!cost.is_under_ticks(Cost::GENERATOR));
    }

    #[test]
    fn there_is_no_cost_without_requests_or_rows() {
        let rows = [row(1, 0.0, "svc", 10.0)];
        assert_eq!(
            per_request(&rows, &[window(1, 0.0, 1.0)], &[0], &mut Vec::new()),
            None
        );
        assert_eq!(
            per_request(&[], &[window(1, 0.0, 1.0)], &[10], &mut Vec::new()),
            None
        );
    }

    #[test]
    fn a_run_whose_system_spent_under_a_second_of_cpu_has_its_cost_withheld_with_the_ticks_it_had() {
        // Given two runs: one whose service spent 2 s of CPU, one only 0.6 s (k6's 5 s aside)
        let rows = [
            row(1, 0.0, "svc", 100.0),
            row(1, 1.0, "svc", 100.0),
            row(2, 0.0, "svc", 60.0),
            row(2, 0.0, "k6", 500.0),
        ];
        let windows = [window(1, 0.0, 2.0), window(2, 0.0, 1.0)];
        let mut withheld = Vec::new();
        // When the cost is taken
        let cost = per_request(&rows, &windows, &[100, 100], &mut withheld);
        // Then there is none, and the record says why: 60 ticks of the 100 needed
        assert_eq!(cost, None);
        assert_eq!(
            withheld,
            vec![Withheld {
                figure: COST_FIGURE.into(),
                samples: 60,
                needed: CPU_TICKS_NEEDED,
                basis: Basis::CpuTicks,
            }]
        );
    }
}
