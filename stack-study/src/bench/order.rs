//! The order the scenarios of a repeat run in, as a recorded design choice.
//!
//! Whatever a scenario leaves behind that the reset and the quiescing do not clear (the machine's
//! caches, a service's warmed pool, the load of the neighbours) falls on the scenario after it. Run
//! always in the same order, that carry-over looks like a property of the scenario that follows.
//! Shuffled per repeat, it becomes noise that the repeats average out, and the record lists the order
//! each repeat actually ran in, so a reader can look for it. The shuffle comes from a seed, recorded,
//! so an order can be run again: ChaCha8 is specified by its algorithm, so a seed gives the same
//! orders on every platform and `rand_chacha` release.

use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha8Rng;

use stack_record::order::{OrderKind, ScenarioOrder};

use crate::scenario::Scenario;

/// The order of each of `repeats` repeats of `scenarios`.
pub fn drawn(kind: OrderKind, seed: u64, scenarios: &[Scenario], repeats: u32) -> ScenarioOrder {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let repeats = (0..repeats)
        .map(|_| {
            let mut order = scenarios.to_vec();
            order.sort();
            if kind == OrderKind::Shuffled {
                order.shuffle(&mut rng);
            }
            order.iter().map(|s| s.name().to_owned()).collect()
        })
        .collect();
    ScenarioOrder { kind, seed, repeats }
}

/// The scenarios of repeat `repeat` (from 1), in the order they run.
pub fn scenarios_of_repeat(order: &ScenarioOrder, repeat: u32) -> Vec<Scenario> {
    let names = repeat
        .checked_sub(1)
        .and_then(|index| order.repeats.get(index as usize));
    names
        .into_iter()
        .flatten()
        .filter_map(|name| Scenario::ALL.into_iter().find(|s| s.name() == name))
        .collect()
}
/// A seed when none was given: the operating system's randomness, through the keys std draws for
/// its hash maps (no further dependency for one number that is recorded anyway).
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Scenario; 6] = Scenario::ALL;

    #[test]
    fn a_seed_gives_the_same_orders_every_time() {
        let first = drawn(OrderKind::Shuffled, 42, &ALL, 5);
        let again = drawn(OrderKind::Shuffled, 42, &ALL, 5);
        assert_eq!(first, again);
    }

    #[test]
    fn shuffled_repeats_each_run_every_scenario_once_in_orders_that_differ() {
        let order = drawn(OrderKind::Shuffled, 7, &ALL, 8);
        for repeat in 1..=8 {
            let mut ran = scenarios_of_repeat(&order, repeat);
            ran.sort();
            assert_eq!(ran, ALL, "repeat {repeat}: {order:?}");
        }
        let distinct: std::collections::BTreeSet<_> = order.repeats.iter().collect();
        // 8 draws from 720 orders: all equal would be a broken shuffle
        assert!(distinct.len() > 1, "{order:?}");
        assert!(order
            .repeats
            .iter()
            .any(|r| r != &["s1", "s2", "s3", "s4", "s5", "s6"]));
    }

    #[test]
    fn fixed_runs_every_repeat_in_scenario_order() {
        let order = drawn(OrderKind::Fixed, 7, &[Scenario::S5, Scenario::S3], 3);
        assert_eq!(order.repeats, vec![vec!["s3", "s5"]; 3]);
        assert_eq!(scenarios_of_repeat(&order, 2), [Scenario::S3, Scenario::S5]);
        assert!(scenarios_of_repeat(&order, 4).is_empty());
    }
}
