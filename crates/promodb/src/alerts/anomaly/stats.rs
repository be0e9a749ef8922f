//! The statistics anomaly rules score with: medians, interval sums, deviance residuals.

/// The median (the mean of the two middle values for an even count); `None` when empty.
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Sums of `width` consecutive values: `out[i] = x[i] + ... + x[i + width - 1]`.
pub(crate) fn sliding_sums(x: &[f64], width: usize) -> Vec<f64> {
    if width == 0 || x.len() < width {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(x.len() - width + 1);
    let mut sum: f64 = x[..width].iter().sum();
    out.push(sum);
    for i in width..x.len() {
        sum += x[i] - x[i - width];
        out.push(sum);
    }
    out
}

/// Trailing interval sums smoothed by a centred running median: `out[m]` is the median,
/// over `m - half ..= m + half` (the span shrinking symmetrically at both ends), of the
/// sums of `x` over `m - width + 1 ..= m` (fewer minutes at the very start).
pub(crate) fn smoothed_interval_sums(x: &[f64], width: usize, half: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0);
    for v in x {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    let sums: Vec<f64> = (0..x.len())
        .map(|m| prefix[m + 1] - prefix[(m + 1).saturating_sub(width)])
        .collect();
    (0..sums.len())
        .map(|m| {
            let r = half.min(m).min(sums.len() - 1 - m);
            median(sums[m - r..=m + r].iter().copied()).unwrap_or(0.0)
        })
        .collect()
}

/// Each minute's share of `total` held by `part`, over `m - half ..= m + half`.
pub(crate) fn local_share(part: &[f64], total: &[f64], half: usize) -> Vec<f64> {
    (0..part.len())
        .map(|m| {
            let lo = m.saturating_sub(half);
            let hi = (m + half + 1).min(part.len()).min(total.len());
            let p: f64 = part[lo..hi].iter().sum();
            let t: f64 = total[lo..hi].iter().sum();
            p / t.max(1e-9)
        })
        .collect()
}

/// `x ln(x / y)`, 0 at `x = 0`.
fn x_log_ratio(x: f64, y: f64) -> f64 {
    if x > 0.0 { x * (x / y).ln() } else { 0.0 }
}

/// The signed root of the Poisson deviance of count `y` against mean `mu`: about N(0, 1)
/// when `y` is Poisson with mean `mu`, down to counts of a few.
pub(crate) fn poisson_residual(y: f64, mu: f64) -> f64 {
    let mu = mu.max(1e-9);
    let deviance = 2.0 * (x_log_ratio(y, mu) - (y - mu));
    signed_root(y - mu, deviance)
}

/// The signed root of the binomial deviance of `y` successes of `n` trials against the
/// success rate `rate`.
pub(crate) fn binomial_residual(y: f64, n: f64, rate: f64) -> f64 {
    let rate = rate.clamp(1e-6, 1.0 - 1e-6);
    let deviance = 2.0 * (x_log_ratio(y, n * rate) + x_log_ratio(n - y, n * (1.0 - rate)));
    signed_root(y - n * rate, deviance)
}

/// `sqrt(deviance)` with the sign of `diff` (0 when `diff` is 0).
fn signed_root(diff: f64, deviance: f64) -> f64 {
    if diff == 0.0 {
        0.0
    } else {
        diff.signum() * deviance.max(0.0).sqrt()
    }
}

/// The robust centre and spread of residuals: their median and 1.4826 x their median
/// absolute deviation, floored at `floor` (a calm window cannot make noise look large).
pub(crate) fn robust_centre_spread(residuals: &[f64], floor: f64) -> (f64, f64) {
    let centre = median(residuals.iter().copied()).unwrap_or(0.0);
    let mad = median(residuals.iter().map(|r| (r - centre).abs())).unwrap_or(0.0);
    (centre, (1.4826 * mad).max(floor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([]), None);
    }

    #[test]
    fn sliding_sums_cover_every_full_window() {
        assert_eq!(sliding_sums(&[1.0, 2.0, 3.0, 4.0], 2), vec![3.0, 5.0, 7.0]);
        assert!(sliding_sums(&[1.0], 2).is_empty());
    }

    #[test]
    fn smoothing_removes_an_isolated_spike_and_keeps_a_step() {
        let x = [1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0];
        let smooth = smoothed_interval_sums(&x, 1, 1);
        assert_eq!(smooth[3], 1.0);
        assert_eq!(&smooth[6..], &[5.0, 5.0, 5.0, 5.0]);
        // Interval sums of 2 minutes, unsmoothed: the first minute has only itself.
        assert_eq!(
            smoothed_interval_sums(&[1.0, 2.0, 3.0], 2, 0),
            vec![1.0, 3.0, 5.0]
        );
    }

    #[test]
    fn residuals_are_signed_and_zero_at_the_mean() {
        assert_eq!(poisson_residual(10.0, 10.0), 0.0);
        assert!(poisson_residual(0.0, 10.0) < -4.0);
        assert!(poisson_residual(30.0, 10.0) > 4.0);
        // y = 0: sqrt(2 * mu).
        assert!((poisson_residual(0.0, 8.0) + 4.0).abs() < 1e-12);
        assert_eq!(binomial_residual(9.0, 10.0, 0.9), 0.0);
        assert!(binomial_residual(1.0, 20.0, 0.95) < -5.0);
    }

    #[test]
    fn spread_is_floored() {
        let (centre, spread) = robust_centre_spread(&[0.1, 0.1, 0.1], 1.0);
        assert_eq!((centre, spread), (0.1, 1.0));
        let (_, spread) = robust_centre_spread(&[-4.0, 0.0, 4.0, 8.0, -8.0], 1.0);
        assert!((spread - 1.4826 * 4.0).abs() < 1e-12);
    }
}
