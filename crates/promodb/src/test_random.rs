//! Reproducible random values for unit tests, without a dependency.

/// A xorshift generator: the same values for the same seed, so that failures reproduce.
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
