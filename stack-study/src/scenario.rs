//! The six scenarios of the study, each defined once.
//!
//! A [`Scenario`] owns every fact about itself: its name (on the command line, in the k6 script and
//! in the record), its title, the request k6 sends to its entry service, the downstream calls that
//! request makes, and, from `k6-tests/capacity.json` (the file the k6 script reads too), its SLO and
//! capacity steps. Like mini-redis's `Command`, a new scenario is one more variant here: the match
//! arms below then say everything else that has to be told about it (plus its handler, its group in
//! the script and its tests).

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::Deserialize;

/// One scenario of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
}

/// The request k6 sends: the service it enters by, and the route template it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub service: &'static str,
    pub method: &'static str,
    /// As the services' metrics label it (`/products/{product_id}`).
    pub route: &'static str,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [Self::S1, Self::S2, Self::S3, Self::S4, Self::S5, Self::S6];

    /// `s1` ... `s6`: the scenario's name in the k6 script, on the command line and in the record.
    pub fn name(self) -> &'static str {
        match self {
            Self::S1 => "s1",
            Self::S2 => "s2",
            Self::S3 => "s3",
            Self::S4 => "s4",
            Self::S5 => "s5",
            Self::S6 => "s6",
        }
    }

    /// The scenario called `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scenario| scenario.name() == name)
    }

    /// The title of the scenario called `name`; empty for a name this study does not define (a
    /// record of another implementation may have one).
    pub fn title_of(name: &str) -> &'static str {
        Self::parse(name).map_or("", Self::title)
    }

    /// What the scenario does, for headings.
    pub fn title(self) -> &'static str {
        match self {
            Self::S1 => "register (waits for the welcome email)",
            Self::S2 => "slow payment",
            Self::S3 => "product update + fan-out",
            Self::S4 => "CPU-bound report",
            Self::S5 => "order saga (payment declines)",
            Self::S6 => "click tracking",
        }
    }

    /// The request k6 sends, at the service it enters by.
    pub fn entry(self) -> Call {
        let (service, method, route) = match self {
            Self::S1 => ("userservice", "POST", "/register"),
            Self::S2 => ("paymentservice", "POST", "/process_payment"),
            Self::S3 => ("productservice", "PUT", "/products/{product_id}"),
            Self::S4 => ("reportservice", "POST", "/generate_report"),
            Self::S5 => ("orderservice", "POST", "/create_order"),
            Self::S6 => ("analyticsservice", "POST", "/track_click"),
        };
        Call {
            service,
            method,
            route,
        }
    }

    /// The calls the entry service makes for each request, in order (none: it answers alone).
    pub fn downstream(self) -> &'static [Call] {
        const fn post(service: &'static str, route: &'static str) -> Call {
            Call {
                service,
                method: "POST",
                route,
            }
        }
        const S1: &[Call] = &[post("emailservice", "/send_welcome_email")];
        const S3: &[Call] = &[
            post("searchservice", "/reindex"),
            post("cacheservice", "/invalidate_cache"),
            post("analyticsservice", "/log_update"),
        ];
        const S5: &[Call] = &[
            post("inventoryservice", "/reserve_stock"),
            post("paymentservice", "/process_payment_fail"),
            post("inventoryservice", "/compensate_stock"),
        ];
        match self {
            Self::S1 => S1,
            Self::S3 => S3,
            Self::S5 => S5,
            Self::S2 | Self::S4 | Self::S6 => &[],
        }
    }

    /// Whether the scenario is a chain of calls, whose time the record breaks down hop by hop.
    pub fn has_hops(self) -> bool {
        !self.downstream().is_empty()
    }

    /// k6's name for one of the scenario's capacity steps (`index` from 0): `s3_step1`, ...
    pub fn step_name(self, index: usize) -> String {
        format!("{}_step{}", self.name(), index + 1)
    }

    /// Whether k6's scenario `k6_name` is this scenario or one of its capacity steps.
    pub fn runs_as(self, k6_name: &str) -> bool {
        k6_name == self.name()
            || k6_name
                .strip_prefix(self.name())
                .and_then(|rest| rest.strip_prefix("_step"))
                .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `capacity` profile's steps and SLOs, from `k6-tests/capacity.json`, the file the k6 script
/// reads too, so the two never disagree.
#[derive(Debug, Clone, Deserialize)]
pub struct CapacityPlan {
    pub default_step_s: f64,
    pub scenarios: BTreeMap<Scenario, CapacitySteps>,
}

/// One scenario's capacity steps and its SLO.
#[derive(Debug, Clone, Deserialize)]
pub struct CapacitySteps {
    pub slo_p99_ms: f64,
    /// `1s` or `1m`: what a step's rate counts arrivals per.
    pub time_unit: String,
    pub grace_s: f64,
    pub min_step_s: f64,
    /// `[arrivals per time_unit, preAllocatedVUs, maxVUs]`.
    pub steps: Vec<(f64, u64, u64)>,
}

/// Where the capacity plan is, under the workspace root.
pub const CAPACITY_FILE: &str = "k6-tests/capacity.json";

impl CapacityPlan {
    /// Reads `k6-tests/capacity.json` under `root`; every scenario must have its steps.
    pub fn read(root: &Path) -> Result<Self> {
        let path = root.join(CAPACITY_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let plan: Self =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        let missing: Vec<&str> = Scenario::ALL
            .iter()
            .filter(|scenario| !plan.scenarios.contains_key(scenario))
            .map(|scenario| scenario.name())
            .collect();
        anyhow::ensure!(missing.is_empty(), "{}: no steps for {missing:?}", path.display());
        Ok(plan)
    }
}

impl CapacitySteps {
    /// Seconds in one `time_unit`.
    pub fn unit_s(&self) -> f64 {
        if self.time_unit == "1m" {
            60.0
        } else {
            1.0
        }
    }

    /// How long each step lasts with `CAPACITY_STEP_S = step_s`.
    pub fn step_duration_s(&self, step_s: f64) -> f64 {
        step_s.max(self.min_step_s)
    }
}
