//! The products on sale: Zipf-like popularity (a few hits, a long tail) over categories
//! and brands, with list price, promo discount, unit cost and the warehouses holding them.

use crate::rng::{Rng, Weighted, zipf};

/// Product categories, with (min, max) list price in yuan.
pub(crate) const CATEGORIES: [(&str, i64, i64); 8] = [
    ("apparel", 59, 899),
    ("beauty", 39, 699),
    ("electronics", 99, 4999),
    ("home", 29, 1299),
    ("food", 9, 199),
    ("sports", 49, 1499),
    ("baby", 29, 599),
    ("books", 9, 129),
];

/// Warehouses stock is held in.
pub(crate) const WAREHOUSES: [&str; 4] = ["hangzhou", "shanghai", "beijing", "guangzhou"];

const BRAND_STEMS: [&str; 12] = [
    "North", "Lumi", "Stride", "Sonic", "Terra", "Nova", "Maple", "Orbit", "Jade", "Polar",
    "Ember", "Tide",
];

/// Zipf exponent of SKU popularity: the top 1% of SKUs take a large share of demand.
const POPULARITY_EXPONENT: f64 = 1.05;

/// One SKU.
#[derive(Debug, Clone)]
pub(crate) struct Sku {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) category: usize,
    pub(crate) brand: String,
    pub(crate) list_price_cents: i64,
    /// Promo price as a percentage of list price.
    pub(crate) promo_percent: i64,
    pub(crate) unit_cost_cents: i64,
    /// Indices into [`WAREHOUSES`]: one or two.
    pub(crate) warehouses: Vec<usize>,
}

/// All SKUs, most popular first.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    pub(crate) skus: Vec<Sku>,
    popularity: Weighted,
}

impl Catalog {
    pub(crate) fn new(count: usize, rng: &mut Rng) -> Self {
        let skus = (0..count)
            .map(|rank| {
                let category = rng.below(CATEGORIES.len() as u64) as usize;
                let (name, lo, hi) = CATEGORIES[category];
                let brand = format!(
                    "{}{}",
                    BRAND_STEMS[rng.below(BRAND_STEMS.len() as u64) as usize],
                    ["", " Pro", " Lab", " Co"][rng.below(4) as usize]
                );
                // Prices end in .00 or .90, like shelf prices.
                let list_price_cents = rng.range(lo, hi + 1) * 100 - 10 * rng.below(2) as i64;
                let first = rng.below(WAREHOUSES.len() as u64) as usize;
                let mut warehouses = vec![first];
                if rng.chance(0.4) {
                    warehouses.push((first + 1 + rng.below(3) as usize) % WAREHOUSES.len());
                }
                Sku {
                    id: 10_001 + rank as i64,
                    name: format!("{brand} {name} #{}", rank + 1),
                    category,
                    brand,
                    list_price_cents,
                    promo_percent: rng.range(70, 96),
                    unit_cost_cents: list_price_cents * rng.range(35, 71) / 100,
                    warehouses,
                }
            })
            .collect();
        Catalog {
            skus,
            popularity: Weighted::new(&zipf(count, POPULARITY_EXPONENT)),
        }
    }

    /// A SKU index drawn by popularity.
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        self.popularity.sample(rng)
    }

    /// The share of demand of SKU index i.
    pub(crate) fn popularity(&self, i: usize) -> f64 {
        self.popularity.probability(i)
    }
}
