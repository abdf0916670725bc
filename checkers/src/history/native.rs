//! The native history format: one JSON object per line,
//! `{"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1250000}`.
//!
//! Blank lines are skipped. Every other line must be one JSON object with at least
//! `process`, `type` and `f`; `key`, `value` and `time` are optional. Unknown fields are
//! ignored so recorders may add their own. A string `process` (such as `"nemesis"`) marks a
//! non-client event and is skipped. Of a field given twice, the last one counts.
//!
//! Lines are deserialized straight into the known fields (no `serde_json::Value` per
//! line: building and converting those trees was most of the time spent reading a large
//! history); what is accepted, and every error with its text, is what reading each line
//! as a `serde_json::Value` gave (the tests hold the two side by side).

use super::{event_from_fields, Event, Fields};
use crate::error::InputError;
use crate::value::{JsonSeed, Value};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

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

/// One line as read: an object's known fields, or anything else JSON (an error once the
/// line is known to be valid JSON, so that syntax errors are reported first, as before).
enum Line {
    Object(Fields),
    NotObject,
}

/// Reads a `Line`, its values' lists gathered on a scratch stack kept across lines.
struct LineSeed<'a>(&'a mut Vec<Value>);

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = Line;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Line, D::Error> {
        d.deserialize_any(LineVisitor(self.0))
    }
}

struct LineVisitor<'a>(&'a mut Vec<Value>);

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = Line;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<FieldName>()? {
            // A repeated field replaces the earlier one, as in a `serde_json::Map`.
            let slot = match &*key.0 {
                "process" => &mut fields.process,
                "type" => &mut fields.kind,
                "f" => &mut fields.f,
                "key" => &mut fields.key,
                "value" => &mut fields.value,
                "time" => &mut fields.time,
                _ => {
                    map.next_value::<AnyJson>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value_seed(JsonSeed(&mut *self.0))?);
        }
        Ok(Line::Object(fields))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line, A::Error> {
        while seq.next_element::<AnyJson>()?.is_some() {}
        Ok(Line::NotObject)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Line, E> {
        Ok(Line::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Line, E> {
        Ok(Line::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Line, E> {
        Ok(Line::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Line, E> {
        Ok(Line::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Line, E> {
        Ok(Line::NotObject)
    }
    fn visit_unit<E>(self) -> Result<Line, E> {
        Ok(Line::NotObject)
    }
}

/// An object key, borrowed from the line unless it holds escapes.
struct FieldName<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for FieldName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(FieldName(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// An unknown field's value, read and dropped. It goes through `deserialize_any` like
/// every other value (not `IgnoredAny`, which skips numbers and strings without the checks
/// `serde_json::Value` makes, such as a float out of range), so the same lines are refused.
struct AnyJson;

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<AnyJson, E> {
                Ok(AnyJson)
            }
            fn visit_i64<E>(self, _: i64) -> Result<AnyJson, E> {
                Ok(AnyJson)
            }
            fn visit_u64<E>(self, _: u64) -> Result<AnyJson, E> {
                Ok(AnyJson)
            }
            fn visit_f64<E>(self, _: f64) -> Result<AnyJson, E> {
                Ok(AnyJson)
            }
            fn visit_str<E>(self, _: &str) -> Result<AnyJson, E> {
                Ok(AnyJson)
            }
            fn visit_unit<E>(self) -> Result<AnyJson, E> {
                Ok(AnyJson)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyJson, A::Error> {
                while seq.next_element::<AnyJson>()?.is_some() {}
                Ok(AnyJson)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyJson, A::Error> {
                while map.next_entry::<FieldName, AnyJson>()?.is_some() {}
                Ok(AnyJson)
            }
        }
        d.deserialize_any(V)
    }
}

/// A reader for the plain lines recorders write (objects of unescaped keys whose values
/// are lists, unescaped strings, small integers, booleans and null), several times faster
/// than going through serde. It accepts only text that serde_json reads to the same
/// result, and gives up (`None`) on anything else, valid or not: escapes, fractions,
/// exponents, large integers, nested objects, deep nesting, any syntax error. Those lines
/// are then read by serde, which decides what they mean and words their errors.
struct Plain<'a> {
    b: &'a [u8],
    i: usize,
    /// Where list elements gather, as in `JsonSeed`.
    scratch: &'a mut Vec<Value>,
}

/// Lists nested deeper than this go to serde (whose recursion limit is 128).
const PLAIN_DEPTH: usize = 64;

impl<'a> Plain<'a> {
    fn line(t: &'a str, scratch: &'a mut Vec<Value>) -> Option<Fields> {
        // Left over from a line given up on.
        scratch.clear();
        let mut p = Plain {
            b: t.as_bytes(),
            i: 0,
            scratch,
        };
        let mut fields = Fields::default();
        p.ws();
        p.eat(b'{')?;
        p.ws();
        if !p.eat_if(b'}') {
            loop {
                p.ws();
                let key = p.string()?;
                p.ws();
                p.eat(b':')?;
                p.ws();
                let v = p.value(0)?;
                // A repeated field replaces the earlier one, as in a `serde_json::Map`.
                match key {
                    "process" => fields.process = Some(v),
                    "type" => fields.kind = Some(v),
                    "f" => fields.f = Some(v),
                    "key" => fields.key = Some(v),
                    "value" => fields.value = Some(v),
                    "time" => fields.time = Some(v),
                    _ => {}
                }
                p.ws();
                if p.eat_if(b'}') {
                    break;
                }
                p.eat(b',')?;
            }
        }
        p.ws();
        (p.i == p.b.len()).then_some(fields)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn eat_if(&mut self, c: u8) -> bool {
        let yes = self.b.get(self.i) == Some(&c);
        self.i += usize::from(yes);
        yes
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.eat_if(c).then_some(())
    }

    /// A string without escapes or control characters, as it stands in the line.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        let b: &'a [u8] = self.b;
        let s = std::str::from_utf8(&b[start..self.i]).ok()?;
        self.i += 1;
        Some(s)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        match *self.b.get(self.i)? {
            b'"' => self.string().map(|s| Value::Str(s.to_string())),
            b'[' => {
                if depth >= PLAIN_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                let base = self.scratch.len();
                if !self.eat_if(b']') {
                    loop {
                        self.ws();
                        let v = self.value(depth + 1)?;
                        self.scratch.push(v);
                        self.ws();
                        if self.eat_if(b']') {
                            break;
                        }
                        self.eat(b',')?;
                    }
                }
                Some(Value::List(self.scratch.split_off(base)))
            }
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Nil),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Option<Value> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| {
            self.i = end;
            v
        })
    }

    /// An integer of at most 18 digits (so it fits an i64), not `-0` (serde reads that as
    /// a float) and without a leading zero (an error).
    fn integer(&mut self) -> Option<Value> {
        let neg = self.eat_if(b'-');
        let start = self.i;
        let mut n: i64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
            if self.i - start == 18 {
                return None;
            }
            n = n * 10 + i64::from(d - b'0');
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') || (neg && n == 0) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i) {
            return None;
        }
        Some(Value::Int(if neg { -n } else { n }))
    }
}

/// A line the plain reader gave up on, read by serde, which decides and words every error.
fn serde_line(t: &str, scratch: &mut Vec<Value>) -> Result<Fields, String> {
    // What `serde_json::from_str` does, with a seed: the value, then only whitespace.
    let mut de = serde_json::Deserializer::from_str(t);
    let parsed = LineSeed(scratch)
        .deserialize(&mut de)
        .and_then(|l| de.end().map(|()| l))
        .map_err(|e| format!("expected one JSON object per line: {e}"))?;
    match parsed {
        Line::Object(fields) => Ok(fields),
        Line::NotObject => {
            Err("expected a JSON object `{\"process\":...,\"type\":...,\"f\":...}`".into())
        }
    }
}

pub fn parse(source: &str, text: &str) -> Result<Vec<Event>, InputError> {
    // Two lines of about 200 bytes per operation is the common shape; a hint only.
    let mut events = Vec::with_capacity(text.len() / 200);
    let mut scratch = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let fields = match Plain::line(t, &mut scratch) {
            Some(fields) => fields,
            None => serde_line(t, &mut scratch).map_err(|m| InputError::new(source, lineno, m))?,
        };
        if let Some(e) =
            event_from_fields(fields, lineno).map_err(|m| InputError::new(source, lineno, m))?
        {
            events.push(e);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader as it was before it deserialized lines directly: a `serde_json::Value`
    /// per line, converted. The direct reader must agree with it on every line.
    fn parse_via_json_value(source: &str, text: &str) -> Result<Vec<Event>, InputError> {
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
            if let Some(e) = event_from_fields(Fields::look_up(get), lineno)
                .map_err(|m| InputError::new(source, lineno, m))?
            {
                events.push(e);
            }
        }
        Ok(events)
    }

    #[test]
    fn agrees_with_reading_through_json_values() {
        let ok = r#"{"process":1,"type":"invoke","f":"txn""#;
        let lines = [
            r#"{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["append","x",3]]}"#.to_string(),
            r#"{"process":1,"type":"ok","f":"txn","value":[["r","x",[1,2,3]]],"time":5,"extra":{"a":[1,{}]}}"#.into(),
            // Duplicate keys: the last one wins, at the top and inside values.
            r#"{"process":1,"type":"ok","type":"info","f":"a","f":"b","value":{"z":1,"a":2,"z":3}}"#.into(),
            r#"{"process":"nemesis","type":"info","f":"start"}"#.into(),
            r#"{"process":2,"type":"invoke","f":{"k":[true,false]},"key":null,"value":-0}"#.into(),
            r#"{"process":2,"type":"invoke","f":"w","key":"k","value":[18446744073709551615,-9223372036854775808,-9223372036854775809,1.5,1e3,-0.0,2E-2,[]]}"#.into(),
            r#"{"pro\u0063ess":3,"type":"inv\u006fke","f":"\u00e9\ud83d\ude00","value":"\n"}"#.into(),
            format!("{ok},\"unknown\":1e400}}"),
            format!("{ok},\"unknown\":\"\\ud800\"}}"),
            format!("{ok},\"unknown\":\"\\x\"}}"),
            format!("{ok},\"value\":\"\\ud800\"}}"),
            format!("{ok},\"unknown\":[1,2,}}"),
            format!("{ok},\"value\":1e400}}"),
            format!("{ok}}} trailing"),
            format!("{ok}}}  \t"),
            format!("{ok},\"time\":-1}}"),
            format!("{ok},\"time\":1.0}}"),
            format!("{ok},\"time\":null}}"),
            format!("{ok},\"process\":1.5}}"),
            format!("{ok},\"type\":3}}"),
            format!("{ok},\"type\":\"done\"}}"),
            format!("{ok},1:2}}"),
            format!("{ok},\"x\":{{\"a\":1,}}}}"),
            format!("{ok},\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200)),
            format!("{ok},\"value\":{}1{}}}", "[".repeat(200), "]".repeat(200)),
            // The plain reader's edges: what it reads, and what it leaves to serde.
            format!("{ok},\"value\":[0,-1,01]}}"),
            format!("{ok},\"value\":[-0]}}"),
            format!("{ok},\"value\":[-]}}"),
            format!("{ok},\"value\":[+1]}}"),
            format!("{ok},\"value\":[1.]}}"),
            format!("{ok},\"value\":[1e]}}"),
            format!("{ok},\"value\":[999999999999999999,-999999999999999999]}}"),
            format!("{ok},\"value\":[1000000000000000000,-1000000000000000000]}}"),
            format!("{ok},\"value\":[9223372036854775807,9223372036854775808]}}"),
            format!("{ok},\"value\":[1,]}}"),
            format!("{ok},\"value\":[,1]}}"),
            format!("{ok},\"value\":[1 2]}}"),
            format!("{ok},\"value\":[ 1 , [ ] , [[]] ,\"\" ]\t}}"),
            format!("{ok},\"value\":tru}}"),
            format!("{ok},\"value\":nulll}}"),
            format!("{ok},\"value\":falsee}}"),
            format!("{ok},\"value\":\"a\tb\"}}"),
            format!("{ok},\"value\":\"a\u{1}b\"}}"),
            format!("{ok},\"value\":\"a\\\"b\"}}"),
            format!("{ok},\"value\":\"é ✓\"}}"),
            format!("{ok},\"value\":{}1{}}}", "[".repeat(70), "]".repeat(70)),
            format!("{ok},\"va\\lue\":1}}"),
            format!("{ok},}}"),
            format!("{ok},,\"x\":1}}"),
            format!("{ok} \"x\":1}}"),
            format!("{ok},\"x\" 1}}"),
            format!("{ok},\"x\":}}"),
            format!("{ok},\"x\":1"),
            format!("{ok},\"x\":[1"),
            format!("{ok},\"x\":\"1"),
            format!("{ok}}}{{}}"),
            "{,}".into(),
            "{ }".into(),
            "{\"\":1}".into(),
            "\t{\"process\":4,\"type\":\"invoke\",\"f\":\"r\"}\t".into(),
            "{\"process\":4\r,\"type\":\"invoke\",\"f\":\"r\"}".into(),
            r#"{"type":"ok","f":"r"}"#.into(),
            r#"{"process":1,"f":"r"}"#.into(),
            r#"{"process":1,"type":"ok"}"#.into(),
            r#"{}"#.into(),
            r#"[1,2]"#.into(),
            r#"[1,2"#.into(),
            r#""text""#.into(),
            "null".into(),
            "3".into(),
            "true".into(),
            "{".into(),
            "{\"process\":1,".into(),
            "nonsense".into(),
        ];
        // The common lines take the plain path; the others above are compared whichever
        // path they take.
        for line in &lines[..1] {
            assert!(Plain::line(line, &mut Vec::new()).is_some(), "{line}");
        }
        for line in &lines {
            for text in [line.clone(), format!("\n  {line}  \r\n")] {
                let direct = parse("h", &text);
                let reference = parse_via_json_value("h", &text);
                match (&direct, &reference) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
                    (Err(a), Err(b)) => {
                        assert_eq!((a.line, &a.message), (b.line, &b.message), "{text}")
                    }
                    _ => panic!("{text}: {direct:?} but through JSON values {reference:?}"),
                }
            }
        }
        // Every line at once, up to the first error, and a history of the good lines.
        let all = lines.join("\n");
        assert_eq!(
            parse("h", &all).map_err(|e| (e.line, e.message)),
            parse_via_json_value("h", &all).map_err(|e| (e.line, e.message))
        );
        let good: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| parse_via_json_value("h", l).is_ok())
            .collect();
        assert!(good.len() >= 8, "{good:?}");
        let good = good.join("\n");
        assert_eq!(
            parse("h", &good).unwrap(),
            parse_via_json_value("h", &good).unwrap()
        );
    }

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

    proptest::proptest! {
        /// Lines put together from JSON tokens, most of them after a valid start: the
        /// direct reader (plain path or serde) agrees with the `serde_json::Value` one.
        #[test]
        fn agrees_on_token_soup(
            start in proptest::bool::ANY,
            tokens in proptest::collection::vec(proptest::sample::select(vec![
                "{", "}", "[", "]", ",", ":", " ", "\t", "\"process\"", "\"type\"", "\"f\"",
                "\"value\"", "\"time\"", "\"key\"", "\"x\"", "\"invoke\"", "\"ok\"", "1", "-1",
                "0", "-0", "01", "1.5", "1e2", "-", "null", "true", "fals", "\"a\\\"b\"",
                "\"\\u00e9\"", "\"é\"", "12345678901234567890", "999999999999999999",
            ]), 0..24),
        ) {
            let prefix = if start { "{\"process\":1,\"type\":\"invoke\",\"f\":\"txn\"," } else { "" };
            let line = format!("{prefix}{}", tokens.concat());
            let direct = parse("h", &line).map_err(|e| (e.line, e.message));
            let reference = parse_via_json_value("h", &line).map_err(|e| (e.line, e.message));
            proptest::prop_assert_eq!(direct, reference, "{}", line);
        }
    }
}
