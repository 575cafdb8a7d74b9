//! The comparison as `stack compare` prints it: any mismatch of the records first, the design and
//! the rule, the findings, each run's warnings and drifts, then per scenario the judged headline rows
//! and each process's CPU and memory, and the capacity results, in columns aligned for the terminal.

use std::fmt::{self, Write as _};

use super::{
    capacity::{step_p99_text, CapacityComparison, FAILED_STEP},
    comparison::{two_decimals, Comparison, Observed, Row, ScenarioComparison},
};
use stack_record::Stat;

use crate::{
    page::{number, UNDER_TICKS},
    scenario::Scenario,
};

/// `2.61 ±0.21`: the mean and the half-width of its 95 % interval; `–` when missing.
fn text_cell(observed: &Observed, scale: f64) -> String {
    match observed {
        Observed::Recorded(stat) => stat_text(stat, scale),
        // Too few ticks to be a figure: said as such, not as a dash that could mean "absent".
        Observed::Missing(why) if why == UNDER_TICKS => UNDER_TICKS.into(),
        Observed::Missing(_) => "–".into(),
    }
}

fn stat_text(stat: &Stat, scale: f64) -> String {
    match stat.ci95 {
        Some([low, high]) => format!(
            "{} ±{}",
            number(stat.mean * scale),
            number((high - low) / 2.0 * scale)
        ),
        None => number(stat.mean * scale),
    }
}

/// Columns aligned: `l` to the left, anything else to the right, one letter per column in `align`.
fn write_table(
    f: &mut fmt::Formatter<'_>,
    align: &str,
    header: &[&str],
    rows: Vec<Vec<String>>,
) -> fmt::Result {
    let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|row| row.get(i).map_or(0, |cell| cell.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::from(" ");
        for ((i, cell), align) in row.iter().enumerate().zip(align.chars()) {
            let width = widths[i];
            if align == 'l' {
                let _ = write!(line, " {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

fn write_list(f: &mut fmt::Formatter<'_>, title: &str, items: &[String]) -> fmt::Result {
    if items.is_empty() {
        return writeln!(f, "{title}: none");
    }
    writeln!(f, "{title}:")?;
    for item in items {
        writeln!(f, "  - {item}")?;
    }
    Ok(())
}

/// The rule the verdicts follow, in one paragraph.
pub(super) fn rule(comparison: &Comparison) -> String {
    format!(
        "headline rows (p50, p99, CPU per request, and throughput of closed-loop runs, of every \
         scenario) are one family: Holm's correction over all of them at {:.0} % family-wise, each \
         row's interval drawn at the level Holm tested it at; * marks B beyond the noise with its whole \
         interval beyond ±{pct} %, \"within tolerance\" an interval wholly inside ±{pct} % (TOST). A \
         verdict needs {} rounds on each side. A row where neither side varied is exact and not \
         tested. Other rows: B's mean over A's, no test.",
        comparison.criteria.alpha * 100.0,
        crate::inference::MIN_ROUNDS,
        pct = percent(comparison.criteria.min_effect),
    )
}

/// A fraction as a percentage, without decimals it does not have: 0.05 as `5`, 0.025 as `2.5`.
fn percent(fraction: f64) -> String {
    let percent = fraction * 100.0;
    if percent.fract() == 0.0 {
        format!("{percent:.0}")
    } else {
        format!("{}", (percent * 1000.0).round() / 1000.0)
    }
}

/// The first lines of a comparison of mismatched records.
pub(super) const MISMATCH_TITLE: &str = "MISMATCHED RECORDS, compared on --allow-mismatch or \
--allow-target-kinds: a difference below may be the set-up's, not the systems'";

/// The table `stack compare` prints.
impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.mismatches.is_empty() {
            let items: Vec<String> = self.mismatches.iter().map(ToString::to_string).collect();
            write_list(f, &format!("!!! {MISMATCH_TITLE}"), &items)?;
            writeln!(f)?;
        }
        writeln!(f, "A = {}", self.a.label)?;
        writeln!(f, "B = {}", self.b.label)?;
        writeln!(f, "contract of A: {}", self.a.contract)?;
        writeln!(f, "contract of B: {}", self.b.contract)?;
        writeln!(f, "design: {}", self.pairing.describe())?;
        writeln!(
            f,
            "figures: mean ±half-width of its 95 % interval; CPU: mean % of one core; memory: peak PSS \
             where both sides have it, else peak RSS"
        )?;
        writeln!(f, "{}\n", rule(self))?;
        write_list(f, "findings", &self.finding_sentences())?;
        for (side, run) in [("A", &self.a), ("B", &self.b)] {
            let items: Vec<String> = run.warnings.iter().map(ToString::to_string).collect();
            write_list(f, &format!("warnings of {side}"), &items)?;
        }
        let drifts: Vec<String> = self
            .drifts()
            .into_iter()
            .map(|(scenario, trend)| trend.describe(scenario))
            .collect();
        write_list(f, "drifts over the repeats (Mann–Kendall)", &drifts)?;
        for scenario in &self.scenarios {
            write_scenario(f, scenario)?;
        }
        for capacity in &self.capacity {
            write_capacity(f, capacity)?;
        }
        if !self.only_in_a.is_empty() {
            writeln!(f, "\nonly in A (not compared): {}", self.only_in_a.join(", "))?;
        }
        if !self.only_in_b.is_empty() {
            writeln!(f, "\nonly in B (not compared): {}", self.only_in_b.join(", "))?;
        }
        Ok(())
    }
}

fn write_scenario(f: &mut fmt::Formatter<'_>, scenario: &ScenarioComparison) -> fmt::Result {
    writeln!(
        f,
        "\n{} {}",
        scenario.scenario,
        Scenario::title_of(&scenario.scenario)
    )?;
    if let Some(basis) = &scenario.basis {
        writeln!(f, "   {basis}")?;
    }
    let headline = scenario.headline();
    let rows = headline.iter().map(|row| {
        vec![
            row.figure.label(),
            text_cell(&row.a, row.figure.scale()),
            text_cell(&row.b, row.figure.scale()),
            row.ratio_text(),
            row.verdict_text(),
        ]
    });
    write_table(
        f,
        "lrrrl",
        &["figure", "A", "B", "B/A (Holm interval)", "verdict"],
        rows.collect(),
    )?;
    for note in missing_notes(&headline) {
        writeln!(f, "   {note}")?;
    }
    for trend in &scenario.trends {
        if !matches!(trend.trend, crate::inference::Trend::Drift { .. }) {
            writeln!(f, "   note: {}", trend.describe(&scenario.scenario))?;
        }
    }
    if scenario.by_process().is_empty() {
        return writeln!(f, "   {NO_PROCESS_SAMPLES}");
    }
    let by_process = scenario.by_process().into_iter().map(|(cpu, rss)| {
        vec![
            cpu.figure.process().unwrap_or_default().to_string(),
            text_cell(&cpu.a, cpu.figure.scale()),
            text_cell(&cpu.b, cpu.figure.scale()),
            cpu.ratio_text(),
            memory_basis(rss).into(),
            text_cell(&rss.a, rss.figure.scale()),
            text_cell(&rss.b, rss.figure.scale()),
            rss.ratio_text(),
        ]
    });
    let header = [
        "process", "CPU % A", "CPU % B", "B/A", "memory", "MiB A", "MiB B", "B/A",
    ];
    write_table(f, "lrrrlrrr", &header, by_process.collect())
}

/// What a memory row compares: `PSS`, or `RSS` where a side has no PSS.
pub(super) fn memory_basis(row: &Row) -> &'static str {
    match row.figure {
        super::comparison::Figure::Pss(_) => "PSS",
        _ => "RSS",
    }
}

/// What stands in for the process table of a scenario shorter than a sampling interval.
pub(super) const NO_PROCESS_SAMPLES: &str =
    "no process was sampled within this scenario's measured windows (shorter than the sampling interval)";

/// `A p99 ms –: <why>` for every headline value that is not there.
pub(super) fn missing_notes(rows: &[&Row]) -> Vec<String> {
    rows.iter()
        .flat_map(|row| {
            [("A", &row.a), ("B", &row.b)]
                .into_iter()
                .filter_map(move |(side, observed)| {
                    observed
                        .reason()
                        .map(|why| format!("{side} {} –: {why}", row.figure.label()))
                })
        })
        .collect()
}

fn write_capacity(f: &mut fmt::Formatter<'_>, capacity: &CapacityComparison) -> fmt::Result {
    writeln!(
        f,
        "\n{} capacity: sustained rate A {} /s, B {} /s, B/A {} (the lowest over each run's repeats; \
         SLO p99 A {} ms, B {} ms; not tested){}",
        capacity.scenario,
        capacity.sustained_text(0),
        capacity.sustained_text(1),
        two_decimals(capacity.sustained_ratio()),
        number(capacity.slo_p99_ms[0]),
        number(capacity.slo_p99_ms[1]),
        match capacity.generator_limited {
            [false, false] => "",
            _ => "; the load generator limited some steps",
        }
    )?;
    let rows = capacity.steps.iter().map(|pair| {
        vec![
            pair.repeat.to_string(),
            number(pair.rate),
            step_p99_text(pair.a.as_ref()),
            step_p99_text(pair.b.as_ref()),
            two_decimals(pair.p99_ratio()),
        ]
    });
    write_table(
        f,
        "rrrrr",
        &["repeat", "rate /s", "p99 ms A", "p99 ms B", "B/A"],
        rows.collect(),
    )?;
    writeln!(f, "   {FAILED_STEP}")
}
