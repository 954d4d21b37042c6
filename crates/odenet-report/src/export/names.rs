//! Identifiers of a target language for the model's names (reserved words and collisions
//! avoided), and string literals every language reads alike.

use super::System;

/// Maps the model's names (states, then parameters and constants) to identifiers of a
/// language: other characters become `_`, a leading digit gets a `_`, reserved words and
/// collisions get trailing `_`s.
pub(super) struct Names {
    pairs: Vec<(String, String)>,
}

impl Names {
    pub(super) fn new(sys: &System, reserved: &[&str]) -> Names {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let all = sys.states.iter().map(String::as_str).chain(sys.p_names());
        for name in all {
            let mut id: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
                id.insert(0, '_');
            }
            while reserved.contains(&id.as_str()) || pairs.iter().any(|(_, b)| *b == id) {
                id.push('_');
            }
            pairs.push((name.to_string(), id));
        }
        Names { pairs }
    }

    pub(super) fn get(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(a, _)| a == name)
            .map_or_else(|| name.to_string(), |(_, b)| b.clone())
    }
}

/// A string literal that Python, Julia, Rust and C all read the same way (JSON's escapes).
pub(super) fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
