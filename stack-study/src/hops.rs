//! Where a scenario's time went, hop by hop, from the services' own Prometheus metrics.
//!
//! The bench scrapes the entry services' `GET /metrics` ([`metrics_urls`]: their own client metrics
//! time every hop they make) just before and just after each measured run of a scenario that is a
//! chain of calls ([`Scenario::has_hops`]: S1, S3, S5) ([`Snapshot::scrape`]). The difference of the
//! two is exactly that scenario's traffic, and [`breakdown`] turns it into the record's
//! `hops`: the entry route as the server saw it, each downstream call it made (by called service and
//! path, with its outcomes), and its waits for a database connection. Means come from the `_sum` and
//! `_count` deltas; the p99 is interpolated within the histogram buckets of the delta, so it is as
//! fine as the buckets (see `common::telemetry::metrics`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use reqwest::Url;

use crate::scenario::Scenario;
pub use stack_record::{Bucket, DownstreamHop, HopFigure, Hops};

const SERVER_DURATION: &str = "http_server_request_duration_seconds";
const CLIENT_DURATION: &str = "http_client_request_duration_seconds";
const POOL_WAIT: &str = "db_client_connection_wait_time_seconds";

/// The `/metrics` base URLs of the entry services among `urls` (service name to base URL, as the
/// record's target lists them): the entry service's own client metrics time every hop it makes.
pub fn metrics_urls(urls: &BTreeMap<String, String>) -> BTreeMap<String, Url> {
    let entries: Vec<&str> = Scenario::ALL
        .into_iter()
        .filter(|scenario| scenario.has_hops())
        .map(|scenario| scenario.entry().service)
        .collect();
    urls.iter()
        .filter(|(name, _)| entries.contains(&name.as_str()))
        .filter_map(|(name, url)| {
            let base = format!("{}/", url.trim_end_matches('/'));
            Some((name.clone(), Url::parse(&base).ok()?))
        })
        .collect()
}

/// One sample line: its metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of one scrape of one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(pub Vec<Sample>);

impl Metrics {
    /// Reads the Prometheus or OpenMetrics text format (comments and `# EOF` are skipped).
    pub fn parse(text: &str) -> Result<Self> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| parse_sample(line).with_context(|| format!("reading the sample {line:?}")))
            .collect::<Result<_>>()
            .map(Self)
    }

    /// The sum of the samples called `name` whose labels include all of `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|sample| sample.value).sum()
    }

    fn matching<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> {
        self.0.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).is_some_and(|v| v == value))
        })
    }
}

fn parse_sample(line: &str) -> Result<Sample> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}').context("a label set is not closed")?;
            (
                &line[..open],
                parse_labels(&line[open + 1..close])?,
                &line[close + 1..],
            )
        }
        None => {
            let (name, rest) = line.split_once(' ').context("a sample without a value")?;
            (name, BTreeMap::new(), rest)
        }
    };
    // A value may be followed by a timestamp or an exemplar; the value is the first field.
    let value = rest
        .split_whitespace()
        .next()
        .context("a sample without a value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .with_context(|| format!("{other:?} is not a number"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_labels(text: &str) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim_start_matches([',', ' ']);
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").context("a label without a quoted value")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => anyhow::bail!("a label value ends in a backslash"),
                },
                Some((index, '"')) => break index,
                Some((_, c)) => value.push(c),
                None => anyhow::bail!("a label value is not closed"),
            }
        };
        labels.insert(key.trim().to_owned(), value);
        rest = after[end + 1..].trim_start_matches([',', ' ']);
    }
    Ok(labels)
}

/// One scrape of every service, by service name.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub services: BTreeMap<String, Metrics>,
}

impl Snapshot {
    /// `GET {url}metrics` of every service, at once. A service that cannot be scraped (down, or run
    /// with `METRICS=off`) is left out, and with it the hops it would have given.
    pub async fn scrape(urls: &BTreeMap<String, Url>) -> Self {
        let client = reqwest::Client::new();
        let mut scrapes = tokio::task::JoinSet::new();
        for (name, url) in urls {
            let (client, name, url) = (client.clone(), name.clone(), url.clone());
            scrapes.spawn(async move { (name, scrape_one(&client, &url).await) });
        }
        let mut services = BTreeMap::new();
        while let Some(joined) = scrapes.join_next().await {
            match joined {
                Ok((name, Ok(metrics))) => {
                    services.insert(name, metrics);
                }
                Ok((name, Err(err))) => eprintln!("could not scrape {name}: {err:#}"),
                Err(err) => eprintln!("a scrape failed: {err}"),
            }
        }
        Self { services }
    }
}

async fn scrape_one(client: &reqwest::Client, url: &Url) -> Result<Metrics> {
    let url = url.join("metrics")?;
    let response = client
        .get(url.clone())
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?;
    Metrics::parse(&response.text().await?).with_context(|| format!("reading {url}"))
}

/// The hops of `scenario` (`None` when it is not a chain of calls, or when the entry service was not
/// scraped both times or saw none of the scenario's requests).
pub fn breakdown(scenario: Scenario, before: &Snapshot, after: &Snapshot) -> Option<Hops> {
    breakdown_pooled(scenario, &[(before, after)])
}

/// The hops of `scenario` over several measured runs (the repeats): their deltas are added up.
pub fn breakdown_pooled(scenario: Scenario, runs: &[(&Snapshot, &Snapshot)]) -> Option<Hops> {
    if !scenario.has_hops() {
        return None;
    }
    let entry = scenario.entry();
    let deltas: Vec<Metrics> = runs
        .iter()
        .map(|(before, after)| {
            let after = after.services.get(entry.service)?;
            let empty = Metrics::default();
            let before = before.services.get(entry.service).unwrap_or(&empty);
            Some(delta(before, after))
        })
        .collect::<Option<_>>()?;
    let delta = Metrics(deltas.into_iter().flat_map(|metrics| metrics.0).collect());

    let end_to_end = timing(
        &delta,
        SERVER_DURATION,
        &[("method", entry.method), ("route", entry.route)],
    )?;
    let mut targets: Vec<(String, String)> = delta
        .matching(&format!("{CLIENT_DURATION}_count"), &[])
        .filter_map(|sample| {
            Some((
                sample.labels.get("server")?.clone(),
                sample.labels.get("route")?.clone(),
            ))
        })
        .collect();
    targets.sort();
    targets.dedup();
    let downstream = targets
        .into_iter()
        .filter_map(|(server, route)| {
            let labels = [("server", server.as_str()), ("route", route.as_str())];
            let timing = timing(&delta, CLIENT_DURATION, &labels)?;
            let mut outcome = BTreeMap::new();
            for sample in delta.matching(&format!("{CLIENT_DURATION}_count"), &labels) {
                if let Some(name) = sample.labels.get("outcome") {
                    *outcome.entry(name.clone()).or_insert(0) += sample.value.round() as u64;
                }
            }
            outcome.retain(|_, count| *count > 0);
            Some(DownstreamHop {
                server,
                route,
                count: timing.count,
                mean_ms: timing.mean_ms,
                p99_ms: timing.p99_ms,
                p99_bucket: timing.p99_bucket,
                outcome,
            })
        })
        .collect();
    Some(Hops {
        service: entry.service.to_owned(),
        end_to_end,
        downstream,
        pool_wait: timing(&delta, POOL_WAIT, &[]),
    })
}

/// `after - before`, sample by sample (a series new in `after` counts from zero).
fn delta(before: &Metrics, after: &Metrics) -> Metrics {
    Metrics(
        after
            .0
            .iter()
            .map(|sample| {
                let earlier = before
                    .0
                    .iter()
                    .find(|old| old.name == sample.name && old.labels == sample.labels)
                    .map_or(0.0, |old| old.value);
                Sample {
                    value: sample.value - earlier,
                    ..sample.clone()
                }
            })
            .collect(),
    )
}

/// Count, mean and interpolated p99 of the histogram `name` over the series matching `labels`;
/// `None` when nothing was observed.
fn timing(delta: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<HopFigure> {
    let count = delta.sum(&format!("{name}_count"), labels);
    if count < 0.5 {
        return None;
    }
    let sum = delta.sum(&format!("{name}_sum"), labels);
    // The buckets of every matching series, added up bound by bound.
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for sample in delta.matching(&format!("{name}_bucket"), labels) {
        let Some(bound) = sample.labels.get("le").and_then(|le| match le.as_str() {
            "+Inf" => Some(f64::INFINITY),
            other => other.parse::<f64>().ok(),
        }) else {
            continue;
        };
        buckets.entry(bound.to_bits()).or_insert((bound, 0.0)).1 += sample.value;
    }
    let mut cumulative: Vec<(f64, f64)> = buckets.into_values().collect();
    cumulative.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (p99_s, (from_s, to_s)) = quantile(&cumulative, count, 0.99);
    Some(HopFigure {
        count: count.round() as u64,
        mean_ms: round(sum / count * 1000.0),
        p99_ms: round(p99_s * 1000.0),
        p99_bucket: Some(Bucket {
            from_ms: round(from_s * 1000.0),
            to_ms: to_s.is_finite().then(|| round(to_s * 1000.0)),
        }),
    })
}

/// The `q` quantile of a cumulative histogram `(upper bound, count at or below)`, interpolated
/// linearly within its bucket as Prometheus's `histogram_quantile` does, and that bucket's bounds:
/// the interpolation assumes the bucket's samples spread evenly, so the true quantile is known only
/// to lie within them.
fn quantile(cumulative: &[(f64, f64)], count: f64, q: f64) -> (f64, (f64, f64)) {
    let rank = q * count;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for &(bound, at_or_below) in cumulative {
        if at_or_below >= rank {
            let within = (lower_bound, bound);
            if bound.is_infinite() {
                return (lower_bound, within);
            }
            let in_bucket = at_or_below - lower_count;
            if in_bucket <= 0.0 {
                return (bound, within);
            }
            return (
                lower_bound + (bound - lower_bound) * (rank - lower_count) / in_bucket,
                within,
            );
        }
        lower_bound = bound;
        lower_count = at_or_below;
    }
    (lower_bound, (lower_bound, f64::INFINITY))
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# HELP http_server_request_duration_seconds Duration.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_sum{method="PUT",route="/products/{product_id}",status="200"} 1.0
http_server_request_duration_seconds_count{method="PUT",route="/products/{product_id}",status="200"} 100
http_server_request_duration_seconds_bucket{le="0.001",method="PUT",route="/products/{product_id}",status="200"} 0
http_server_request_duration_seconds_bucket{le="0.01",method="PUT",route="/products/{product_id}",status="200"} 100
http_server_request_duration_seconds_bucket{le="+Inf",method="PUT",route="/products/{product_id}",status="200"} 100
# EOF
"#;

    const AFTER: &str = r#"http_server_request_duration_seconds_sum{method="PUT",route="/products/{product_id}",status="200"} 3.0
http_server_request_duration_seconds_count{method="PUT",route="/products/{product_id}",status="200"} 1100
http_server_request_duration_seconds_bucket{le="0.001",method="PUT",route="/products/{product_id}",status="200"} 0
http_server_request_duration_seconds_bucket{le="0.01",method="PUT",route="/products/{product_id}",status="200"} 1100
http_server_request_duration_seconds_bucket{le="+Inf",method="PUT",route="/products/{product_id}",status="200"} 1100
http_client_request_duration_seconds_sum{server="searchservice",route="/reindex",outcome="ok"} 0.5
http_client_request_duration_seconds_count{server="searchservice",route="/reindex",outcome="ok"} 1000
http_client_request_duration_seconds_bucket{le="0.001",server="searchservice",route="/reindex",outcome="ok"} 1000
http_client_request_duration_seconds_bucket{le="+Inf",server="searchservice",route="/reindex",outcome="ok"} 1000
process_cpu_seconds_total 1.5
# EOF
"#;

    fn snapshot(text: &str) -> Snapshot {
        let metrics = Metrics::parse(text).expect("valid exposition");
        Snapshot {
            services: BTreeMap::from([("productservice".to_owned(), metrics)]),
        }
    }

    #[test]
    fn the_s3_breakdown_counts_only_what_happened_between_the_scrapes() {
        // Given a scrape before and after 1000 updates that took 2 s in all
        let (before, after) = (snapshot(BEFORE), snapshot(AFTER));

        // When the hops of S3 are computed
        let hops = breakdown(Scenario::S3, &before, &after).expect("s3 has hops");

        // Then they hold the 1000 updates, their mean, a p99 inside the bucket, and the fan-out call
        assert_eq!(hops.service, "productservice");
        assert_eq!(hops.end_to_end.count, 1000);
        assert_eq!(hops.end_to_end.mean_ms, 2.0);
        assert!(
            hops.end_to_end.p99_ms > 1.0 && hops.end_to_end.p99_ms <= 10.0,
            "{hops:?}"
        );
        assert_eq!(
            hops.end_to_end.p99_bucket,
            Some(Bucket {
                from_ms: 1.0,
                to_ms: Some(10.0)
            })
        );
        assert_eq!(hops.downstream.len(), 1);
        assert_eq!(hops.downstream[0].server, "searchservice");
        assert_eq!(
            hops.downstream[0].outcome,
            BTreeMap::from([("ok".to_owned(), 1000)])
        );
        assert_eq!(hops.pool_wait, None);
    }

    #[test]
    fn a_scenario_that_is_not_a_chain_has_no_hops() {
        assert_eq!(breakdown(Scenario::S6, &snapshot(BEFORE), &snapshot(AFTER)), None);
    }

    #[test]
    fn a_quantile_is_interpolated_within_its_bucket_and_names_it() {
        // 100 observations: 50 at or below 1, the other 50 between 1 and 2.
        let cumulative = [(1.0, 50.0), (2.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&cumulative, 100.0, 0.99), (1.98, (1.0, 2.0)));
    }

    #[test]
    fn a_quantile_in_the_top_bucket_is_its_lower_bound_with_no_upper_one() {
        // 100 observations: 50 at or below 1, the other 50 above every finite bound.
        let cumulative = [(1.0, 50.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&cumulative, 100.0, 0.99), (1.0, (1.0, f64::INFINITY)));
    }
}
