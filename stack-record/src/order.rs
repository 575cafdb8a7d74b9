//! The order the scenarios of each repeat ran in, as `meta.json` records it (`stack-study`'s
//! `bench::order` draws it).

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OrderKind {
    /// Each repeat runs the scenarios in its own order, drawn from the seed.
    Shuffled,
    /// Every repeat runs them in s1 ... s6 order.
    Fixed,
}

/// The order a run's scenarios ran in, for `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioOrder {
    pub kind: OrderKind,
    /// The seed of the shuffle (`--seed`, else drawn at random); kept for `fixed` too, unused.
    pub seed: u64,
    /// Per repeat, in repeat order, the scenario names in the order they ran.
    pub repeats: Vec<Vec<String>>,
}
