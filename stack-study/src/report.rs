//! `stack report <run-dir>`: the page a researcher opens after a run.
//!
//! [`write_report`] reads a run directory through [`stack_record`] and writes `report.html` beside
//! it: the run's metadata and the warnings worth a reader's attention, the headline table per
//! scenario (with 95 % intervals when the run has repeats), each scenario's latency by percentile,
//! throughput and p99 over time and mean CPU by process, every process's CPU and memory over time,
//! and for a `capacity` run the offered against the achieved rate. The page is one file that opens
//! offline ([`crate::page`] inlines everything); `stack bench` writes it at the end of every run.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use stack_record::{
    self as record, Bucket, Capacity, Completion, Cost, Hops, LagRule, Meta, OpenLoop, ResourceRow, Results,
    RunRecord, ScenarioResult, Stat, Step, Withheld, COST_FIGURE,
};

use crate::{
    page::{
        count, distribution_points, html, number, percentile_cell, percentile_plot, stat_cell,
        withheld_reason, Axis, Band, Bar, BarSeries, Chart, Mark, Markup, Page, Scale, Series, Xy, MIB,
        UNDER_TICKS,
    },
    scenario::Scenario,
    warning,
};

mod backlog_chart;

pub const REPORT_FILE: &str = "report.html";

/// Writes `<run_dir>/report.html` and returns its path.
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let run = RunRecord::read(run_dir)?;
    let path = run_dir.join(REPORT_FILE);
    std::fs::write(&path, render(&run)).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn render(run: &RunRecord) -> String {
    let meta = &run.meta;
    let mut page = Page::new(format!("stack run {}", meta.run_id));
    page.html(html!(
        r#"<h1>Run {}</h1><p class="subtitle">{} · profile <b>{}</b> · {} repeat{} · scenarios {}</p>"#,
        meta.run_id,
        meta.implementation,
        meta.profile,
        meta.repeats,
        if meta.repeats == 1 { "" } else { "s" },
        meta.scenarios.join(", "),
    ));
    warnings_section(&mut page, run);
    metadata_section(&mut page, meta);
    match &run.results {
        Some(results) => {
            // A capacity run leads with its steps and sustained rates; its scenarios' figures pooled
            // over every step mix different loads and are not shown.
            for (name, capacity) in results.capacity.iter().flatten() {
                capacity_section(&mut page, name, capacity, results.scenarios.get(name));
            }
            headline_section(&mut page, results);
            completion_section(&mut page, results);
            open_loop_section(&mut page, results);
            cost_section(&mut page, results);
            for (name, scenario) in &results.scenarios {
                scenario_section(&mut page, name, scenario, results);
            }
        }
        None => page.html(html!(r#"<h2>Results</h2><p>No <code>results.json</code>: the run is under way, or it stopped before its end.</p>"#)),
    }
    resources_section(&mut page, run);
    page.finish()
}

fn warnings_section(page: &mut Page, run: &RunRecord) {
    let warnings = warning::warnings(run);
    if warnings.is_empty() {
        page.html(html!(r#"<div class="warnings none">No warnings: every threshold passed, nothing was dropped, the load generator had headroom.</div>"#));
        return;
    }
    let mut markup = html!(r#"<div class="warnings"><b>Warnings</b><ul>"#);
    for warning in &warnings {
        markup.push(html!("<li>{}</li>", warning));
    }
    markup.push(html!("</ul></div>"));
    page.html(markup);
}

fn metadata_section(page: &mut Page, meta: &Meta) {
    let mut rows = run_rows(meta);
    rows.extend(provenance_rows(meta));
    if let Some(reports) = meta.options.s4_reports {
        rows.push(("S4", format!("fixed work: {reports} reports")));
    }
    if let Some(margin) = meta.options.vu_margin {
        rows.push((
            "VU pool",
            format!("{} × rate × SLO (the script's default: 3)", number(margin)),
        ));
    }
    let mut markup = html!(r#"<h2>The run</h2><table class="meta">"#);
    for (key, value) in rows {
        markup.push(html!("<tr><td>{}</td><td>{}</td></tr>", key, value));
    }
    markup.push(html!("</table>"));
    page.html(markup);
}

/// The rows of the run's table that say what was run and how, apart from where it ran.
fn run_rows(meta: &Meta) -> Vec<(&'static str, String)> {
    vec![
        ("implementation", meta.implementation.clone()),
        (
            "contract",
            crate::page::contract_text(meta.options.contract.as_ref()),
        ),
        (
            "traced iterations",
            meta.options
                .trace_sample
                .map_or("none (the record is older than tracing)".into(), |f| {
                    format!("{} % (--trace-sample {})", number(f * 100.0), number(f))
                }),
        ),
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
    ]
}

/// The rows of the run's table that say what the run ran on: code, tools, machine, sampler.
fn provenance_rows(meta: &Meta) -> Vec<(&'static str, String)> {
    let or_unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unknown".into());
    let git = match (&meta.git.commit, meta.git.dirty) {
        (Some(commit), Some(true)) => format!("{commit} (with uncommitted changes)"),
        (Some(commit), _) => commit.clone(),
        (None, _) => "not a git checkout".into(),
    };
    vec![
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
                "{} cores, {} GiB, {}, kernel {}{}",
                meta.machine.cores,
                number(meta.machine.memory_bytes as f64 / (1u64 << 30) as f64),
                meta.machine.cpu_model,
                meta.machine.kernel,
                machine_state(&meta.machine)
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
    ]
}

/// Whether `name`'s scenario figures pool the steps of a capacity run.
fn pooled_over_steps(results: &Results, name: &str) -> bool {
    results
        .capacity
        .as_ref()
        .is_some_and(|capacity| capacity.contains_key(name))
}

fn headline_section(page: &mut Page, results: &Results) {
    if results
        .scenarios
        .keys()
        .all(|name| pooled_over_steps(results, name))
    {
        return;
    }
    let mut markup = html!("<h2>Headline figures</h2>");
    markup.push(html!(r#"<p class="note">Mean over {} repeat{}{}. Latency in ms, as k6 measured it (http_req_duration); for an open-loop scenario, the corrected latency (from each arrival's intended start, its dropped and interrupted arrivals counted at a lower bound of their wait), k6's beside it. A corrected percentile q is undefined where those arrivals exceed 1 − q of the schedule.</p>"#,
        results.repeats,
        if results.repeats == 1 { "" } else { "s" },
        if results.repeats > 1 {
            "; in brackets the 95 % confidence interval of the mean (Student's t)"
        } else {
            ""
        }
    ));
    markup.push(html!(r#"<p class="note">A percentile p is shown only when every repeat has at least 10 / (1 − p) samples (p50 20, p90 100, p99 1,000, p99.9 10,000); "–" says how many there were. Per s: requests answered as expected, over the scheduled duration for an open-loop scenario, from the first request to the last answer for a closed-loop one.</p>"#));
    markup.push(html!(
        "<table><tr><th>scenario</th><th>requests</th><th>per s</th><th>p50</th><th>p90</th><th>p99</th>\
         <th>p99.9</th><th>max</th><th>unexpected failures</th><th>dropped iterations</th><th>failed checks</th></tr>",
    ));
    for (name, s) in &results.scenarios {
        if pooled_over_steps(results, name) {
            continue;
        }
        markup.push(html!("<tr><td><b>{}</b> {}</td>", name, Scenario::title_of(name)));
        let percentiles = [
            ("p50_ms", &s.p50_ms),
            ("p90_ms", &s.p90_ms),
            ("p99_ms", &s.p99_ms),
            ("p999_ms", &s.p999_ms),
        ];
        let mut cells: Vec<Markup> = vec![stat_cell(&s.requests, 1.0), stat_cell(&s.rate_per_s, 1.0)];
        cells.extend(
            percentiles
                .iter()
                .map(|(figure, stat)| headline_latency_cell(s, figure, stat.as_ref())),
        );
        cells.extend(
            [
                &s.max_ms,
                &s.unexpected_failures,
                &s.dropped_iterations,
                &s.checks_failed,
            ]
            .into_iter()
            .map(|stat| stat_cell(stat, 1.0)),
        );
        for cell in cells {
            markup.push(html!("<td>{}</td>", cell));
        }
        markup.push(html!("</tr>"));
    }
    markup.push(html!("</table>"));
    page.html(markup);
}

/// What the machine's state was as the record began, where recorded: `; load 0.8 0.5 0.4, governor
/// performance, SMT off`.
fn machine_state(machine: &stack_record::Machine) -> String {
    let mut parts = Vec::new();
    if let Some([one, five, fifteen]) = machine.load_average {
        parts.push(format!("load {one:.2} {five:.2} {fifteen:.2}"));
    }
    if let Some(governor) = &machine.frequency_governor {
        parts.push(format!("governor {governor}"));
    }
    if let Some(smt) = machine.smt_active {
        parts.push(format!("SMT {}", if smt { "on" } else { "off" }));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

/// The answer and the completion side by side, for the scenarios with traced requests: the answer
/// says when the request was acknowledged, the completion when its work was done (issue 29).
fn completion_section(page: &mut Page, results: &Results) {
    let traced: Vec<(&String, &ScenarioResult, &Completion)> = results
        .scenarios
        .iter()
        .filter_map(|(name, s)| Some((name, s, s.completion.as_ref()?)))
        .collect();
    if traced.is_empty() {
        return;
    }
    let mut markup = html!("<h2>Answer and completion</h2>");
    markup.push(html!(r#"<p class="note">Answer: from the intended start to the answer in hand (the corrected latency of an open-loop scenario, k6's own otherwise), over every request; per s: answers accepted by the contract. Completion: from the intended start to the last span end of the request's trace, over the traced requests whose answer was accepted; a trace still receiving spans at the end of the drain counts as not completed, and a percentile reaching one is a lower bound (≥). Untraced: traced requests whose trace reached no service; above 1 % the completion figures are withheld. Completions per s: accepted answers per s × the rate the traced requests were completed at ÷ the rate they were accepted at. Clock: {}.</p>"#,
        traced.first().map_or("", |(_, _, c)| c.clock.as_str())));
    markup.push(html!(
        "<table><tr><th>scenario</th><th>answer n</th><th>answer p50</th><th>answer p99</th><th>accepted per s</th>         <th>traced n</th><th>untraced</th><th>completion p50</th><th>completion p99</th><th>completed</th>         <th>completions per s</th></tr>"
    ));
    for (name, s, c) in traced {
        let (p50, p99) = answer_percentiles(s);
        let completion_cell = |figure: &str, stat: &Option<Stat>| match (&c.withheld_because, stat) {
            (Some(_), _) => html!("–"),
            (None, Some(_)) => html!("{}", crate::page::completion_text(c, figure, stat.as_ref())),
            (None, None) => percentile_cell(None, &format!("completion_{figure}"), &s.withheld),
        };
        let optional = |stat: &Option<Stat>, scale: f64| {
            stat.as_ref().map_or(html!("–"), |stat| stat_cell(stat, scale))
        };
        markup.push(html!(
            "<tr><td><b>{}</b> {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            name,
            Scenario::title_of(name),
            stat_cell(&s.requests, 1.0),
            percentile_cell(p50.0, p50.1, &s.withheld),
            percentile_cell(p99.0, p99.1, &s.withheld),
            stat_cell(&s.rate_per_s, 1.0),
            stat_cell(&c.traced, 1.0),
            stat_cell(&c.untraced, 1.0),
            completion_cell("p50_ms", &c.p50_ms),
            completion_cell("p99_ms", &c.p99_ms),
            c.completed_fraction.as_ref().map_or(html!("–"), |f| html!("{} %", number(f.mean * 100.0))),
            optional(&c.completions_per_s, 1.0),
        ));
        if let Some(why) = &c.withheld_because {
            markup.push(html!(
                r#"<tr><td></td><td colspan="10" class="note">completion withheld: {}</td></tr>"#,
                why
            ));
        }
    }
    markup.push(html!("</table>"));
    page.html(markup);
}

/// A percentile of a record and its name in `withheld`.
type NamedPercentile<'a> = (Option<&'a Stat>, &'static str);

/// The answer's p50 and p99 from the intended start, with their names in `withheld`: the corrected
/// latency of an open-loop scenario (what its completion is counted beside), k6's own otherwise.
fn answer_percentiles(s: &ScenarioResult) -> (NamedPercentile<'_>, NamedPercentile<'_>) {
    match &s.open_loop {
        Some(open) => (
            (open.corrected_p50_ms.as_ref(), "corrected_p50_ms"),
            (open.corrected_p99_ms.as_ref(), "corrected_p99_ms"),
        ),
        None => ((s.p50_ms.as_ref(), "p50_ms"), (s.p99_ms.as_ref(), "p99_ms")),
    }
}

/// CPU per request of each part, from the resource samples over the measured windows (issue 18's
/// figure, as `results.json` holds it). Pooled capacity steps are left out, as in the headline.
fn cost_section(page: &mut Page, results: &Results) {
    let scenarios: Vec<(&String, &ScenarioResult)> = results
        .scenarios
        .iter()
        .filter(|(name, _)| !pooled_over_steps(results, name))
        .collect();
    if scenarios.is_empty() {
        return;
    }
    let mut markup = html!("<h2>Cost per request</h2>");
    markup.push(html!(r#"<p class="note">CPU-µs per completed request over the measured windows, from the sampler's /proc readings: the system (services and PostgreSQL, its exited workers included) and k6 apart. k6 and the system share the machine's cores unless --cpus pins them apart. Shown only when the system spent at least 1 s of CPU in every repeat: /proc counts CPU in ticks of 10 ms per process, so a smaller figure is mostly rounding; a part that spent less than that in some repeat reads "under 100 ticks".</p>"#));
    markup.push(html!(
        "<table><tr><th>scenario</th><th>system</th><th>services</th><th>PostgreSQL</th><th>k6</th></tr>"
    ));
    for (name, s) in scenarios {
        markup.push(html!("<tr><td><b>{}</b> {}</td>", name, Scenario::title_of(name)));
        match &s.cost {
            Some(cost) => {
                for (part, stat) in [
                    ("system", &cost.system_us),
                    (Cost::SERVICES, &cost.services_us),
                    (Cost::DATABASE, &cost.database_us),
                    (Cost::GENERATOR, &cost.generator_us),
                ] {
                    if cost.is_under_ticks(part) {
                        markup.push(html!(r#"<td class="note">{}</td>"#, UNDER_TICKS));
                    } else {
                        markup.push(html!("<td>{}</td>", stat_cell(stat, 1.0)));
                    }
                }
            }
            None => markup.push(html!(
                r#"<td colspan="4" style="text-align:left">{}</td>"#,
                percentile_cell(None, COST_FIGURE, &s.withheld)
            )),
        }
        markup.push(html!("</tr>"));
    }
    markup.push(html!("</table>"));
    page.html(markup);
}

/// A headline percentile's cell: k6's, or, in an open-loop scenario, the corrected one with k6's
/// beside it (issue 30: the corrected latency is the one judged).
fn headline_latency_cell(s: &ScenarioResult, figure: &str, plain: Option<&Stat>) -> Markup {
    let plain_cell = percentile_cell(plain, figure, &s.withheld);
    let Some(open) = &s.open_loop else {
        return plain_cell;
    };
    let corrected_figure = format!("corrected_{figure}");
    let corrected = match figure {
        "p50_ms" => &open.corrected_p50_ms,
        "p90_ms" => &open.corrected_p90_ms,
        "p99_ms" => &open.corrected_p99_ms,
        _ => &open.corrected_p999_ms,
    };
    html!(
        r#"{} <span class="ci">k6: {}</span>"#,
        percentile_cell(corrected.as_ref(), &corrected_figure, &s.withheld),
        plain_cell
    )
}

/// The arrival-rate scenarios of a run that is not a capacity run: where their arrivals went, how
/// late k6 started them, and their latency from the intended start beside k6's own.
fn open_loop_section(page: &mut Page, results: &Results) {
    let open: Vec<(&String, &ScenarioResult)> = results
        .scenarios
        .iter()
        .filter(|(name, s)| s.open_loop.is_some() && !pooled_over_steps(results, name))
        .collect();
    if open.is_empty() {
        return;
    }
    let mut markup = html!("<h2>Open loop: arrivals, schedule lag and corrected latency</h2>");
    markup.push(html!(r#"<p class="note">Arrivals of each repeat: scheduled (rate × duration, as the script plans them) = completed + failed + dropped (no free VU) + interrupted (unanswered when the run ended). Lag: how late k6 started an iteration behind its plan; over max(1 ms, 5 % of the SLO) at p99 the generator, not the system, set the pace. Corrected: latency from the intended start (wrk2's measure), beside k6's, which starts when the request was sent. Latency in ms; "–": too few samples.</p>"#));
    markup.push(html!(
        "<table><tr><th>scenario</th><th>repeat</th><th>scheduled</th><th>completed</th><th>failed</th><th>dropped</th>\
         <th>interrupted</th><th>adds up</th></tr>"
    ));
    for (name, s) in &open {
        for a in s.open_loop.iter().flat_map(|open| &open.accounting) {
            markup.push(html!(
                "<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                name,
                a.repeat,
                count(a.scheduled),
                count(a.completed),
                count(a.failed),
                count(a.dropped),
                count(a.interrupted),
                if a.closes() { "✓" } else { "✗" }
            ));
        }
    }
    markup.push(html!("</table>"));
    markup.push(html!(
        "<table><tr><th>scenario</th><th>lag p50</th><th>lag p99</th><th>lag max</th><th>lag allowed</th>\
         <th>k6 p50</th><th>k6 p99</th><th>corrected p50</th><th>corrected p99</th><th>corrected p99.9</th>\
         <th>generator-limited</th></tr>"
    ));
    for (name, s) in &open {
        let Some(o) = &s.open_loop else { continue };
        let cell = |figure: &str, stat: &Option<Stat>| percentile_cell(stat.as_ref(), figure, &s.withheld);
        markup.push(html!(
            "<tr><td><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            name,
            cell("lag_p50_ms", &o.lag_p50_ms),
            cell("lag_p99_ms", &o.lag_p99_ms),
            stat_cell(&o.lag_max_ms, 1.0),
            allowed_lag(o),
            cell("p50_ms", &s.p50_ms),
            cell("p99_ms", &s.p99_ms),
            cell("corrected_p50_ms", &o.corrected_p50_ms),
            cell("corrected_p99_ms", &o.corrected_p99_ms),
            cell("corrected_p999_ms", &o.corrected_p999_ms),
            if o.generator_limited { "yes" } else { "no" }
        ));
    }
    markup.push(html!("</table>"));
    page.html(markup);
}

fn scenario_section(page: &mut Page, name: &str, scenario: &ScenarioResult, results: &Results) {
    let repeats = results.repeats;
    let pooled = pooled_over_steps(results, name);
    page.html(html!("<h2>{} {}</h2>", name, Scenario::title_of(name)));
    if let Some(fixed) = &scenario.fixed_work {
        page.html(html!(
            "<p>Fixed work: {} reports in {} s.</p>",
            fixed.reports,
            stat_cell(&fixed.seconds, 1.0)
        ));
    }
    page.grid(false);
    if !pooled {
        percentiles_chart(page, name, scenario, repeats);
    }
    page.chart(
        &format!("{name}-timeline"),
        Chart::Xy(timeline_plot(name, scenario)),
        "Per second of each measured run: requests completed (solid, left) and their p99 (dashed, right); in a second with fewer than 1,000 requests, which cannot support a p99, their slowest (dotted) instead.",
    );
    page.chart(
        &format!("{name}-cpu"),
        Chart::Bar(cpu_bars(name, scenario)),
        "Mean CPU of each process within this scenario's measured windows, averaged over the repeats.",
    );
    page.end_grid();
    if let Some(hops) = &scenario.hops {
        hops_table(page, hops);
    }
}

/// The scenario's latency by percentile, pooled over its repeats (not shown for capacity runs).
fn percentiles_chart(page: &mut Page, name: &str, scenario: &ScenarioResult, repeats: u32) {
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
}

/// A server-side p99 and, under it, the histogram bucket it was interpolated in, where it is known
/// only to lie.
fn hop_p99_cell(p99_ms: f64, bucket: Option<Bucket>) -> Markup {
    match bucket {
        Some(Bucket { from_ms, to_ms }) => html!(
            r#"{}<br><span class="ci">in {}–{}</span>"#,
            number(p99_ms),
            number(from_ms),
            to_ms.map_or("∞".to_owned(), number)
        ),
        None => html!("{}", number(p99_ms)),
    }
}

/// Where the time of the entry request went, hop by hop, from the services' metrics.
fn hops_table(page: &mut Page, hops: &Hops) {
    let mut markup = html!(
        "<h3>Where the time went (server side, {})</h3><table><tr><th>hop</th><th>calls</th><th>mean ms</th><th>p99 ms</th></tr>",
        hops.service
    );
    markup.push(html!(
        "<tr><td>{} end to end</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        hops.service,
        hops.end_to_end.count,
        number(hops.end_to_end.mean_ms),
        hop_p99_cell(hops.end_to_end.p99_ms, hops.end_to_end.p99_bucket)
    ));
    for hop in &hops.downstream {
        markup.push(html!(
            "<tr><td>→ {} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            hop.server,
            hop.route,
            hop.count,
            number(hop.mean_ms),
            hop_p99_cell(hop.p99_ms, hop.p99_bucket)
        ));
    }
    if let Some(wait) = &hops.pool_wait {
        markup.push(html!(
            "<tr><td>waiting for a database connection</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            wait.count,
            number(wait.mean_ms),
            hop_p99_cell(wait.p99_ms, wait.p99_bucket)
        ));
    }
    markup.push(html!("</table>"));
    markup.push(html!(r#"<p class="note">Server-side p99s are interpolated within the services' histogram buckets, as Prometheus's histogram_quantile does; under each, the bucket it lies in. The true p99 is only known to lie within it, so the end-to-end p99 can read above k6's p99 for the same requests by up to its bucket's width, never by more.</p>"#));
    page.html(markup);
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
        let points: Vec<_> = scenario.timeline.iter().filter(|p| p.repeat == *repeat).collect();
        let rate = points
            .iter()
            .map(|p| [p.t_s - start, p.requests as f64])
            .collect();
        let p99 = points
            .iter()
            .filter_map(|p| Some([p.t_s - start, p.p99_ms?]))
            .collect();
        // A second too small for a p99 shows its slowest request, drawn apart.
        let slowest: Vec<_> = points
            .iter()
            .filter(|p| p.p99_ms.is_none())
            .filter_map(|p| Some([p.t_s - start, p.max_ms?]))
            .collect();
        series.push(Series::line(format!("requests/s, repeat {repeat}"), rate, i));
        series.push(
            Series::line(format!("p99 ms, repeat {repeat}"), p99, i)
                .on_right()
                .dashed(),
        );
        if !slowest.is_empty() {
            series.push(
                Series::line(
                    format!("slowest ms (under 1,000 requests), repeat {repeat}"),
                    slowest,
                    i,
                )
                .on_right()
                .dots(),
            );
        }
    }
    Xy {
        title: format!("{name}: throughput and p99 (or slowest) over time"),
        x: Axis::new("seconds into the measured run", Scale::Linear),
        y: Axis::new("requests per second", Scale::Linear),
        y2: Some(Axis::new("p99 or slowest, ms", Scale::Linear)),
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

/// A step's p99 as text: the figure, or "–" with its slowest request where too few samples.
fn step_p99(step: &Step) -> String {
    match (step.p99_ms, step.max_ms) {
        (Some(p99), _) => number(p99),
        (None, Some(max)) => format!("– (max {})", number(max)),
        (None, None) => "–".into(),
    }
}

/// An optional per-step figure, "–" with the reason when withheld.
fn step_figure(value: Option<f64>, figure: &str, withheld: &[Withheld]) -> String {
    value.map_or_else(|| format!("– ({})", withheld_reason(figure, withheld)), number)
}

/// "N/s" sustained, or "at least N/s" when the generator's ceiling was reached or the ladder stopped
/// at a step not measurable here.
pub fn sustained_text(capacity: &Capacity) -> String {
    match (capacity.sustained_rate, capacity.beyond_generator) {
        (None, _) if capacity.sustained_at_least => {
            "not measurable here from the first step (the generator was late, or a deferred step's work could not be seen)".into()
        }
        (None, _) => "none: the first step already failed".into(),
        (Some(rate), false) if capacity.sustained_at_least => format!(
            "at least {}/s: the step above it was not measurable here (the generator was late, or its work could not be seen)",
            number(rate)
        ),
        (Some(rate), true) => format!(
            "at least {}/s, beyond what this machine's generator offers (its ceiling: {}/s)",
            number(rate),
            capacity.generator_ceiling_per_s.map_or("?".into(), number)
        ),
        (Some(rate), false) => format!("{}/s", number(rate)),
    }
}

fn capacity_section(page: &mut Page, name: &str, capacity: &Capacity, scenario: Option<&ScenarioResult>) {
    page.html(html!(
        "<h2>{} {}: capacity</h2><p>Sustained rate: <b>{}</b> (the highest step with p99 within {} ms, or its slowest request \
         within it where the step has under 1,000 requests, no unexpected failure, no dropped and no interrupted iteration, \
         every lower step as well; the lowest over the repeats). An open-loop step is judged on its corrected p99 (from each \
         arrival's intended start, drops counted), k6's beside it; a step whose generator was late is neither ok nor failed \
         but not measurable here (?), and the rate below it a lower bound. A step of a scenario the contract defers (its \
         answer an acknowledgement) is judged on its work instead: its answers accepted, completions per second at least \
         98 % of the offered rate, the completion p99 (or its slowest) within the SLO, and a backlog that did not grow; \
         without completion figures it is not measurable here.</p>",
        name,
        Scenario::title_of(name),
        sustained_text(capacity),
        number(capacity.slo_p99_ms),
    ));
    if !capacity.passed_by_rate.is_empty() {
        let passed: Vec<String> = capacity
            .passed_by_rate
            .iter()
            .map(|at| format!("{}/s in {} of {}", number(at.rate), at.ok, at.repeats))
            .collect();
        page.html(html!("<p>Repeats ok at each rate: {}.</p>", passed.join(", ")));
    }
    page.html(capacity_steps_table(capacity));
    page.grid(false);
    page.wide_chart(
        &format!("{name}-capacity"),
        Chart::Xy(Xy {
            title: format!("{name}: offered against achieved rate, and p99"),
            x: Axis::new("offered, requests per second", Scale::Linear),
            y: Axis::new("achieved, requests per second", Scale::Linear),
            y2: Some(Axis::new("p99, ms (log)", Scale::Log)),
            series: capacity_series(capacity),
            bands: vec![],
            marks: capacity_marks(capacity),
            legend: true,
        }),
        "Each dot is one step of the rate ladder. The green line marks the sustained rate, the red one the p99 objective, the grey one the generator's ceiling on this machine when known.",
    );
    if let Some(scenario) = scenario {
        page.wide_chart(
            &format!("{name}-backlog"),
            Chart::Xy(backlog_chart::backlog_plot(name, capacity, scenario)),
            "Per second: the rate offered (each step's, dashed), the answers as expected, the work completed and the backlog (right axis): accepted answers whose work was not done yet. Completed and backlog are estimated from the traced requests, scaled to every accepted answer; a backlog rising through a step is work the system does not keep up with.",
        );
    }
    page.end_grid();
}

/// One row per step of every repeat: each figure that decided whether the step was sustained.
fn capacity_steps_table(capacity: &Capacity) -> Markup {
    let mut markup = html!(
        "<table><tr><th>repeat</th><th>offered/s</th><th>achieved/s</th><th>k6 p99 ms</th><th>lag p99 ms</th>\
         <th>corrected p99 ms</th><th>completion p99 ms</th><th>completed/s</th><th>backlog slope/s</th><th>scheduled</th><th>completed</th><th>failed</th><th>dropped</th><th>interrupted</th>\
         <th>max VUs</th><th>k6 CPU %</th><th>generator-limited</th><th>ok</th></tr>",
    );
    for s in &capacity.steps {
        let schedule = s.schedule.as_ref();
        let accounting = |pick: fn(&record::Accounting) -> u64| {
            s.accounting.as_ref().map_or("–".into(), |a| count(pick(a)))
        };
        markup.push(html!("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.repeat,
            number(s.rate),
            number(s.achieved_per_s),
            step_p99(s),
            schedule.map_or("–".into(), |sc| step_figure(sc.lag_p99_ms, "lag_p99_ms", &s.withheld)),
            schedule.map_or("–".into(), |sc| step_figure(sc.corrected_p99_ms, "corrected_p99_ms", &s.withheld)),
            step_completion_cells(s),
            accounting(|a| a.scheduled),
            accounting(|a| a.completed),
            s.unexpected_failures,
            s.dropped_iterations,
            accounting(|a| a.interrupted),
            s.max_vus,
            number(s.k6_cpu_percent),
            if s.generator_limited { "yes" } else { "no" },
            step_verdict_text(s),
        ));
    }
    markup.push(html!("</table>"));
    markup
}

/// A step's verdict for the table, and what it judged.
fn step_verdict_text(step: &Step) -> String {
    let judged = match step.judged_on {
        Some(record::JudgedLatency::Corrected) => " (corrected)",
        Some(record::JudgedLatency::Completion) => " (completion)",
        _ => "",
    };
    match step.verdict() {
        record::StepVerdict::Ok => format!("✓{judged}"),
        record::StepVerdict::Failed => format!("✗{judged}"),
        record::StepVerdict::NotMeasurable => match &step.not_measurable_because {
            Some(why) => format!("? not measurable here: {why}"),
            None => "? not measurable here".into(),
        },
    }
}

/// A deferred step's completion p99 (its slowest, "at least" where a trace was still receiving),
/// completions per second and backlog slope, as three cells; "–" in each for any other step.
fn step_completion_cells(step: &Step) -> Markup {
    let Some(completion) = &step.completion else {
        return html!("<td>–</td><td>–</td><td>–</td>");
    };
    let bound = if completion.at_least { "≥ " } else { "" };
    let p99 = match (completion.p99_ms, completion.max_ms) {
        (Some(p99), _) => format!("{bound}{}", number(p99)),
        (None, Some(max)) => format!("– (max {bound}{})", number(max)),
        (None, None) => "–".into(),
    };
    let slope = match (completion.backlog_slope_per_s, completion.backlog_grew) {
        (Some(slope), Some(true)) => format!("{} (grew)", number(slope)),
        (Some(slope), _) => number(slope),
        _ => "–".into(),
    };
    html!(
        "<td>{}</td><td>{}</td><td>{}</td>",
        p99,
        completion.completions_per_s.map_or("–".into(), number),
        slope,
    )
}

/// The capacity chart's lines: achieved rate and p99 against the offered rate, per repeat, and
/// the diagonal where achieved equals offered.
fn capacity_series(capacity: &Capacity) -> Vec<Series> {
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
                format!("p99 ms (slowest where too few), repeat {repeat}"),
                steps
                    .iter()
                    .filter_map(|s| Some([s.rate, s.p99_ms.or(s.max_ms)?]))
                    .collect(),
                i + 3,
            )
            .on_right()
            .dashed()
            .dots(),
        );
    }
    series
}

/// The capacity chart's marks: the p99 objective, and the sustained rate and the generator's
/// ceiling where known.
fn capacity_marks(capacity: &Capacity) -> Vec<Mark> {
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
    if let Some(ceiling) = capacity.generator_ceiling_per_s {
        marks.push(Mark {
            x: Some(ceiling),
            y: None,
            axis: "y",
            label: format!("generator ceiling {}/s", number(ceiling)),
            color: "#555",
        });
    }
    marks
}

/// The figures `stack bench` prints at its end: per scenario, mean ± half the 95 % interval, "–"
/// for a percentile too few samples support; a capacity run's steps by their sustained rate only.
pub fn summary(results: &Results) -> String {
    use std::fmt::Write as _;
    let show = |stat: &Stat| match stat.ci95 {
        Some([low, high]) => format!("{:.2} ±{:.2}", stat.mean, (high - low) / 2.0),
        None => format!("{:.2}", stat.mean),
    };
    let percentile = |stat: &Option<Stat>, figure: &str, withheld: &[Withheld]| {
        stat.as_ref()
            .map_or_else(|| format!("– ({})", withheld_reason(figure, withheld)), show)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<4} {:>16} {:>16} {:>20} {:>20} {:>20} {:>8} {:>8}",
        "", "requests", "rate/s", "p50 ms", "p99 ms", "p99.9 ms", "failed", "dropped"
    );
    for (name, scenario) in &results.scenarios {
        if pooled_over_steps(results, name) {
            continue;
        }
        let _ = writeln!(
            out,
            "{name:<4} {:>16} {:>16} {:>20} {:>20} {:>20} {:>8} {:>8}",
            show(&scenario.requests),
            show(&scenario.rate_per_s),
            percentile(&scenario.p50_ms, "p50_ms", &scenario.withheld),
            percentile(&scenario.p99_ms, "p99_ms", &scenario.withheld),
            percentile(&scenario.p999_ms, "p999_ms", &scenario.withheld),
            scenario.unexpected_failures.runs.iter().sum::<f64>(),
            scenario.dropped_iterations.runs.iter().sum::<f64>(),
        );
        if let Some(open) = &scenario.open_loop {
            let _ = writeln!(
                out,
                "     lag p99 {} (allowed {}), corrected p99 {}, interrupted {}{}",
                percentile(&open.lag_p99_ms, "lag_p99_ms", &scenario.withheld),
                allowed_lag(open),
                percentile(&open.corrected_p99_ms, "corrected_p99_ms", &scenario.withheld),
                open.accounting.iter().map(|a| a.interrupted).sum::<u64>(),
                if open.generator_limited {
                    " (generator-limited)"
                } else {
                    ""
                }
            );
        }
        if let Some(line) = completion_line(scenario) {
            let _ = writeln!(out, "     {line}");
        }
    }
    for (name, capacity) in results.capacity.iter().flatten() {
        let _ = writeln!(
            out,
            "{name}: sustained {} within p99 <= {} ms{}",
            sustained_text(capacity),
            number(capacity.slo_p99_ms),
            if capacity.generator_limited {
                " (generator-limited steps)"
            } else {
                ""
            }
        );
    }
    for warning in &results.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// The completion of a scenario with traced requests, in one line of the terminal summary.
fn completion_line(scenario: &ScenarioResult) -> Option<String> {
    let c = scenario.completion.as_ref()?;
    let head = format!(
        "traced {}, untraced {}",
        number(c.traced.mean),
        number(c.untraced.mean)
    );
    if let Some(why) = &c.withheld_because {
        return Some(format!("{head}; completion withheld: {why}"));
    }
    let p = |figure: &str, stat: &Option<Stat>| match stat {
        Some(_) => crate::page::completion_text(c, figure, stat.as_ref()),
        None => format!(
            "– ({})",
            withheld_reason(&format!("completion_{figure}"), &scenario.withheld)
        ),
    };
    Some(format!(
        "{head}; completion p50 {} ms, p99 {} ms, completed {} %, {} /s",
        p("p50_ms", &c.p50_ms),
        p("p99_ms", &c.p99_ms),
        c.completed_fraction
            .as_ref()
            .map_or("–".into(), |f| number(f.mean * 100.0)),
        c.completions_per_s
            .as_ref()
            .map_or("–".into(), |f| number(f.mean)),
    ))
}

/// Small multiples, one per process: CPU (solid, left) and resident memory (dashed, right) over
/// each repeat, the scenarios' measured windows shaded.
fn resources_section(page: &mut Page, run: &RunRecord) {
    page.html(html!("<h2>CPU and memory of every process</h2>"));
    if run.resources.is_empty() {
        page.html(html!("<p>No <code>resources.csv</code> in this run.</p>"));
        return;
    }
    page.html(html!(
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
        stack_system::proc::POSTGRES => 1,
        stack_system::proc::K6 => 2,
        _ => 0,
    });
    order
}

/// The lag p99 an open-loop run was allowed, and by which rule: above k6's calibrated floor
/// (docs/generator.md), or the SLO's lag limit where no floor was known.
fn allowed_lag(open: &OpenLoop) -> String {
    match open.lag_judgement.as_ref() {
        Some(judgement) if judgement.rule == LagRule::AboveFloor => format!(
            "{} ms (k6's floor p99 {} ms + 5 % of the corrected p99)",
            number(open.allowed_lag_ms()),
            judgement.floor_p99_ms.map_or("?".into(), number)
        ),
        _ => format!(
            "{} ms (5 % of the SLO, at least 1 ms)",
            number(open.allowed_lag_ms())
        ),
    }
}
