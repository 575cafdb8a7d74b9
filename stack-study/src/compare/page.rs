//! The comparison as an HTML page: a mismatch of the records at the very top, the design and its
//! rule, the findings, each run's warnings and drifts, then per scenario both runs' latency
//! distributions overlaid, their CPU by process side by side and the comparison's tables, and the
//! capacity results.

use super::{
    capacity::{step_p99_text, CapacityComparison, FAILED_STEP},
    comparison::{two_decimals, Comparison, Figure, Observed, Pairing, Row, ScenarioComparison},
    table::{memory_basis, missing_notes, rule, MISMATCH_TITLE, NO_PROCESS_SAMPLES},
};
use stack_record::{Results, ScenarioResult};

use crate::{
    inference::Trend,
    page::{
        distribution_points, html, number, percentile_plot, stat_cell, Bar, BarSeries, Chart, Markup, Page,
        Series, UNDER_TICKS,
    },
    scenario::Scenario,
};

pub(super) fn render(comparison: &Comparison, a: &Results, b: &Results) -> String {
    let mut page = Page::new("stack comparison");
    if !comparison.mismatches.is_empty() {
        // Loud on purpose: whatever follows may be the set-up's difference, not the systems'.
        page.html(list(
            html!(
                r#"<div class="warnings" id="mismatch" style="background:#fde2e2;border:3px solid #b00;font-size:16px"><b style="color:#b00">{}</b>"#,
                MISMATCH_TITLE
            ),
            comparison.mismatches.iter().map(ToString::to_string).collect(),
        ));
    }
    page.html(html!(
        r#"<h1>Comparison</h1><p class="subtitle"><b>A</b> = {}, contract {}<br><b>B</b> = {}, contract {}</p>"#,
        comparison.a.label,
        comparison.a.contract,
        comparison.b.label,
        comparison.b.contract,
    ));
    let design = html!("<b>Design:</b> {}", comparison.pairing.describe());
    page.html(match comparison.pairing {
        Pairing::Separate => html!(r#"<div class="warnings" id="design">{}</div>"#, design),
        Pairing::Interleaved { .. } => html!(r#"<p class="note" id="design">{}</p>"#, design),
    });
    page.html(html!(
        r#"<p class="note">Each cell: the mean over the repeats, its 95 % interval below it. B/A: the estimate of the design above, with its interval at the level Holm's correction tested the row at (at least 95 %). {}</p>"#,
        rule(comparison)
    ));
    findings_section(&mut page, comparison);
    caveats_section(&mut page, comparison);
    for scenario in &comparison.scenarios {
        let name = &scenario.scenario;
        let (Some(sa), Some(sb)) = (a.scenarios.get(name), b.scenarios.get(name)) else {
            continue;
        };
        scenario_section(&mut page, scenario, sa, sb);
    }
    for capacity in &comparison.capacity {
        page.html(capacity_table(capacity));
    }
    page.finish()
}

/// Each run's warnings, the drifts over the repeats and the scenarios only one run has: what may
/// make a figure below mean less than it says.
fn caveats_section(page: &mut Page, comparison: &Comparison) {
    for (side, run) in [("A", &comparison.a), ("B", &comparison.b)] {
        let items: Vec<String> = run.warnings.iter().map(ToString::to_string).collect();
        page.html(if items.is_empty() {
            html!(
                r#"<div class="warnings none">No warnings in {}'s record.</div>"#,
                side
            )
        } else {
            list(
                html!(r#"<div class="warnings"><b>Warnings of {}</b>"#, side),
                items,
            )
        });
    }
    let drifts: Vec<String> = comparison
        .drifts()
        .into_iter()
        .map(|(scenario, trend)| trend.describe(scenario))
        .collect();
    if !drifts.is_empty() {
        page.html(list(
            html!(r#"<div class="warnings" id="drifts"><b>Drifts over the repeats (Mann–Kendall)</b>"#),
            drifts,
        ));
    }
    if !comparison.only_in_a.is_empty() || !comparison.only_in_b.is_empty() {
        let mut items = Vec::new();
        for (side, names) in [("A", &comparison.only_in_a), ("B", &comparison.only_in_b)] {
            if !names.is_empty() {
                items.push(format!("only in {side}: {}", names.join(", ")));
            }
        }
        page.html(list(html!(r#"<div class="warnings"><b>Not compared</b>"#), items));
    }
}

/// One scenario both runs measured: their latency distributions overlaid, their CPU by process
/// side by side, then the comparison's tables.
fn scenario_section(
    page: &mut Page,
    scenario: &ScenarioComparison,
    sa: &ScenarioResult,
    sb: &ScenarioResult,
) {
    let name = &scenario.scenario;
    page.html(html!("<h2>{} {}</h2>", name, Scenario::title_of(name)));
    page.grid(false);
    page.chart(
        &format!("{name}-percentiles"),
        Chart::Xy(percentile_plot(
            &format!("{name}: latency by percentile, A and B"),
            vec![
                Series::line("A", distribution_points(sa), 0).dots(),
                Series::line("B", distribution_points(sb), 1).dots(),
            ],
        )),
        "Each run's distribution pooled over its repeats; each decade to the right is one more nine.",
    );
    page.chart(
        &format!("{name}-cpu"),
        Chart::Bar(cpu_bars(scenario)),
        "Within each scenario's measured windows, averaged over the repeats.",
    );
    page.end_grid();
    page.html(tables(scenario));
}

/// `opening` (a `<div>` with its title), the items as a list, and the `</div>`.
fn list(mut opening: Markup, items: Vec<String>) -> Markup {
    opening.push(html!("<ul>"));
    for item in items {
        opening.push(html!("<li>{}</li>", item));
    }
    opening.push(html!("</ul></div>"));
    opening
}

fn findings_section(page: &mut Page, comparison: &Comparison) {
    let findings = comparison.finding_sentences();
    if findings.is_empty() {
        page.html(html!(
            r#"<div class="warnings none" id="findings"><b>Findings:</b> no headline row differs beyond the noise and the tolerance.</div>"#
        ));
        return;
    }
    page.html(list(
        html!(r#"<div class="warnings none" id="findings"><b>Findings</b>"#),
        findings,
    ));
}

fn cpu_bars(scenario: &ScenarioComparison) -> Bar {
    let cpu_rows: Vec<&Row> = scenario
        .rows
        .iter()
        .filter(|r| matches!(r.figure, Figure::Cpu(_)))
        .collect();
    let mean = |observed: &Observed| observed.stat().map_or(0.0, |s| s.mean);
    Bar {
        title: format!("{}: mean CPU by process, A and B", scenario.scenario),
        labels: cpu_rows
            .iter()
            .map(|r| r.figure.process().unwrap_or_default().to_string())
            .collect(),
        series: vec![
            BarSeries {
                label: "A".into(),
                values: cpu_rows.iter().map(|r| mean(&r.a)).collect(),
                color: 0,
            },
            BarSeries {
                label: "B".into(),
                values: cpu_rows.iter().map(|r| mean(&r.b)).collect(),
                color: 1,
            },
        ],
        value_title: "% of one core".into(),
    }
}

fn cell(row: &Row, observed: &Observed) -> Markup {
    match observed {
        Observed::Recorded(stat) => stat_cell(stat, row.figure.scale()),
        Observed::Missing(why) if why == UNDER_TICKS => html!("{}", UNDER_TICKS),
        Observed::Missing(why) => html!(r#"<span title="{}">–</span>"#, why),
    }
}

fn ratio(row: &Row) -> Markup {
    if row.marked() {
        html!(r#"<td class="beyond">{}</td>"#, row.ratio_text())
    } else {
        html!("<td>{}</td>", row.ratio_text())
    }
}

/// A scenario's figures as two HTML tables: the judged headline rows, and CPU and memory by process.
fn tables(scenario: &ScenarioComparison) -> Markup {
    let mut markup = html!(
        r#"<div class="tables"><div><table class="headline"><tr><th>figure</th><th>A</th><th>B</th><th>B/A (Holm interval)</th><th>verdict</th></tr>"#,
    );
    if let Some(basis) = &scenario.basis {
        markup.push(html!(r#"<tr><td colspan="5" class="note">{}</td></tr>"#, basis));
    }
    let headline = scenario.headline();
    for row in &headline {
        let verdict = if row.marked() {
            html!(r#"<td class="beyond">{}</td>"#, row.verdict_text())
        } else {
            html!("<td>{}</td>", row.verdict_text())
        };
        markup.push(html!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}{}</tr>",
            row.figure.label(),
            cell(row, &row.a),
            cell(row, &row.b),
            ratio(row),
            verdict
        ));
    }
    markup.push(html!("</table>"));
    let mut notes = missing_notes(&headline);
    notes.extend(
        scenario
            .trends
            .iter()
            .filter(|trend| !matches!(trend.trend, Trend::Drift { .. }))
            .map(|trend| trend.describe(&scenario.scenario)),
    );
    for note in notes {
        markup.push(html!(r#"<p class="note">{}</p>"#, note));
    }
    markup.push(html!("</div>"));
    if scenario.by_process().is_empty() {
        markup.push(html!(r#"<p class="note">{}</p></div>"#, NO_PROCESS_SAMPLES));
        return markup;
    }
    markup.push(html!(
        "<table><tr><th>process</th><th>CPU % A</th><th>CPU % B</th><th>B/A</th>\
         <th>memory</th><th>MiB A</th><th>MiB B</th><th>B/A</th></tr>",
    ));
    for (cpu, rss) in scenario.by_process() {
        markup.push(html!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            cpu.figure.process().unwrap_or_default(),
            cell(cpu, &cpu.a),
            cell(cpu, &cpu.b),
            ratio(cpu),
            memory_basis(rss),
            cell(rss, &rss.a),
            cell(rss, &rss.b),
            ratio(rss)
        ));
    }
    markup.push(html!("</table></div>"));
    markup
}

fn capacity_table(capacity: &CapacityComparison) -> Markup {
    let mut markup = html!(
        r#"<h2>{} capacity</h2><p class="note">The sustained rate is the highest step rate within the SLO with every lower step within it too, the lowest over each run's repeats: shown as it is, not tested. {}</p><div class="tables"><table><tr><th></th><th>A</th><th>B</th><th>B/A</th></tr><tr><td>sustained /s</td><td>{}</td><td>{}</td><td>{}</td></tr><tr><td>SLO p99 ms</td><td>{}</td><td>{}</td><td></td></tr><tr><td>generator-limited steps</td><td>{}</td><td>{}</td><td></td></tr></table>"#,
        capacity.scenario,
        FAILED_STEP,
        capacity.sustained_text(0),
        capacity.sustained_text(1),
        two_decimals(capacity.sustained_ratio()),
        number(capacity.slo_p99_ms[0]),
        number(capacity.slo_p99_ms[1]),
        yes_no(capacity.generator_limited[0]),
        yes_no(capacity.generator_limited[1]),
    );
    markup.push(html!(
        "<table><tr><th>repeat</th><th>rate /s</th><th>p99 ms A</th><th>p99 ms B</th><th>B/A</th></tr>"
    ));
    for pair in &capacity.steps {
        markup.push(html!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            pair.repeat,
            number(pair.rate),
            step_p99_text(pair.a.as_ref()),
            step_p99_text(pair.b.as_ref()),
            two_decimals(pair.p99_ratio())
        ));
    }
    markup.push(html!("</table></div>"));
    markup
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
