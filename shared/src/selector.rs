//! Label selectors: the `labelSelector` query string (`app=kubia,tier in (web,api),!canary`), the
//! `matchLabels`/`matchExpressions` form, and matching them against an object's labels.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;
use std::fmt;

/// The operator of one requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One requirement, such as `tier in (web,api)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
}

/// A conjunction of requirements. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// A selector string that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct ParseError(String);

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Op::Equals | Op::In => value.is_some_and(|v| self.values.contains(v)),
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
        }
    }
}

impl Selector {
    /// A selector matching exactly these labels (a Service's or ReplicationController's `selector`).
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        let requirements =
            map.iter().map(|(k, v)| Requirement { key: k.clone(), op: Op::Equals, values: vec![v.clone()] }).collect();
        Selector { requirements }
    }

    /// A selector from the structured form used by ReplicaSets and Deployments.
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Selector, ParseError> {
        let mut out = selector.match_labels.as_ref().map(Selector::from_map).unwrap_or_default();
        for expr in selector.match_expressions.iter().flatten() {
            let values = expr.values.clone().unwrap_or_default();
            let op = match expr.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => return Err(ParseError(format!("{other:?} is not a valid label selector operator"))),
            };
            let wants_values = matches!(op, Op::In | Op::NotIn);
            if wants_values == values.is_empty() {
                let what = if wants_values { "must be non-empty" } else { "must be empty" };
                return Err(ParseError(format!("values: {what} for operator {}", expr.operator)));
            }
            out.requirements.push(Requirement { key: expr.key.clone(), op, values });
        }
        Ok(out)
    }

    /// Parses the string form used by `?labelSelector=` and `kubectl -l`.
    pub fn parse(input: &str) -> Result<Selector, ParseError> {
        let mut requirements = Vec::new();
        for part in split_top_level(input)? {
            let part = part.trim();
            if part.is_empty() {
                if input.trim().is_empty() {
                    continue;
                }
                return Err(ParseError("found ',', expected: identifier".into()));
            }
            let requirement = parse_requirement(part)?;
            for (i, v) in requirement.values.iter().enumerate() {
                if !crate::validation::names::is_label_value(v) {
                    return Err(ParseError(format!(
                        "unable to parse requirement: values[{i}][{}]: Invalid value: {v:?}: {}",
                        requirement.key,
                        crate::validation::names::LABEL_VALUE_MSG
                    )));
                }
            }
            requirements.push(requirement);
        }
        Ok(Selector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches an optional label map (objects without labels have none).
    pub fn matches_opt(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.matches(labels.unwrap_or(&EMPTY))
    }
}

/// Splits on commas that are not inside `( … )`.
fn split_top_level(input: &str) -> Result<Vec<&str>, ParseError> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or_else(|| ParseError("found ')', expected: identifier".into()))?,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(ParseError("found '', expected: ')'".into()));
    }
    parts.push(&input[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> Result<Requirement, ParseError> {
    let ident = |s: &str| -> Result<String, ParseError> {
        let s = s.trim();
        if s.is_empty() || s.contains(|c: char| c.is_whitespace() || "=!(),".contains(c)) {
            return Err(ParseError(format!("found '{s}', expected: identifier")));
        }
        Ok(s.to_string())
    };
    let value = |s: &str| -> Result<String, ParseError> {
        let s = s.trim();
        if s.contains(|c: char| c.is_whitespace() || "=!(),".contains(c)) {
            return Err(ParseError(format!("found '{s}', expected: identifier")));
        }
        Ok(s.to_string())
    };
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement { key: ident(key)?, op: Op::DoesNotExist, values: vec![] });
    }
    for (token, op) in [("!=", Op::NotEquals), ("==", Op::Equals), ("=", Op::Equals)] {
        if let Some((k, v)) = part.split_once(token) {
            return Ok(Requirement { key: ident(k)?, op, values: vec![value(v)?] });
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words[..] {
        let rest = rest.trim_start();
        for (word, op) in [("notin", Op::NotIn), ("in", Op::In)] {
            if let Some(list) = rest.strip_prefix(word) {
                let list = list.trim();
                let inner = list
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(|| ParseError(format!("found '{list}', expected: '('")))?;
                let values = inner.split(',').map(value).collect::<Result<Vec<_>, _>>()?;
                return Ok(Requirement { key: ident(key)?, op, values });
            }
        }
        return Err(ParseError(format!("found '{rest}', expected: in, notin, =, ==, !=, gt, lt")));
    }
    Ok(Requirement { key: ident(part)?, op: Op::Exists, values: vec![] })
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r.op {
                Op::Equals => write!(f, "{}={}", r.key, r.values[0])?,
                Op::NotEquals => write!(f, "{}!={}", r.key, r.values[0])?,
                Op::In => write!(f, "{} in ({})", r.key, r.values.join(","))?,
                Op::NotIn => write!(f, "{} notin ({})", r.key, r.values.join(","))?,
                Op::Exists => write!(f, "{}", r.key)?,
                Op::DoesNotExist => write!(f, "!{}", r.key)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_every_operator() {
        let s = Selector::parse("app=kubia, tier in (web, api),env!=prod,!canary,release,x==y,z notin (a)").unwrap();
        let ops: Vec<Op> = s.requirements().iter().map(|r| r.op).collect();
        use Op::*;
        assert_eq!(ops, [Equals, In, NotEquals, DoesNotExist, Exists, Equals, NotIn]);
        assert_eq!(s.requirements()[1].values, ["web", "api"]);
        assert_eq!(s.to_string(), "app=kubia,tier in (web,api),env!=prod,!canary,release,x=y,z notin (a)");
    }

    #[test]
    fn matching_follows_kubernetes_semantics() {
        let pod = labels(&[("app", "kubia"), ("tier", "web")]);
        let yes = ["app=kubia", "app", "tier in (web,api)", "env!=prod", "!canary", "tier notin (db)", ""];
        for s in yes {
            assert!(Selector::parse(s).unwrap().matches(&pod), "{s} should match");
        }
        let no = ["app=other", "canary", "tier in (db)", "tier notin (web)", "!app", "app=kubia,tier=db"];
        for s in no {
            assert!(!Selector::parse(s).unwrap().matches(&pod), "{s} should not match");
        }
    }

    #[test]
    fn rejects_malformed_selectors() {
        for s in ["app=kubia,", "tier in web", "tier in (web", "a b", "=x", "app=(x)"] {
            assert!(Selector::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn structured_selectors_combine_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "kubia")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        };
        let s = Selector::from_label_selector(&sel).unwrap();
        assert!(s.matches(&labels(&[("app", "kubia"), ("tier", "web")])));
        assert!(!s.matches(&labels(&[("app", "kubia"), ("tier", "db")])));
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(&bad).is_err());
    }
}
