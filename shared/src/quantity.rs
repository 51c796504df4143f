//! Kubernetes quantities (`500m`, `1Gi`, `2G`, `1e3`) as numbers, for comparing sizes and
//! dividing resources (`resourceFieldRef`'s divisor).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity's value: `1Gi` is 1073741824, `500m` is 0.5; `None` when it does not parse.
pub fn value(q: &Quantity) -> Option<f64> {
    let s = q.0.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(n * factor)
}

/// apimachinery's `resource.ParseQuantity` errors, which kube-apiserver answers a document with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Checks `s` as apimachinery parses a quantity: a signed decimal number, then nothing, a binary
/// (`Ki`…`Ei`) or decimal (`n`…`E`) suffix, or an exponent (`e3`, `E-2`).
pub fn parse(s: &str) -> Result<(), ParseError> {
    let s = s.trim();
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let split = unsigned.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(split);
    let letters = suffix.trim_start_matches(|c: char| "eEinumkKMGTP".contains(c));
    let exponent = letters.strip_prefix(['+', '-']).unwrap_or(letters);
    if number.is_empty() || !exponent.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Format);
    }
    if number.matches('.').count() > 1 || number == "." {
        return Err(ParseError::Numeric);
    }
    let known = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"];
    let is_exponent = |e: &str| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    match suffix.strip_prefix(['e', 'E']) {
        _ if known.contains(&suffix) => Ok(()),
        Some(e) if is_exponent(e) => Ok(()),
        _ => Err(ParseError::Suffix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_kubernetes_reads_them() {
        let q = |s: &str| value(&Quantity(s.into())).unwrap();
        assert_eq!(q("1Gi"), 1024.0 * 1024.0 * 1024.0);
        assert!(q("2G") > q("1Gi"));
        assert!(q("500Mi") < q("1Gi"));
        assert_eq!(q("1000"), 1000.0);
        assert_eq!(q("500m"), 0.5);
        assert_eq!(q("1e3"), 1000.0);
        assert!(value(&Quantity("lots".into())).is_none());
    }

    #[test]
    fn quantities_parse_as_apimachinery_parses_them() {
        for good in ["1", "0.5", ".5", "5.", "+1", "-1", "100m", "1Gi", "2G", "1e3", "1E-2", "12Ei", "1k", " 3 "] {
            assert_eq!(parse(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", ParseError::Format),
            ("lots", ParseError::Format),
            ("1Gb", ParseError::Format),
            ("1 Gi", ParseError::Format),
            ("Gi", ParseError::Format),
            ("1.2.3", ParseError::Numeric),
            ("1mi", ParseError::Suffix),
            ("1KiB", ParseError::Format),
            ("1e", ParseError::Suffix),
            ("1K", ParseError::Suffix),
        ] {
            assert_eq!(parse(bad), Err(why), "{bad:?}");
        }
    }
}
