//! The capacity view's time chart (issue 29): per second of each repeat, the rate offered (each
//! step's planned rate over its seconds), the answers achieved, the work completed, and the backlog,
//! the work accepted and not yet done. Offered against achieved alone would show a design that
//! acknowledges every request as keeping up; the backlog beside them shows whether its work does.

use std::collections::BTreeSet;

use stack_record::{Capacity, ScenarioResult};

use crate::page::{Axis, Scale, Series, Xy};

/// The chart for scenario `name`, its steps in `capacity` and its figures in `scenario`.
pub fn backlog_plot(name: &str, capacity: &Capacity, scenario: &ScenarioResult) -> Xy {
    let mut series = Vec::new();
    let repeats: BTreeSet<u32> = capacity
        .steps
        .iter()
        .map(|s| s.repeat)
        .chain(scenario.backlog.iter().map(|p| p.repeat))
        .collect();
    for (i, repeat) in repeats.iter().enumerate() {
        // Seconds since the measured run started, so the repeats line up.
        let start = scenario
            .window
            .iter()
            .find(|w| w.repeat == *repeat)
            .map_or(0.0, |w| w.start_s);
        series.extend(repeat_series(capacity, scenario, *repeat, start, i));
    }
    Xy {
        title: format!("{name}: offered, achieved and completed per second, and the backlog"),
        x: Axis::new("seconds into the measured run", Scale::Linear),
        y: Axis::new("requests per second", Scale::Linear),
        y2: Some(Axis::new(
            "backlog: accepted, not done (estimated)",
            Scale::Linear,
        )),
        series,
        bands: vec![],
        marks: vec![],
        legend: true,
    }
}

/// One repeat's lines, its seconds less `start`, in colour `color`.
fn repeat_series(
    capacity: &Capacity,
    scenario: &ScenarioResult,
    repeat: u32,
    start: f64,
    color: usize,
) -> Vec<Series> {
    let offered: Vec<[f64; 2]> = capacity
        .steps
        .iter()
        .filter(|s| s.repeat == repeat)
        .filter_map(|s| s.seconds.map(|[from, to]| (s.rate, from - start, to - start)))
        .flat_map(|(rate, from, to)| [[from, rate], [to, rate]])
        .collect();
    let achieved: Vec<[f64; 2]> = scenario
        .timeline
        .iter()
        .filter(|p| p.repeat == repeat)
        .map(|p| [p.t_s - start, p.requests as f64])
        .collect();
    let backlog: Vec<_> = scenario.backlog.iter().filter(|p| p.repeat == repeat).collect();
    // The completed count is cumulative: its rise over a second is that second's completions.
    let completed: Vec<[f64; 2]> = backlog
        .windows(2)
        .map(|pair| [pair[1].t_s - start, pair[1].completed - pair[0].completed])
        .collect();
    let mut lines = vec![
        Series::line(format!("offered/s, repeat {repeat}"), offered, color).dashed(),
        Series::line(
            format!("answered as expected/s, repeat {repeat}"),
            achieved,
            color,
        ),
    ];
    if !backlog.is_empty() {
        lines.push(
            Series::line(
                format!("completed/s (estimated), repeat {repeat}"),
                completed,
                color + 3,
            )
            .dots(),
        );
        lines.push(
            Series::line(
                format!("backlog, repeat {repeat}"),
                backlog.iter().map(|p| [p.t_s - start, p.backlog]).collect(),
                color + 6,
            )
            .on_right(),
        );
    }
    lines
}
