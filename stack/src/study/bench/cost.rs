//! Cost per request: the CPU time each part of the system spent per completed request, over a
//! scenario's measured windows, from the sampler's rows (`resources.csv`). One figure, built once,
//! that `results.json`, the report and the comparison all show (issues 17 and 18).
//!
//! A row stands for the CPU time of its interval ([`ResourceRow::cpu_seconds`]); a row that
//! straddles a window's edge counts in proportion to its overlap with the window, as if its CPU
//! were spread evenly over the interval (the sampler cannot see finer). Each measured run gives one
//! value per figure, `CPU µs ÷ completed requests`; a [`Stat`] summarises them over the repeats.
//!
//! The parts, by watched name: `k6` is the generator, `postgres` the database, every other name a
//! service of the system (a broker or a cache of another implementation included). The system is
//! services and database together; the generator is never part of it.

use std::collections::BTreeMap;

use super::stats::stat;
use crate::study::record::{Cost, ResourceRow, Stat, Window};

/// The watched name of the load generator.
pub const GENERATOR: &str = "k6";
/// The watched name of the database.
pub const DATABASE: &str = "postgres";

/// CPU-µs per completed request over `windows` (one per measured run), `completed[i]` requests in
/// `windows[i]`; `None` when there is nothing to divide by (no rows, or a run that completed no
/// request).
pub fn per_request(rows: &[ResourceRow], windows: &[Window], completed: &[u64]) -> Option<Cost> {
    if rows.is_empty() || windows.is_empty() || windows.len() != completed.len() || completed.contains(&0) {
        return None;
    }
    let per_run: Vec<BTreeMap<&str, f64>> = windows
        .iter()
        .zip(completed)
        .map(|(window, &requests)| {
            cpu_seconds_in(rows, window)
                .into_iter()
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
        system_us: across(&|p| p != GENERATOR),
        services_us: across(&|p| p != GENERATOR && p != DATABASE),
        database_us: across(&|p| p == DATABASE),
        generator_us: across(&|p| p == GENERATOR),
        by_process: names
            .into_iter()
            .map(|name| (name.to_owned(), across(&|p| p == name)))
            .collect(),
    })
}

/// Each watched name's CPU seconds within `window`.
fn cpu_seconds_in<'a>(rows: &'a [ResourceRow], window: &Window) -> BTreeMap<&'a str, f64> {
    let mut seconds: BTreeMap<&str, f64> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.repeat == window.repeat) {
        let end = row.t_s + row.interval_s;
        let overlap = end.min(window.end_s) - row.t_s.max(window.start_s);
        let share = if row.interval_s > 0.0 {
            (overlap / row.interval_s).clamp(0.0, 1.0)
        } else {
            0.0
        };
        *seconds.entry(row.process.as_str()).or_default() += row.cpu_seconds() * share;
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
        let cost = per_request(&rows, &[window(1, 0.0, 2.0)], &[1_000]).expect("a cost");
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
        // Given rows of 100 % of a core at 0-1 s and 1-2 s, and a window from 0.5 s to 1.25 s
        let rows = [row(1, 0.0, "svc", 100.0), row(1, 1.0, "svc", 100.0)];
        // When one request completed in it
        let cost = per_request(&rows, &[window(1, 0.5, 1.25)], &[1]).expect("a cost");
        // Then it cost the 0.75 s of the window that the rows cover
        assert_eq!(cost.services_us.mean, 750_000.0);
    }

    #[test]
    fn a_row_of_a_longer_interval_counts_all_the_cpu_it_stands_for() {
        // Given a late tick: one row covering 2.5 s at 40 % of a core
        let mut late = row(1, 0.0, "svc", 40.0);
        late.interval_s = 2.5;
        // When 100 requests completed in a window holding it whole
        let cost = per_request(&[late], &[window(1, 0.0, 3.0)], &[100]).expect("a cost");
        // Then its 1 s of CPU is spread over them
        assert_eq!(cost.services_us.mean, 10_000.0);
    }

    #[test]
    fn each_repeat_is_one_run_of_the_figure_from_its_own_rows() {
        // Given a service at 10 % in repeat 1 and 30 % in repeat 2, both with 100 requests in 1 s
        let rows = [row(1, 0.0, "svc", 10.0), row(2, 0.0, "svc", 30.0)];
        let windows = [window(1, 0.0, 1.0), window(2, 0.0, 1.0)];
        // When the cost is taken
        let cost = per_request(&rows, &windows, &[100, 100]).expect("a cost");
        // Then each repeat has its own value and the figure is their mean
        assert_eq!(cost.services_us.runs, vec![1_000.0, 3_000.0]);
        assert_eq!(cost.services_us.mean, 2_000.0);
        assert!(cost.services_us.ci95.is_some());
    }

    #[test]
    fn there_is_no_cost_without_requests_or_rows() {
        let rows = [row(1, 0.0, "svc", 10.0)];
        assert_eq!(per_request(&rows, &[window(1, 0.0, 1.0)], &[0]), None);
        assert_eq!(per_request(&[], &[window(1, 0.0, 1.0)], &[10]), None);
    }
}
