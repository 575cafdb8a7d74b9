//! The comparison as `stack compare` prints it: per scenario, the headline figures and each
//! process's CPU and memory, in columns aligned for the terminal.

use std::fmt::{self, Write as _};

use super::{Comparison, Row, RULE};
use crate::{
    scenario::Scenario,
    study::{page::number, record::Stat},
};

/// `2.61 ±0.21`: the mean and the half-width of its 95 % interval.
fn text_cell(stat: Option<&Stat>, scale: f64) -> String {
    match stat {
        None => "–".into(),
        Some(stat) => match stat.ci95 {
            Some([low, high]) => format!(
                "{} ±{}",
                number(stat.mean * scale),
                number((high - low) / 2.0 * scale)
            ),
            None => number(stat.mean * scale),
        },
    }
}

/// B/A for the terminal: the mark, or as much space, so the column stays aligned.
fn text_ratio(row: &Row) -> String {
    let ratio = row.ratio_text();
    if row.verdict.beyond_noise() {
        ratio
    } else {
        ratio + "  "
    }
}

/// Columns aligned, the first to the left and the figures to the right.
fn write_table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: Vec<Vec<String>>) -> fmt::Result {
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
        for (i, cell) in row.iter().enumerate() {
            let width = widths[i];
            if i == 0 {
                let _ = write!(line, " {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The table `stack compare` prints.
impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "A = {}", self.a)?;
        writeln!(f, "B = {}", self.b)?;
        writeln!(
            f,
            "figures: mean ±half-width of its 95 % interval; CPU: mean % of one core; RSS: peak"
        )?;
        writeln!(f, "{RULE}")?;
        for scenario in &self.scenarios {
            writeln!(
                f,
                "\n{} {}",
                scenario.scenario,
                Scenario::title_of(&scenario.scenario)
            )?;
            let headline = scenario.headline().into_iter().map(|row| {
                vec![
                    row.figure.label(),
                    text_cell(row.a.as_ref(), row.figure.scale()),
                    text_cell(row.b.as_ref(), row.figure.scale()),
                    text_ratio(row),
                ]
            });
            write_table(f, &["figure", "A", "B", "B/A"], headline.collect())?;
            let by_process = scenario.by_process().into_iter().map(|(cpu, rss)| {
                vec![
                    cpu.figure.process().unwrap_or_default().to_string(),
                    text_cell(cpu.a.as_ref(), cpu.figure.scale()),
                    text_cell(cpu.b.as_ref(), cpu.figure.scale()),
                    text_ratio(cpu),
                    text_cell(rss.a.as_ref(), rss.figure.scale()),
                    text_cell(rss.b.as_ref(), rss.figure.scale()),
                    text_ratio(rss),
                ]
            });
            let header = [
                "process",
                "CPU % A",
                "CPU % B",
                "B/A",
                "RSS MiB A",
                "RSS MiB B",
                "B/A",
            ];
            write_table(f, &header, by_process.collect())?;
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
