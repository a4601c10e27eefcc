//! The market-data message format: one JSON object per bar, shared by JSONL
//! replay files and Pub/Sub messages.
//!
//! ```json
//! {"timestamp": "2024-11-17T14:30:00Z", "open": 150.25, "high": 151.5, "low": 149.75,
//!  "close": 151.25, "volume": 10000, "sentiment_score": 0.65,
//!  "latest_news": {"sentiment": 0.75, "headline": "..."}}
//! ```
//!
//! Extra numbers are dynamic fields, strings are text fields, nested objects
//! flatten with `_`, booleans read as 1 and 0, and `null` is missing.

use crate::decimal;
use crate::market::{OHLCV, Ohlc};
use crate::time::Timestamp;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// One parsed message, its fields in the order they appeared.
#[derive(Debug, PartialEq)]
pub struct Message {
    pub symbol: Option<String>,
    pub time: Timestamp,
    pub prices: Ohlc,
    /// Every numeric field, OHLCV included.
    pub numbers: Vec<(String, f64)>,
    pub texts: Vec<(String, String)>,
}

/// Why a message was refused. The text names the offending key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct MessageError(String);

impl Message {
    pub fn parse(data: &str) -> Result<Self, MessageError> {
        let top: Fields = serde_json::from_str(data).map_err(|e| MessageError(format!("not a JSON object: {e}")))?;
        let mut message = Message {
            symbol: None,
            time: Timestamp::default(),
            prices: Ohlc::default(),
            numbers: Vec::with_capacity(top.0.len()),
            texts: Vec::new(),
        };
        let mut time = None;
        let mut exact = [None; 4];
        for (key, raw) in top.0 {
            match &*key {
                "timestamp" => time = Some(Timestamp::parse(&string(&key, raw)?).map_err(|e| MessageError(e.to_string()))?),
                "symbol" => message.symbol = Some(string(&key, raw)?),
                _ => {
                    if let Some(i) = OHLCV[..4].iter().position(|f| *f == key) {
                        exact[i] = Some(decimal::parse(raw.get()).ok_or_else(|| not_a_number(&key, raw))?);
                    }
                    message.add(key, raw)?;
                }
            }
        }
        message.time = time.ok_or_else(|| MessageError("missing timestamp".into()))?;
        let [open, high, low, close] = exact;
        let missing = |name: &str| MessageError(format!("missing {name}"));
        message.prices = Ohlc {
            open: open.ok_or_else(|| missing("open"))?,
            high: high.ok_or_else(|| missing("high"))?,
            low: low.ok_or_else(|| missing("low"))?,
            close: close.ok_or_else(|| missing("close"))?,
        };
        if !message.numbers.iter().any(|(name, _)| name == "volume") {
            return Err(missing("volume"));
        }
        Ok(message)
    }

    fn add(&mut self, name: String, raw: &RawValue) -> Result<(), MessageError> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'{') => {
                let nested: Fields = serde_json::from_str(text).map_err(|e| MessageError(format!("{name}: {e}")))?;
                for (key, raw) in nested.0 {
                    self.add(format!("{name}_{key}"), raw)?;
                }
            }
            Some(b'"') => {
                let value = string(&name, raw)?;
                self.texts.push((name, value));
            }
            Some(b'[') => return Err(MessageError(format!("{name}: arrays are not supported"))),
            _ if text == "null" => {}
            _ if text == "true" => self.numbers.push((name, 1.0)),
            _ if text == "false" => self.numbers.push((name, 0.0)),
            _ => {
                let value: f64 = text.parse().map_err(|_| not_a_number(&name, raw))?;
                self.numbers.push((name, value));
            }
        }
        Ok(())
    }
}

fn string(name: &str, raw: &RawValue) -> Result<String, MessageError> {
    serde_json::from_str(raw.get()).map_err(|_| MessageError(format!("{name} must be a string, got {}", raw.get())))
}

fn not_a_number(name: &str, raw: &RawValue) -> MessageError {
    MessageError(format!("{name}: not a number: {}", raw.get()))
}

/// A JSON object's members in order, values left as raw text.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    const SAMPLE: &str = r#"{"timestamp": "2024-11-17T14:30:00Z", "open": 150.25, "high": 151.5, "low": 149.75, "close": 151.25, "volume": 10000, "rsi": 65.8, "sentiment_score": 0.65, "latest_news": {"sentiment": 0.75, "relevance": 0.9, "headline": "Acme beats"}}"#;

    #[test]
    fn flattens_nested_objects_and_splits_numbers_from_text() {
        let m = Message::parse(SAMPLE).unwrap();
        assert_eq!(m.time.to_string(), "2024-11-17T14:30:00Z");
        assert_eq!(m.symbol, None);
        let names: Vec<&str> = m.numbers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "open",
                "high",
                "low",
                "close",
                "volume",
                "rsi",
                "sentiment_score",
                "latest_news_sentiment",
                "latest_news_relevance"
            ]
        );
        assert_eq!(m.numbers[7].1, 0.75);
        assert_eq!(m.texts, [("latest_news_headline".to_string(), "Acme beats".to_string())]);
        assert_eq!(m.prices.close, Decimal::from_str("151.25").unwrap());
    }

    #[test]
    fn keeps_the_decimal_text_of_prices() {
        let m = Message::parse(r#"{"timestamp":"2024-01-01 00:00:00","symbol":"X","open":100.1733,"high":1.00000000000000001,"low":1,"close":1e2,"volume":0}"#).unwrap();
        assert_eq!(m.prices.open.to_string(), "100.1733");
        assert_eq!(m.prices.high.to_string(), "1.00000000000000001");
        assert_eq!(m.prices.close, Decimal::from(100));
        assert_eq!(m.symbol.as_deref(), Some("X"));
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (r#"{"open":1}"#, "missing timestamp"),
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"timestamp":"2024-01-01","open":1,"high":1,"low":1,"close":1}"#, "missing volume"),
            (r#"{"timestamp":"2024-01-01","open":"x","high":1,"low":1,"close":1,"volume":1}"#, "open: not a number"),
            (
                r#"{"timestamp":"2024-01-01","open":1,"high":1,"low":1,"close":1,"volume":1,"tags":[1]}"#,
                "tags: arrays are not supported",
            ),
            (r#"{"timestamp":17,"open":1}"#, "timestamp must be a string"),
            (r#"{"timestamp":"soon","open":1}"#, "bad timestamp"),
        ];
        for (input, expected) in cases {
            let err = Message::parse(input).unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }
}
