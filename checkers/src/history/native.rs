//! The native history format: one JSON object per line,
//! `{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1250000}`.
//!
//! Blank lines are skipped. Every other line must be one JSON object with at least
//! `process`, `type` and `f`; `key`, `value` and `time` are optional. Unknown fields are
//! ignored so recorders may add their own. A string `process` (such as `"nemesis"`) marks a
//! non-client event and is skipped.

use super::{event_from_fields, Event};
use crate::error::InputError;
use crate::value::Value;

/// The events as native JSON lines, the form `parse` reads back (`key` only when set).
pub fn to_json_lines(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let mut line = serde_json::Map::new();
        line.insert("process".into(), e.process.into());
        line.insert("type".into(), e.kind.name().into());
        line.insert("f".into(), e.f.clone().into());
        if let Some(k) = &e.key {
            line.insert("key".into(), k.to_json());
        }
        line.insert("value".into(), e.value.to_json());
        line.insert("time".into(), e.time.into());
        out.push_str(&serde_json::Value::Object(line).to_string());
        out.push('\n');
    }
    out
}

pub fn parse(source: &str, text: &str) -> Result<Vec<Event>, InputError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(t).map_err(|e| {
            InputError::new(
                source,
                lineno,
                format!("expected one JSON object per line: {e}"),
            )
        })?;
        let serde_json::Value::Object(obj) = json else {
            return Err(InputError::new(
                source,
                lineno,
                "expected a JSON object `{\"process\":...,\"type\":...,\"f\":...}`",
            ));
        };
        let get = |name: &str| obj.get(name).map(Value::from_json);
        if let Some(e) =
            event_from_fields(get, lineno).map_err(|m| InputError::new(source, lineno, m))?
        {
            events.push(e);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_design_example() {
        let ev = parse(
            "h",
            r#"{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1250000}"#,
        )
        .unwrap();
        assert_eq!(ev[0].process, 3);
        assert_eq!(ev[0].key, Some(Value::Str("k1".into())));
        assert_eq!(ev[0].value, Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(ev[0].time, Some(1_250_000));
    }

    #[test]
    fn rejects_bad_lines_with_line_numbers() {
        let e = parse("h", "\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"done\",\"f\":\"r\"}").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("invoke, ok, fail or info"),
            "{}",
            e.message
        );
        assert_eq!(parse("h", "[1]").unwrap_err().line, 1);
        assert!(parse("h", "{\"type\":\"ok\"}")
            .unwrap_err()
            .message
            .contains("process"));
    }
}
