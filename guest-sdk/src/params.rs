//! Parameters passed to `init` with `--param KEY=VALUE`.

use std::str::FromStr;

/// The agent's parameters, in the order given; a later value of a key wins.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value parsed as `T`, or `default` when absent; an error names
    /// the key and the value when it does not parse.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(text) => text.trim().parse().map_err(|e| format!("param {key}={text:?}: {e}")),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_values_win_and_errors_name_the_key() {
        let p = Params::new(vec![("fast".into(), "5".into()), ("fast".into(), "7".into()), ("slow".into(), "x".into())]);
        assert_eq!(p.parse_or("fast", 10u32), Ok(7));
        assert_eq!(p.parse_or("size", 100.0), Ok(100.0));
        let err = p.parse_or("slow", 30u32).unwrap_err();
        assert!(err.starts_with("param slow=\"x\": "), "{err}");
    }
}
