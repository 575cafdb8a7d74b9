//! `stack report <run-dir>`: the page a researcher opens after a run.
//!
//! [`write_report`] reads a run directory through [`crate::study::record`] and writes `report.html` beside
//! it: the run's metadata and the warnings worth a reader's attention, the headline table per
//! scenario (with 95 % intervals when the run has repeats), each scenario's latency by percentile,
//! throughput and p99 over time and mean CPU by process, every process's CPU and memory over time,
//! and for a `capacity` run the offered against the achieved rate. The page is one file that opens
//! offline ([`crate::study::page`] inlines everything); `stack bench` writes it at the end of every run.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::{
    scenario::Scenario,
    study::{
        page::{
            escape, number, stat_cell, Axis, Band, Bar, BarSeries, Chart, Mark, Page, Scale, Series, Xy, MIB,
        },
        record::{Capacity, Meta, ResourceRow, Results, Run, ScenarioResult},
        warning,
    },
};

pub const REPORT_FILE: &str = "report.html";

/// Writes `<run_dir>/report.html` and returns its path.
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let run = Run::read(run_dir)?;
    let path = run_dir.join(REPORT_FILE);
    std::fs::write(&path, render(&run)).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn render(run: &Run) -> String {
    let meta = &run.meta;
    let mut page = Page::new(format!("stack run {}", meta.run_id));
    page.html(&format!(
        r#"<h1>Run {}</h1><p class="subtitle">{} · profile <b>{}</b> · {} repeat{} · scenarios {}</p>"#,
        escape(&meta.run_id),
        escape(&meta.implementation),
        escape(&meta.profile),
        meta.repeats,
        if meta.repeats == 1 { "" } else { "s" },
        escape(&meta.scenarios.join(", ")),
    ));
    warnings_section(&mut page, run);
    metadata_section(&mut page, meta);
    match &run.results {
        Some(results) => {
            headline_section(&mut page, results);
            for (name, scenario) in &results.scenarios {
                scenario_section(&mut page, name, scenario, results.repeats);
            }
            if let Some(capacity) = &results.capacity {
                for (name, capacity) in capacity {
                    capacity_section(&mut page, name, capacity);
                }
            }
        }
        None => page.html(
            r#"<h2>Results</h2><p>No <code>results.json</code>: the run is under way, or it stopped before its end.</p>"#,
        ),
    }
    resources_section(&mut page, run);
    page.finish()
}

fn warnings_section(page: &mut Page, run: &Run) {
    let warnings = warning::warnings(run);
    if warnings.is_empty() {
        page.html(r#"<div class="warnings none">No warnings: every threshold passed, nothing was dropped, the load generator had headroom.</div>"#);
        return;
    }
    let mut html = String::from(r#"<div class="warnings"><b>Warnings</b><ul>"#);
    for warning in &warnings {
        let _ = write!(html, "<li>{}</li>", escape(&warning.to_string()));
    }
    html.push_str("</ul></div>");
    page.html(&html);
}

fn metadata_section(page: &mut Page, meta: &Meta) {
    let or_unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".into());
    let git = match (&meta.git.commit, meta.git.dirty) {
        (Some(commit), Some(true)) => format!("{commit} (with uncommitted changes)"),
        (Some(commit), _) => commit.clone(),
        (None, _) => "not a git checkout".into(),
    };
    let mut rows = vec![
        ("implementation", meta.implementation.clone()),
        ("command", meta.command.join(" ")),
        (
            "started, ended (UTC)",
            format!(
                "{} → {}",
                meta.started_at,
                meta.ended_at.as_deref().unwrap_or("(not ended)")
            ),
        ),
        (
            "repeats, warm-up",
            format!(
                "{} × each scenario, after {} s of warm-up each (excluded)",
                meta.repeats,
                number(meta.warmup_s)
            ),
        ),
        (
            "database between repeats",
            format!("{:?}", meta.db_reset).to_lowercase(),
        ),
        (
            "target",
            format!(
                "{:?}: {}",
                meta.target.kind,
                meta.target
                    .urls
                    .iter()
                    .map(|(name, url)| format!("{name} {url}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .to_lowercase(),
        ),
        ("git", git),
        (
            "versions",
            format!(
                "rustc {}, k6 {}, PostgreSQL {}",
                or_unknown(&meta.versions.rustc),
                or_unknown(&meta.versions.k6),
                or_unknown(&meta.versions.postgres)
            ),
        ),
        (
            "machine",
            format!(
                "{} cores, {} GiB, {}, kernel {}",
                meta.machine.cores,
                number(meta.machine.memory_bytes as f64 / (1u64 << 30) as f64),
                meta.machine.cpu_model,
                meta.machine.kernel
            ),
        ),
        (
            "resource sampler",
            format!(
                "every {} s; its own cost {} % of one core",
                number(meta.sampler.interval_s),
                meta.sampler
                    .cpu_percent_of_one_core
                    .map_or("unknown".into(), number)
            ),
        ),
    ];
    if let Some(reports) = meta.options.s4_reports {
        rows.push(("S4", format!("fixed work: {reports} reports")));
    }
    let mut html = String::from(r#"<h2>The run</h2><table class="meta">"#);
    for (key, value) in rows {
        let _ = write!(html, "<tr><td>{key}</td><td>{}</td></tr>", escape(&value));
    }
    html.push_str("</table>");
    page.html(&html);
}

fn headline_section(page: &mut Page, results: &Results) {
    let mut html = String::from("<h2>Headline figures</h2>");
    let _ = write!(
        html,
        r#"<p class="note">Mean over {} repeat{}{}. Latency in ms, as k6 measured it (http_req_duration).</p>"#,
        results.repeats,
        if results.repeats == 1 { "" } else { "s" },
        if results.repeats > 1 {
            "; in brackets the 95 % confidence interval of the mean (Student's t)"
        } else {
            ""
        }
    );
    html.push_str(
        "<table><tr><th>scenario</th><th>requests</th><th>per s</th><th>p50</th><th>p90</th><th>p99</th>\
         <th>p99.9</th><th>max</th><th>unexpected failures</th><th>dropped iterations</th><th>failed checks</th></tr>",
    );
    for (name, s) in &results.scenarios {
        let _ = write!(
            html,
            "<tr><td><b>{}</b> {}</td>",
            escape(name),
            Scenario::title_of(name)
        );
        for stat in [
            &s.requests,
            &s.rate_per_s,
            &s.p50_ms,
            &s.p90_ms,
            &s.p99_ms,
            &s.p999_ms,
            &s.max_ms,
            &s.unexpected_failures,
            &s.dropped_iterations,
            &s.checks_failed,
        ] {
            let _ = write!(html, "<td>{}</td>", stat_cell(stat, 1.0));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    page.html(&html);
}

fn scenario_section(page: &mut Page, name: &str, scenario: &ScenarioResult, repeats: u32) {
    page.html(&format!("<h2>{} {}</h2>", escape(name), Scenario::title_of(name)));
    if let Some(fixed) = &scenario.fixed_work {
        page.html(&format!(
            "<p>Fixed work: {} reports in {} s.</p>",
            fixed.reports,
            stat_cell(&fixed.seconds, 1.0)
        ));
    }
    page.grid(false);
    page.chart(
        &format!("{name}-percentiles"),
        Chart::Xy(percentile_plot(
            &format!("{name}: latency by percentile"),
            vec![Series::line(
                format!(
                    "pooled over {repeats} repeat{}",
                    if repeats == 1 { "" } else { "s" }
                ),
                distribution_points(scenario),
                0,
            )
            .dots()],
        )),
        "Each decade to the right is one more nine: p90, p99, p99.9, p99.99.",
    );
    page.chart(
        &format!("{name}-timeline"),
        Chart::Xy(timeline_plot(name, scenario)),
        "Per second of each measured run: requests completed (solid, left) and their p99 (dashed, right).",
    );
    page.chart(
        &format!("{name}-cpu"),
        Chart::Bar(cpu_bars(name, scenario)),
        "Mean CPU of each process within this scenario's measured windows, averaged over the repeats.",
    );
    page.end_grid();
    if let Some(hops) = &scenario.hops {
        let mut html = format!(
            "<h3>Where the time went (server side, {})</h3><table><tr><th>hop</th><th>calls</th><th>mean ms</th><th>p99 ms</th></tr>",
            escape(&hops.service)
        );
        let _ = write!(
            html,
            "<tr><td>{} end to end</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&hops.service),
            hops.end_to_end.count,
            number(hops.end_to_end.mean_ms),
            number(hops.end_to_end.p99_ms)
        );
        for hop in &hops.downstream {
            let _ = write!(
                html,
                "<tr><td>→ {} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&hop.server),
                escape(&hop.route),
                hop.count,
                number(hop.mean_ms),
                number(hop.p99_ms)
            );
        }
        if let Some(wait) = &hops.pool_wait {
            let _ = write!(
                html,
                "<tr><td>waiting for a database connection</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                wait.count,
                number(wait.mean_ms),
                number(wait.p99_ms)
            );
        }
        html.push_str("</table>");
        page.html(&html);
    }
}

/// `[percentile, ms]` of a scenario's pooled distribution.
pub fn distribution_points(scenario: &ScenarioResult) -> Vec<[f64; 2]> {
    scenario
        .distribution
        .iter()
        .map(|p| [p.percentile, p.ms])
        .collect()
}

/// Latency against percentile, the tail stretched on a log axis of 1/(1-p).
pub fn percentile_plot(title: &str, series: Vec<Series>) -> Xy {
    Xy {
        title: title.into(),
        x: Axis::new("percentile", Scale::Percentile),
        y: Axis::new("latency, ms", Scale::Linear),
        y2: None,
        series,
        bands: vec![],
        marks: vec![],
        legend: true,
    }
}

fn timeline_plot(name: &str, scenario: &ScenarioResult) -> Xy {
    let mut series = Vec::new();
    let repeats = repeats_of(scenario.timeline.iter().map(|p| p.repeat));
    for (i, repeat) in repeats.iter().enumerate() {
        // Seconds since the measured run started, so the repeats line up.
        let start = scenario
            .window
            .iter()
            .find(|w| w.repeat == *repeat)
            .map_or(0.0, |w| w.start_s);
        let points = scenario.timeline.iter().filter(|p| p.repeat == *repeat);
        let (rate, p99): (Vec<_>, Vec<_>) = points
            .map(|p| ([p.t_s - start, p.requests as f64], [p.t_s - start, p.p99_ms]))
            .unzip();
        series.push(Series::line(format!("requests/s, repeat {repeat}"), rate, i));
        series.push(
            Series::line(format!("p99 ms, repeat {repeat}"), p99, i)
                .on_right()
                .dashed(),
        );
    }
    Xy {
        title: format!("{name}: throughput and p99 over time"),
        x: Axis::new("seconds into the measured run", Scale::Linear),
        y: Axis::new("requests per second", Scale::Linear),
        y2: Some(Axis::new("p99, ms", Scale::Linear)),
        series,
        bands: vec![],
        marks: vec![],
        legend: true,
    }
}

fn cpu_bars(name: &str, scenario: &ScenarioResult) -> Bar {
    let mut processes: Vec<(&String, f64)> = scenario
        .resources
        .iter()
        .map(|(process, r)| (process, r.cpu_mean_percent.mean))
        .collect();
    processes.sort_by(|a, b| b.1.total_cmp(&a.1));
    Bar {
        title: format!("{name}: mean CPU by process"),
        labels: processes.iter().map(|(p, _)| (*p).clone()).collect(),
        series: vec![BarSeries {
            label: "mean CPU".into(),
            values: processes.iter().map(|(_, cpu)| *cpu).collect(),
            color: 0,
        }],
        value_title: "% of one core".into(),
    }
}

fn capacity_section(page: &mut Page, name: &str, capacity: &Capacity) {
    page.html(&format!(
        "<h2>{} capacity</h2><p>Sustained rate: <b>{}</b> (the highest step with p99 within {} ms, no unexpected \
         failure and no dropped iteration, every lower step as well; the lowest over the repeats).</p>",
        escape(name),
        capacity
            .sustained_rate
            .map_or("none: the first step already failed".into(), |rate| format!("{} requests/s", number(rate))),
        number(capacity.slo_p99_ms),
    ));
    let repeats = repeats_of(capacity.steps.iter().map(|s| s.repeat));
    let mut series = Vec::new();
    let top = capacity.steps.iter().map(|s| s.rate).fold(0.0, f64::max);
    series.push(Series::line("offered = achieved", vec![[0.0, 0.0], [top, top]], 7).dashed());
    for (i, repeat) in repeats.iter().enumerate() {
        let steps: Vec<_> = capacity.steps.iter().filter(|s| s.repeat == *repeat).collect();
        series.push(
            Series::line(
                format!("achieved/s, repeat {repeat}"),
                steps.iter().map(|s| [s.rate, s.achieved_per_s]).collect(),
                i,
            )
            .dots(),
        );
        series.push(
            Series::line(
                format!("p99 ms, repeat {repeat}"),
                steps.iter().map(|s| [s.rate, s.p99_ms]).collect(),
                i + 3,
            )
            .on_right()
            .dashed()
            .dots(),
        );
    }
    let mut marks = vec![Mark {
        x: None,
        y: Some(capacity.slo_p99_ms),
        axis: "y2",
        label: format!("p99 SLO {} ms", number(capacity.slo_p99_ms)),
        color: "#b00",
    }];
    if let Some(rate) = capacity.sustained_rate {
        marks.push(Mark {
            x: Some(rate),
            y: None,
            axis: "y",
            label: format!("sustained {}/s", number(rate)),
            color: "#070",
        });
    }
    page.grid(false);
    page.wide_chart(
        &format!("{name}-capacity"),
        Chart::Xy(Xy {
            title: format!("{name}: offered against achieved rate, and p99"),
            x: Axis::new("offered, requests per second", Scale::Linear),
            y: Axis::new("achieved, requests per second", Scale::Linear),
            y2: Some(Axis::new("p99, ms (log)", Scale::Log)),
            series,
            bands: vec![],
            marks,
            legend: true,
        }),
        "Each dot is one step of the rate ladder. The green line marks the sustained rate, the red one the p99 objective.",
    );
    page.end_grid();
    let mut html = String::from(
        "<table><tr><th>repeat</th><th>offered/s</th><th>achieved/s</th><th>p99 ms</th><th>unexpected failures</th>\
         <th>dropped</th><th>max VUs</th><th>k6 CPU %</th><th>generator-limited</th><th>ok</th></tr>",
    );
    for s in &capacity.steps {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.repeat,
            number(s.rate),
            number(s.achieved_per_s),
            number(s.p99_ms),
            s.unexpected_failures,
            s.dropped_iterations,
            s.max_vus,
            number(s.k6_cpu_percent),
            if s.generator_limited { "yes" } else { "no" },
            if s.ok { "✓" } else { "✗" },
        );
    }
    html.push_str("</table>");
    page.html(&html);
}

/// Small multiples, one per process: CPU (solid, left) and resident memory (dashed, right) over
/// each repeat, the scenarios' measured windows shaded.
fn resources_section(page: &mut Page, run: &Run) {
    page.html("<h2>CPU and memory of every process</h2>");
    if run.resources.is_empty() {
        page.html("<p>No <code>resources.csv</code> in this run.</p>");
        return;
    }
    page.html(&format!(
        r#"<p class="note">Sampled every {} s; time in seconds since the start of each repeat. Solid: CPU in % of one core ({} cores: up to {} %), left axis; dashed: resident memory in MiB, right axis. Blue: repeat 1, red: repeat 2, green: repeat 3. Shaded: each scenario's measured window in repeat 1.</p>"#,
        number(run.meta.sampler.interval_s),
        run.meta.machine.cores,
        run.meta.machine.cores * 100
    ));
    let bands: Vec<Band> = run
        .results
        .iter()
        .flat_map(|results| &results.scenarios)
        .filter_map(|(name, scenario)| {
            let window = scenario.window.iter().find(|w| w.repeat == 1)?;
            Some(Band {
                from: window.start_s,
                to: window.end_s,
                label: name.clone(),
            })
        })
        .collect();
    page.grid(true);
    let repeats = repeats_of(run.resources.iter().map(|r| r.repeat));
    for process in processes_in_order(&run.resources) {
        let mut series = Vec::new();
        for (i, repeat) in repeats.iter().enumerate() {
            let rows = run
                .resources
                .iter()
                .filter(|r| r.repeat == *repeat && r.process == process);
            let (cpu, rss): (Vec<_>, Vec<_>) = rows
                .map(|r| ([r.t_s, r.cpu_percent], [r.t_s, r.rss_bytes as f64 * MIB]))
                .unzip();
            series.push(Series::line(format!("CPU %, repeat {repeat}"), cpu, i));
            series.push(
                Series::line(format!("RSS MiB, repeat {repeat}"), rss, i)
                    .on_right()
                    .dashed(),
            );
        }
        page.chart(
            &format!("resources-{process}"),
            Chart::Xy(Xy {
                title: process.clone(),
                x: Axis::new("s", Scale::Linear),
                y: Axis::new("CPU %", Scale::Linear),
                y2: Some(Axis::new("RSS MiB", Scale::Linear)),
                series,
                bands: bands.clone(),
                marks: vec![],
                legend: false,
            }),
            "",
        );
    }
    page.end_grid();
}

/// Each repeat that occurs in `repeats`, once, in order.
fn repeats_of(repeats: impl IntoIterator<Item = u32>) -> Vec<u32> {
    repeats
        .into_iter()
        .collect::<BTreeSet<u32>>()
        .into_iter()
        .collect()
}

/// The services in the order they first appear, then PostgreSQL, then k6.
fn processes_in_order(rows: &[ResourceRow]) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for row in rows {
        if !order.contains(&row.process) {
            order.push(row.process.clone());
        }
    }
    order.sort_by_key(|p| match p.as_str() {
        "postgres" => 1,
        "k6" => 2,
        _ => 0,
    });
    order
}
