//! The dynamic value carried by recorded operations.
//!
//! Histories come from JSON and EDN, so values are a small tagged union covering what both
//! formats express for client operations: nil, booleans, integers, strings, keywords,
//! vectors/lists/sets (all as lists) and maps. Non-integer numbers are kept as their text
//! (`Float`): checkers compare values for equality and never do arithmetic, so exact text is
//! the honest representation. Keywords, symbols and strings stay distinct (`:x`, `x` and
//! `"x"` are three values), as EDN has them.

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    #[default]
    Nil,
    Bool(bool),
    Int(i64),
    Float(String),
    Str(String),
    Keyword(String),
    /// An EDN symbol (`x`, `foo/bar`): a name, never equal to the keyword or string.
    Symbol(String),
    List(Vec<Value>),
    /// Entries sorted by key (both readers sort them), so equality does not depend on the
    /// order a history wrote them in.
    Map(Vec<(Value, Value)>),
}

impl Value {
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The name of a keyword or symbol or the text of a string: `:read`, `read` and
    /// `"read"` all give `read` (where a history names an operation or its type).
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Value::Keyword(s) | Value::Symbol(s) | Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Display for prose: strings without quotes (`x`), everything else as EDN.
    pub fn bare(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.to_string(),
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Converts parsed JSON; integers outside i64 and fractions become `Float` text.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.to_string()),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Value::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// JSON for machine output. Keywords become strings with their leading colon so that
    /// `:x` and `"x"` remain distinguishable; symbols become `{"symbol": name}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(s) => s
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(s.clone())),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Keyword(k) => serde_json::Value::String(format!(":{k}")),
            Value::Symbol(s) => serde_json::json!({ "symbol": s }),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Array(
                m.iter()
                    .map(|(k, v)| serde_json::Value::Array(vec![k.to_json(), v.to_json()]))
                    .collect(),
            ),
        }
    }
}

/// Reads JSON straight into a `Value`, exactly as `Value::from_json` would convert the
/// `serde_json::Value` of the same text, without building that intermediate tree (parsing
/// large histories spent most of its time there). Objects keep `serde_json::Map`'s
/// semantics: keys in sorted order, the last of duplicate keys wins.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        JsonSeed(&mut Vec::new()).deserialize(d)
    }
}

/// Reads one JSON value as `Value`, gathering list elements on `scratch` (a stack shared
/// by the nesting levels and, by a caller that keeps it, by successive values) so that
/// each list is allocated once at its final size instead of grown element by element.
pub(crate) struct JsonSeed<'a>(pub &'a mut Vec<Value>);

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(JsonValueVisitor(self.0))
    }
}

struct JsonValueVisitor<'a>(&'a mut Vec<Value>);

impl<'de> Visitor<'de> for JsonValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(serde_json::Number::from(u).to_string()),
        })
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        // serde_json::Value turns a float without a JSON form into null.
        Ok(serde_json::Number::from_f64(f).map_or(Value::Nil, |n| Value::Float(n.to_string())))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        JsonSeed(self.0).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let scratch = self.0;
        let base = scratch.len();
        let mut read = || {
            while let Some(v) = seq.next_element_seed(JsonSeed(&mut *scratch))? {
                scratch.push(v);
            }
            Ok(())
        };
        let done = read();
        // Exactly sized; the scratch keeps its capacity (and loses this level on error too).
        let items = scratch.split_off(base);
        done.map(|()| Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let scratch = self.0;
        let mut sorted = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(JsonSeed(&mut *scratch))?;
            sorted.insert(k, v);
        }
        Ok(Value::Map(
            sorted
                .into_iter()
                .map(|(k, v)| (Value::Str(k), v))
                .collect(),
        ))
    }
}

/// EDN-like text: `nil`, `3`, `"s"`, `:kw`, `[1 2]`, `{:a 1}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(s) => write!(f, "{s}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Keyword(k) => write!(f, ":{k}"),
            Value::Symbol(s) => write!(f, "{s}"),
            Value::List(l) => {
                write!(f, "[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}
