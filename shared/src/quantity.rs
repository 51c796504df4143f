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
}
