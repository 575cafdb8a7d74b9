//! The comparison as an HTML page: per scenario, both runs' latency distributions overlaid, their
//! CPU by process side by side, and the comparison's tables.

use super::{Comparison, Figure, Row, ScenarioComparison, RULE};
use crate::{
    scenario::Scenario,
    study::{
        page::{
            distribution_points, html, percentile_plot, stat_cell, Bar, BarSeries, Chart, Markup, Page,
            Series,
        },
        record::{Results, Stat},
    },
};

pub(super) fn render(comparison: &Comparison, a: &Results, b: &Results) -> String {
    let mut page = Page::new("stack comparison");
    page.html(html!(
        r#"<h1>Comparison</h1><p class="subtitle"><b>A</b> = {}<br><b>B</b> = {}</p><p class="note">Each cell: the mean over the repeats, its 95 % interval in brackets. B/A is B's mean over A's, marked <span class="beyond">*</span> when {}.</p>"#,
        comparison.a,
        comparison.b,
        RULE.trim_start_matches("beyond the noise (*): "),
    ));
    if !comparison.only_in_a.is_empty() || !comparison.only_in_b.is_empty() {
        let mut markup = html!(r#"<div class="warnings"><b>Not compared</b><ul>"#);
        for (side, names) in [("A", &comparison.only_in_a), ("B", &comparison.only_in_b)] {
            if !names.is_empty() {
                markup.push(html!("<li>only in {}: {}</li>", side, names.join(", ")));
            }
        }
        markup.push(html!("</ul></div>"));
        page.html(markup);
    }
    for scenario in &comparison.scenarios {
        let name = &scenario.scenario;
        let (Some(sa), Some(sb)) = (a.scenarios.get(name), b.scenarios.get(name)) else {
            continue;
        };
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
        let cpu_rows: Vec<&Row> = scenario
            .rows
            .iter()
            .filter(|r| matches!(r.figure, Figure::Cpu(_)))
            .collect();
        let mean = |stat: &Option<Stat>| stat.as_ref().map_or(0.0, |s| s.mean);
        page.chart(
            &format!("{name}-cpu"),
            Chart::Bar(Bar {
                title: format!("{name}: mean CPU by process, A and B"),
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
            }),
            "Within each scenario's measured windows, averaged over the repeats.",
        );
        page.end_grid();
        page.html(tables(scenario));
    }
    page.finish()
}

/// A scenario's figures as two HTML tables: the headline figures, and CPU and memory by process.
fn tables(scenario: &ScenarioComparison) -> Markup {
    let cell = |row: &Row, stat: &Option<Stat>| {
        stat.as_ref()
            .map_or(html!("–"), |s| stat_cell(s, row.figure.scale()))
    };
    let ratio = |row: &Row| {
        if row.verdict.beyond_noise() {
            html!(r#"<td class="beyond">{}</td>"#, row.ratio_text())
        } else {
            html!("<td>{}</td>", row.ratio_text())
        }
    };
    let mut markup =
        html!(r#"<div class="tables"><table><tr><th>figure</th><th>A</th><th>B</th><th>B/A</th></tr>"#,);
    for row in scenario.headline() {
        markup.push(html!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            row.figure.label(),
            cell(row, &row.a),
            cell(row, &row.b),
            ratio(row)
        ));
    }
    markup.push(html!(
        "</table><table><tr><th>process</th><th>CPU % A</th><th>CPU % B</th><th>B/A</th>\
         <th>RSS MiB A</th><th>RSS MiB B</th><th>B/A</th></tr>",
    ));
    for (cpu, rss) in scenario.by_process() {
        markup.push(html!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td>{}</tr>",
            cpu.figure.process().unwrap_or_default(),
            cell(cpu, &cpu.a),
            cell(cpu, &cpu.b),
            ratio(cpu),
            cell(rss, &rss.a),
            cell(rss, &rss.b),
            ratio(rss)
        ));
    }
    markup.push(html!("</table></div>"));
    markup
}
