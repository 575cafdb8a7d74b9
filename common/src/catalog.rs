//! The seed catalogue: the products that exist on a fresh database.
//!
//! The product service seeds its `products` from it and the inventory service its `inventory_items`,
//! each into its own tables, so the two agree on ids and stock without reading each other's data. The
//! generator is seeded with a constant, so every start of the same build produces the same products,
//! and seeding inserts them with `ON CONFLICT DO NOTHING`, so it is idempotent across restarts and
//! concurrent starts.

use fake::{
    faker::company::en::{Buzzword, BuzzwordTail},
    rand::{rngs::StdRng, Rng, SeedableRng},
    Fake,
};

/// How many products a fresh database has (ids `1..=CATALOG_SIZE`).
pub const CATALOG_SIZE: i32 = 100;

/// Enough stock that a few hundred concurrent single-item orders for one product all get reserved.
const STOCK_RANGE: std::ops::RangeInclusive<i32> = 1_000..=10_000;

const SEED: u64 = 0x5EED_2024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    pub id: i32,
    pub name: String,
    pub stock: i32,
}

pub fn catalog() -> Vec<CatalogItem> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (1..=CATALOG_SIZE)
        .map(|id| CatalogItem {
            id,
            name: product_name(&mut rng),
            stock: rng.random_range(STOCK_RANGE),
        })
        .collect()
}

/// A name such as "Adaptive Paradigm": two of the fake-data crate's business words.
fn product_name(rng: &mut StdRng) -> String {
    let quality: String = Buzzword().fake_with_rng(rng);
    let thing: String = BuzzwordTail().fake_with_rng(rng);
    let mut letters = thing.chars();
    let thing: String = letters
        .next()
        .map(|first| first.to_uppercase().chain(letters).collect())
        .unwrap_or_default();
    format!("{quality} {thing}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_the_same_on_every_call() {
        assert_eq!(catalog(), catalog());
    }

    #[test]
    fn the_catalogue_has_every_id_once_with_a_name_and_stock() {
        let items = catalog();
        let ids: Vec<i32> = items.iter().map(|item| item.id).collect();
        assert_eq!(ids, (1..=CATALOG_SIZE).collect::<Vec<_>>());
        assert!(items.iter().all(|item| !item.name.is_empty()));
        assert!(items.iter().all(|item| STOCK_RANGE.contains(&item.stock)));
    }
}
