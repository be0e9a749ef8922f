//! The shape of promo traffic over time: a spike when the promo opens at midnight, then a
//! day curve with a night trough and an evening peak.

use crate::rng::{Rng, Weighted};

/// Minutes at the opening with the spike.
pub(crate) const SPIKE_MINUTES: usize = 10;
/// How many times the average minute's traffic each spike minute gets.
pub(crate) const SPIKE_FACTOR: f64 = 15.0;

/// Relative traffic at the middle of each hour of the day (the first 10 minutes aside).
const HOURLY: [f64; 24] = [
    1.3, 0.8, 0.45, 0.3, 0.25, 0.25, 0.35, 0.55, 0.8, 0.95, 1.0, 1.05, 1.1, 1.0, 0.95, 0.95, 1.0,
    1.05, 1.2, 1.45, 1.7, 1.85, 1.75, 1.4,
];

/// Traffic weight per minute of the promo.
#[derive(Debug, Clone)]
pub(crate) struct TrafficCurve {
    weights: Vec<f64>,
    sampler: Weighted,
}

impl TrafficCurve {
    /// The curve of a promo lasting `minutes`, opening at midnight.
    pub(crate) fn new(minutes: usize) -> Self {
        let mut weights: Vec<f64> = (0..minutes).map(day_curve).collect();
        let spike = SPIKE_MINUTES.min(minutes);
        let rest: f64 = weights[spike..].iter().sum();
        // Each spike minute gets SPIKE_FACTOR x the mean over all minutes, spike included:
        // v = F (rest + spike v) / minutes.
        let denominator = minutes as f64 - SPIKE_FACTOR * spike as f64;
        let value = if denominator > 0.0 {
            SPIKE_FACTOR * rest / denominator
        } else {
            SPIKE_FACTOR * HOURLY[0]
        };
        for w in &mut weights[..spike] {
            *w = value;
        }
        let sampler = Weighted::new(&weights);
        TrafficCurve { weights, sampler }
    }

    pub(crate) fn minutes(&self) -> usize {
        self.weights.len()
    }

    /// A minute drawn in proportion to traffic.
    pub(crate) fn sample_minute(&self, rng: &mut Rng) -> usize {
        self.sampler.sample(rng)
    }
}

/// Linear between the hourly anchors, placed at the middle of each hour.
fn day_curve(minute: usize) -> f64 {
    let hour = (minute % 1440) as f64 / 60.0 - 0.5;
    let lo = hour.floor();
    let frac = hour - lo;
    let at = |h: f64| HOURLY[(h.rem_euclid(24.0)) as usize];
    at(lo) * (1.0 - frac) + at(lo + 1.0) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_opening_minutes_are_fifteen_times_the_average() {
        let curve = TrafficCurve::new(1440);
        let mean = curve.weights.iter().sum::<f64>() / 1440.0;
        let opening = curve.weights[..SPIKE_MINUTES].iter().sum::<f64>() / SPIKE_MINUTES as f64;
        assert!((opening / mean - SPIKE_FACTOR).abs() < 1e-9);
        // The evening peak beats the night trough.
        assert!(curve.weights[21 * 60] > 5.0 * curve.weights[4 * 60]);
    }
}
