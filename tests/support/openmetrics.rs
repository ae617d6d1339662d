//! A strict reader of the OpenMetrics text format (what Prometheus scrapes), enough to
//! check that `/metrics` parses and to read its samples back.
//!
//! It checks what a scraper relies on: every sample belongs to a family declared by a
//! `# TYPE` line before it (a counter's samples end in `_total`), names and labels are
//! well formed, values are numbers, and the exposition ends with `# EOF`.
//!
//! Included by the tests that read `/metrics` with `#[path = "support/openmetrics.rs"]`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name -> type (`counter`, `gauge`, ...).
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `{k="v",...}` at the start of `text`; returns the labels and the rest.
fn labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut out = BTreeMap::new();
    let Some(mut rest) = text.strip_prefix('{') else {
        return Ok((out, text));
    };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((out, after));
        }
        let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
        if !valid_name(key) {
            return Err(format!("bad label name {key:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        out.insert(key.to_owned(), value);
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The family a sample name belongs to, given the declared types.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.get(name).is_some_and(|t| t != "counter") {
        return Some(name);
    }
    let base = name
        .strip_suffix("_total")
        .or_else(|| name.strip_suffix("_created"))?;
    (types.get(base).map(String::as_str) == Some("counter")).then_some(base)
}

/// Parses `text`, refusing anything a scraper would refuse.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("does not end with # EOF")?;
    let mut out = Exposition::default();
    for line in body.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next(), parts.next().ok_or("empty comment")?);
            if !valid_name(name) {
                return Err(format!("bad metric name in {line:?}"));
            }
            match (kind, parts.next()) {
                (Some("TYPE"), Some(t)) => {
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "info",
                        "unknown",
                    ];
                    if !known.contains(&t) {
                        return Err(format!("unknown type in {line:?}"));
                    }
                    if out.types.insert(name.to_owned(), t.to_owned()).is_some() {
                        return Err(format!("family declared twice: {line:?}"));
                    }
                }
                (Some("HELP" | "UNIT"), _) => {}
                _ => return Err(format!("bad comment {line:?}")),
            }
            continue;
        }
        let end = line
            .find(['{', ' '])
            .ok_or(format!("no value in {line:?}"))?;
        let name = &line[..end];
        if !valid_name(name) || family(name, &out.types).is_none() {
            return Err(format!("sample of no declared family: {line:?}"));
        }
        let (labels, rest) = labels(&line[end..]).map_err(|e| format!("{e} in {line:?}"))?;
        let value = rest
            .strip_prefix(' ')
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or(format!("bad value in {line:?}"))?;
        out.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(out)
}
