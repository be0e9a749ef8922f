//! Money: `DECIMAL(18,2)`, held as a whole number of cents.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The largest magnitude of a `DECIMAL(18,2)` value, in cents.
pub(crate) const MAX_CENTS: i128 = 999_999_999_999_999_999;

/// An amount of money with two decimals, exactly as `DECIMAL(18,2)` holds it.
///
/// ```
/// use promodb::schema::Money;
/// let price: Money = "12.3".parse().unwrap();
/// assert_eq!(price.cents(), 1230);
/// assert_eq!(price.to_string(), "12.30");
/// assert!("0.125".parse::<Money>().is_err()); // more than 2 decimals
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// An amount from a whole number of cents (`1230` is `12.30`).
    pub fn from_cents(cents: i64) -> Result<Money> {
        if i128::from(cents).abs() > MAX_CENTS {
            return Err(Error::InvalidArgument(format!(
                "{cents} cents is out of range for DECIMAL(18,2)"
            )));
        }
        Ok(Money(cents))
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }
}

impl FromStr for Money {
    type Err = Error;

    fn from_str(text: &str) -> Result<Money> {
        parse_cents(text)
            .map(|cents| Money(cents as i64))
            .map_err(Error::InvalidArgument)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Parses a decimal string into cents, exactly: at most 2 significant decimals (trailing
/// zeros beyond them are fine), an optional sign, an optional exponent is refused.
pub(crate) fn parse_cents(text: &str) -> std::result::Result<i128, String> {
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(format!("'{text}' is not a decimal number"));
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > 2 {
        return Err(format!("'{text}' has more than 2 decimals"));
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 16 {
        return Err(format!("'{text}' is out of range for DECIMAL(18,2)"));
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("'{text}' is not a decimal number"))?
    };
    let mut cents_part: i128 = 0;
    for (i, b) in significant.bytes().enumerate() {
        let weight = if i == 0 { 10 } else { 1 };
        cents_part += i128::from(b - b'0') * weight;
    }
    let cents = whole * 100 + cents_part;
    if cents > MAX_CENTS {
        return Err(format!("'{text}' is out of range for DECIMAL(18,2)"));
    }
    Ok(if negative { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        let cases = [
            ("12.3", 1230),
            ("12.30", 1230),
            ("12.300", 1230),
            ("-0.05", -5),
            ("+7", 700),
            (".5", 50),
            ("3.", 300),
            ("9999999999999999.99", 999_999_999_999_999_999),
        ];
        for (text, cents) in cases {
            assert_eq!(parse_cents(text), Ok(cents), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_exact_money() {
        for text in [
            "",
            ".",
            "1.234",
            "1e3",
            "abc",
            "1.2.3",
            "10000000000000000",
            "- 1",
        ] {
            assert!(parse_cents(text).is_err(), "{text}");
        }
    }

    #[test]
    fn displays_with_scale() {
        assert_eq!(Money::from_cents(-5).unwrap().to_string(), "-0.05");
        assert_eq!(Money::from_cents(123_456).unwrap().to_string(), "1234.56");
        assert!(Money::from_cents(i64::MAX).is_err());
    }
}
