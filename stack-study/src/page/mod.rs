//! One self-contained HTML page with Chart.js charts, shared by the report and the comparison.
//!
//! A page is opened from disk, offline, months after the run, so it carries everything it needs:
//! the stylesheet, Chart.js (the pinned file in `vendor/`, see `vendor/README.md`), the drawing
//! script `report.js`, and the data of every chart as one JSON block. The Rust side decides what
//! to plot ([`Chart`] specs); `report.js` only turns each spec into a Chart.js chart.

use std::{collections::BTreeMap, fmt};

use serde::Serialize;

use stack_record::{needed_samples, Basis, Completion, ScenarioResult, Stat, Withheld, CPU_TICKS_PER_SECOND};

const STYLE: &str = include_str!("report.css");
const CHART_JS: &str = include_str!("vendor/chart.umd.min.js");
const DRAW_JS: &str = include_str!("report.js");

/// What a chart shows; serialised into the page for `report.js`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Chart {
    Xy(Xy),
    Bar(Bar),
}

/// Lines over an x axis, with an optional second y axis on the right.
#[derive(Debug, Clone, Serialize)]
pub struct Xy {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub y2: Option<Axis>,
    pub series: Vec<Series>,
    /// Shaded x ranges, labelled (a scenario's measured window).
    pub bands: Vec<Band>,
    /// Dashed marker lines, labelled (the sustained rate, an SLO).
    pub marks: Vec<Mark>,
    /// Whether to show the legend (small multiples explain their lines once, in a note).
    pub legend: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    pub title: String,
    pub scale: Scale,
}

impl Axis {
    pub fn new(title: impl Into<String>, scale: Scale) -> Self {
        Self {
            title: title.into(),
            scale,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    Linear,
    Log,
    /// x values are percentiles (0 ..< 100) drawn at 1/(1-p): HdrHistogram's percentile plot,
    /// where each decade of the axis is one more nine (p90, p99, p99.9, ...).
    Percentile,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub label: String,
    /// `y` or `y2`.
    pub axis: &'static str,
    pub points: Vec<[f64; 2]>,
    /// Index into the page's palette.
    pub color: usize,
    pub dashed: bool,
    /// Draw each point as a dot, not only the line (few, meaningful points such as rate steps).
    pub dots: bool,
}

impl Series {
    pub fn line(label: impl Into<String>, points: Vec<[f64; 2]>, color: usize) -> Self {
        Self {
            label: label.into(),
            axis: "y",
            points,
            color,
            dashed: false,
            dots: false,
        }
    }

    /// The same series on the right-hand axis.
    pub fn on_right(mut self) -> Self {
        self.axis = "y2";
        self
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    pub fn dots(mut self) -> Self {
        self.dots = true;
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    /// A vertical line at this x ...
    pub x: Option<f64>,
    /// ... or a horizontal one at this y, on `axis`.
    pub y: Option<f64>,
    pub axis: &'static str,
    pub label: String,
    pub color: &'static str,
}

/// Horizontal bars, one group per label.
#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    pub title: String,
    pub labels: Vec<String>,
    pub series: Vec<BarSeries>,
    pub value_title: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BarSeries {
    pub label: String,
    pub values: Vec<f64>,
    pub color: usize,
}

/// HTML written by [`html!`]: its literal is markup, and each of its arguments is text, escaped on
/// the way in, unless the argument is itself [`Markup`]. Values reach a page only this way, so none
/// goes in unescaped by being forgotten. (An argument named inside the literal, `{name}`, would go in
/// as it is: the page code passes every value as an argument.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    /// What [`html!`] expands to.
    #[doc(hidden)]
    pub fn from_format(args: fmt::Arguments<'_>) -> Self {
        Self(args.to_string())
    }

    /// Appends `more` after what is here.
    pub fn push(&mut self, more: Markup) {
        self.0.push_str(&more.0);
    }
}

/// How an argument of [`html!`] goes into markup: text escaped, markup as it is.
pub trait Fragment {
    fn write_html(&self, out: &mut String);
}

impl<T: fmt::Display + ?Sized> Fragment for T {
    fn write_html(&self, out: &mut String) {
        out.push_str(&escape(&self.to_string()));
    }
}

impl Fragment for Markup {
    fn write_html(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

/// An argument of [`html!`], written as HTML.
#[doc(hidden)]
pub struct Escaped<'a, T: Fragment + ?Sized>(pub &'a T);

impl<T: Fragment + ?Sized> fmt::Display for Escaped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.0.write_html(&mut out);
        f.write_str(&out)
    }
}

/// [`Markup`] from a format string of HTML and arguments that are escaped unless they are markup:
/// `html!("<td>{}</td>", name)`.
macro_rules! html {
    ($format:literal $(, $arg:expr)* $(,)?) => {
        $crate::page::Markup::from_format(format_args!(
            $format $(, $crate::page::Escaped(&$arg))*
        ))
    };
}
pub(crate) use html;

/// A page under construction: HTML in order, and the data of its charts.
pub struct Page {
    title: String,
    body: String,
    charts: BTreeMap<String, Chart>,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: String::new(),
            charts: BTreeMap::new(),
        }
    }

    /// Appends markup (made with [`html!`], which escapes every value).
    pub fn html(&mut self, markup: Markup) {
        self.body.push_str(&markup.0);
        self.body.push('\n');
    }

    /// Opens a grid of charts (`small` for small multiples); close it with [`Page::end_grid`].
    pub fn grid(&mut self, small: bool) {
        self.html(if small {
            html!(r#"<div class="grid small">"#)
        } else {
            html!(r#"<div class="grid">"#)
        });
    }

    pub fn end_grid(&mut self) {
        self.html(html!("</div>"));
    }

    /// Places a chart here, with a caption under it.
    pub fn chart(&mut self, id: &str, chart: Chart, caption: &'static str) {
        self.figure("", id, chart, caption);
    }

    /// A chart two grid columns wide, for one that has many points to tell apart.
    pub fn wide_chart(&mut self, id: &str, chart: Chart, caption: &'static str) {
        self.figure(r#" class="wide""#, id, chart, caption);
    }

    fn figure(&mut self, class: &'static str, id: &str, chart: Chart, caption: &'static str) {
        let id = format!("{}-{}", slug(id), self.charts.len() + 1);
        let label = match &chart {
            Chart::Xy(xy) => &xy.title,
            Chart::Bar(bar) => &bar.title,
        };
        let markup = html!(
            r#"<figure{}><div class="plot"><canvas data-chart="{}" role="img" aria-label="{}"></canvas></div><figcaption>{}</figcaption></figure>"#,
            Markup(class.to_owned()),
            id,
            label,
            // A caption is a literal of the page code: markup as it is.
            Markup(caption.to_owned()),
        );
        self.html(markup);
        self.charts.insert(id, chart);
    }

    /// The finished page: one file with every script and style inlined.
    pub fn finish(self) -> String {
        let data = serde_json::json!({ "charts": self.charts }).to_string();
        // Inside <script>, "</script" would end the block: '<' only occurs in JSON strings, where
        // its escape means the same.
        let data = data.replace('<', "\\u003c");
        // The source-map comment would point at a file that is not there.
        let chart_js = CHART_JS
            .lines()
            .filter(|line| !line.starts_with("//# sourceMappingURL="))
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}\
             <footer>Written by <code>stack</code>. Charts drawn by Chart.js 4.6.1 (MIT licence), inlined: \
             this page needs no network.</footer>\n\
             <script type=\"application/json\" id=\"report-data\">{data}</script>\n\
             <script>\n{chart_js}\n</script>\n<script>\n{DRAW_JS}</script>\n</body>\n</html>\n",
            title = escape(&self.title),
            body = self.body,
        )
    }
}

/// Text for HTML element content or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn slug(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A figure with about three significant digits, grouped by thousands: 0.253, 2.61, 41.6, 1,674.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    let abs = value.abs();
    let digits = if abs >= 100.0 || abs == 0.0 {
        0
    } else if abs >= 10.0 {
        1
    } else if abs >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.digits$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |rest| ("-", rest));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// A whole number grouped by thousands: 75, 1,000, 10,000.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

/// A [`Stat`] as a table cell: the mean, and its 95 % interval in small type when there is one.
pub fn stat_cell(stat: &Stat, scale: f64) -> Markup {
    match stat.ci95 {
        Some([low, high]) => html!(
            r#"{} <span class="ci">({}–{})</span>"#,
            number(stat.mean * scale),
            number(low * scale),
            number(high * scale)
        ),
        None => html!("{}", number(stat.mean * scale)),
    }
}

/// A completion figure as text: `–` when missing, `≥ ` before a lower bound.
pub fn completion_text(completion: &Completion, figure: &str, stat: Option<&Stat>) -> String {
    match stat {
        None => "–".into(),
        Some(stat) if completion.at_least.iter().any(|f| f == figure) => {
            format!("≥ {}", number(stat.mean))
        }
        Some(stat) => number(stat.mean),
    }
}

/// A contract as a comparison or a report names it: `broker (k6-tests/contracts/broker.json,
/// sha256 1a2b3c4d…)`; a record older than contracts was judged by this system's checks.
pub fn contract_text(record: Option<&stack_record::ContractRecord>) -> String {
    match record {
        Some(contract) => format!(
            "{} ({}, sha256 {}…)",
            contract.name,
            contract.file,
            contract.sha256.get(..12).unwrap_or(&contract.sha256)
        ),
        None => {
            "sync (not recorded: the record is older than contracts, whose checks were this system's)".into()
        }
    }
}

/// A figure that may be withheld (a percentile, or a cost): its [`stat_cell`], or "–" and why
/// (`n = 75 < 1,000`).
pub fn percentile_cell(stat: Option<&Stat>, figure: &str, withheld: &[Withheld]) -> Markup {
    match stat {
        Some(stat) => stat_cell(stat, 1.0),
        None => html!(
            r#"– <span class="ci">{}</span>"#,
            withheld_reason(figure, withheld)
        ),
    }
}

/// Why `figure` is not reported: `n = 75 < 1,000` (requests), `CPU 0.42 s < 1.00 s` (a cost),
/// `undefined: 5,850 answered < 5,940 needed` (a corrected percentile among the unanswered
/// arrivals), or "not recorded" when the record does not say.
pub fn withheld_reason(figure: &str, withheld: &[Withheld]) -> String {
    why_withheld(figure, withheld).unwrap_or_else(|| "not recorded".into())
}

/// What a component's CPU figure reads as where it rests on fewer than [`stack_record::CPU_TICKS_NEEDED`] clock
/// ticks in some run ([`stack_record::Cost::under_ticks`]): never its number, which is mostly rounding.
pub const UNDER_TICKS: &str = "under 100 ticks";

/// Why the record withheld `figure`, if it did.
pub fn why_withheld(figure: &str, withheld: &[Withheld]) -> Option<String> {
    let w = withheld.iter().find(|w| w.figure == figure)?;
    Some(match w.basis {
        Basis::Requests => format!("n = {} < {}", count(w.samples), count(w.needed)),
        Basis::CpuTicks => format!(
            "CPU {:.2} s < {:.2} s",
            w.samples as f64 / CPU_TICKS_PER_SECOND,
            w.needed as f64 / CPU_TICKS_PER_SECOND
        ),
        Basis::Answered => format!(
            "undefined: {} answered < {} needed (drops and interruptions beyond it)",
            count(w.samples),
            count(w.needed)
        ),
        Basis::ClockOffset => format!(
            "the clocks' offset known to ±{:.2} ms, over 1 % of the figure ({:.2} ms)",
            w.needed as f64 / 1000.0,
            w.samples as f64 / 1000.0
        ),
    })
}

/// `[percentile, ms]` of a scenario's pooled distribution, up to the percentiles its pooled requests
/// support (the rule of [`needed_samples`]), and its maximum.
pub fn distribution_points(scenario: &ScenarioResult) -> Vec<[f64; 2]> {
    let pooled = scenario.requests.runs.iter().sum::<f64>();
    scenario
        .distribution
        .iter()
        .filter(|p| p.percentile >= 100.0 || needed_samples(p.percentile) as f64 <= pooled)
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

pub const MIB: f64 = 1.0 / (1024.0 * 1024.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_about_three_significant_digits_and_group_thousands() {
        assert_eq!(number(0.2534), "0.253");
        assert_eq!(number(2.614), "2.61");
        assert_eq!(number(41.64), "41.6");
        assert_eq!(number(1674.4), "1,674");
        assert_eq!(number(-12345.0), "-12,345");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn a_withheld_percentile_shows_a_dash_and_its_samples_against_those_it_needs() {
        let withheld = [Withheld {
            figure: "p99_ms".into(),
            samples: 75,
            needed: 1000,
            basis: Basis::Requests,
        }];
        assert_eq!(
            percentile_cell(None, "p99_ms", &withheld),
            Markup(r#"– <span class="ci">n = 75 &lt; 1,000</span>"#.into())
        );
    }

    #[test]
    fn a_value_goes_into_markup_escaped_and_markup_as_it_is() {
        let cell = html!("<b>{}</b>", "1 < 2");
        let row = html!("<td>{}</td><td>{}</td>", r#"<script>"x" & 'y'</script>"#, cell);
        assert_eq!(
            row,
            Markup(
                "<td>&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;</td><td><b>1 &lt; 2</b></td>".into()
            )
        );
    }

    #[test]
    fn data_that_closes_a_script_tag_cannot_end_the_data_block() {
        let mut page = Page::new("t");
        let xy = Xy {
            title: "</script><script>alert(1)</script>".into(),
            x: Axis::new("x", Scale::Linear),
            y: Axis::new("y", Scale::Linear),
            y2: None,
            series: vec![],
            bands: vec![],
            marks: vec![],
            legend: true,
        };
        page.chart("c", Chart::Xy(xy), "caption");
        let html = page.finish();
        let data_block = html
            .split(r#"<script type="application/json" id="report-data">"#)
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .unwrap_or_default();
        assert!(
            data_block.contains(r"\u003c/script>\u003cscript>alert(1)"),
            "{data_block}"
        );
        assert!(!html.contains("</script><script>alert(1)"));
    }
}
