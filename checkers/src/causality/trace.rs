//! Reading vector-clock traces: the simulator's JSON lines and ShiViz/GoVector logs.
//!
//! JSON lines (one event per line; other fields are ignored):
//! `{"node":"n1","vc":{"n1":3,"n2":1},"kind":"send","msg":"m7"}`. `node` is a host name, an
//! integer index, or null for world events (partitions, heals), which carry no clock and are
//! skipped. `vc` is an object host->counter or an array indexed by node; array indices are
//! named by an optional header line `{"nodes":["n0","n1",...]}`, else by their number. A node
//! event with `"vc":null` is skipped too (not every trace event ticks the clock), but a line
//! missing `node` or `vc` altogether is an error: a misspelt key must not silently drop
//! events and make up causal violations. `kind`
//! `"send"`/`"deliver"` (also `"recv"`/`"receive"`) with a `"msg"` id (string or integer)
//! link messages; any other kind is a local event.
//!
//! GoVector/ShiViz logs: pairs of lines `host {"host":n,...}` and a description. Lines
//! before the first clock line (a regex header, blank lines) are skipped. These logs have
//! no message ids; receives are inferred from the clocks, as ShiViz does.

use crate::error::InputError;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Send,
    Deliver,
    Local,
}

/// One event with a clock.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    pub line: usize,
    pub host: u32,
    pub kind: EventKind,
    /// Message id of a send or deliver (JSON traces only).
    pub msg: Option<String>,
    /// What happened, for ShiViz and reports.
    pub label: String,
}

/// A trace: events in file order with dense clocks (`clock(i)[h]` for host index `h`).
#[derive(Clone, Debug)]
pub struct Trace {
    pub source: String,
    pub hosts: Vec<String>,
    pub events: Vec<TraceEvent>,
    clocks: Vec<u64>,
    /// Whether message ids link sends and delivers (JSON) or they must be inferred (GoVector).
    pub has_msg_ids: bool,
}

impl Trace {
    pub fn clock(&self, i: usize) -> &[u64] {
        let h = self.hosts.len();
        &self.clocks[i * h..(i + 1) * h]
    }

    /// Builds a trace from events with sparse clocks. Hosts named only in clocks stay in
    /// `hosts` (with no events) so validation can report them as unknown.
    pub fn from_parts(
        source: &str,
        host_names: Vec<String>,
        raw: Vec<(TraceEvent, Vec<(u32, u64)>)>,
        has_msg_ids: bool,
    ) -> Trace {
        let h = host_names.len();
        let mut clocks = vec![0u64; raw.len() * h];
        let mut events = Vec::with_capacity(raw.len());
        for (i, (e, sparse)) in raw.into_iter().enumerate() {
            for (k, v) in sparse {
                clocks[i * h + k as usize] = v;
            }
            events.push(e);
        }
        Trace {
            source: source.to_string(),
            hosts: host_names,
            events,
            clocks,
            has_msg_ids,
        }
    }
}

/// Host names interned to dense indices.
#[derive(Default)]
struct Hosts {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl Hosts {
    fn get(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }
}

/// Parses a trace, detecting JSON lines vs GoVector by the first significant line. A UTF-8
/// byte-order mark (as some editors write) is not part of the text.
pub fn parse_trace(source: &str, text: &str) -> Result<Trace, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        None => Err(InputError::new(
            source,
            0,
            "expected trace events, found an empty file",
        )),
        Some(l) if l.starts_with('{') => parse_json(source, text),
        Some(_) => parse_govector(source, text),
    }
}

pub fn read_trace(path: &std::path::Path) -> Result<Trace, InputError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(&source, 0, format!("cannot read as UTF-8 text: {e}")))?;
    parse_trace(&source, &text)
}

/// A host reference in JSON: name, index or null.
enum NodeRef<'a> {
    None,
    Name(Cow<'a, str>),
    Index(u64),
}

impl<'de: 'a, 'a> Deserialize<'de> for NodeRef<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeRef<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node name, a node index or null")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(NodeRef::Name(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(NodeRef::Name(Cow::Owned(s.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NodeRef::Index(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(NodeRef::None)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(NodeRef::None)
            }
        }
        d.deserialize_any(V)
    }
}

/// A clock in JSON: object host->counter or array by index.
enum RawVc<'a> {
    Map(Vec<(Cow<'a, str>, u64)>),
    Array(Vec<u64>),
}

struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a host name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawVc<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawVc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a vector clock: an object host->counter or an array of counters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Key<'de>, u64>()? {
                    out.push((k.0, v));
                }
                Ok(RawVc::Map(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = s.next_element::<u64>()? {
                    out.push(v);
                }
                Ok(RawVc::Array(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A message id: string or integer.
struct MsgId(String);

impl<'de> Deserialize<'de> for MsgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MsgId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message id (string or integer)")
            }
            fn visit_str<E>(self, s: &str) -> Result<MsgId, E> {
                Ok(MsgId(s.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<MsgId, E> {
                Ok(MsgId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MsgId, E> {
                Ok(MsgId(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Deserializes a field that may be null: `None` when the field is absent (thanks to
/// `default`), `Some(None)` when it is null. A misspelt key must not read as a null one.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    node: Option<Option<NodeRef<'a>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    vc: Option<Option<RawVc<'a>>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    msg: Option<MsgId>,
    #[serde(default)]
    nodes: Option<Vec<String>>,
}

fn parse_json(source: &str, text: &str) -> Result<Trace, InputError> {
    let mut hosts = Hosts::default();
    let mut header: Option<Vec<String>> = None;
    // (event, clock entries by name or index) before every host is known.
    let mut pending: Vec<(TraceEvent, Vec<(u32, u64)>)> = Vec::new();
    let mut has_msg = false;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let raw: RawEvent = serde_json::from_str(t).map_err(|e| {
            InputError::new(
                source,
                lineno,
                format!(
                    "expected a JSON trace event {{\"node\":...,\"vc\":...,\"kind\":...}}: {e}"
                ),
            )
        })?;
        if let Some(names) = raw.nodes {
            if raw.kind.is_none() && raw.vc.is_none() && raw.node.is_none() {
                header = Some(names);
                continue;
            }
        }
        let name_of = |idx: u64, header: &Option<Vec<String>>| -> Result<String, InputError> {
            match header {
                Some(h) => h.get(idx as usize).cloned().ok_or_else(|| {
                    InputError::new(
                        source,
                        lineno,
                        format!(
                            "expected a node index below {} (the header's node count), found {idx}",
                            h.len()
                        ),
                    )
                }),
                None => Ok(idx.to_string()),
            }
        };
        let host =
            match raw.node {
                None => return Err(InputError::new(
                    source,
                    lineno,
                    "expected a `node` field: a host name, a node index, or null for a world event",
                )),
                Some(None) | Some(Some(NodeRef::None)) => continue, // world event
                Some(Some(NodeRef::Name(n))) => hosts.get(&n),
                Some(Some(NodeRef::Index(i))) => {
                    let n = name_of(i, &header)?;
                    hosts.get(&n)
                }
            };
        let vc = match raw.vc {
            None => return Err(InputError::new(
                source,
                lineno,
                "expected a `vc` field on a node's event: its vector clock (null if it has none)",
            )),
            Some(None) => continue, // explicitly no clock
            Some(Some(vc)) => vc,
        };
        let mut sparse = Vec::new();
        match vc {
            RawVc::Map(entries) => {
                for (k, v) in entries {
                    let h = hosts.get(&k);
                    sparse.push((h, v));
                }
            }
            RawVc::Array(vals) => {
                for (idx, v) in vals.into_iter().enumerate() {
                    if v > 0 {
                        let h = hosts.get(&name_of(idx as u64, &header)?);
                        sparse.push((h, v));
                    }
                }
            }
        }
        let kind_text = raw.kind.as_deref().unwrap_or("event");
        let kind = match kind_text {
            "send" => EventKind::Send,
            "deliver" | "recv" | "receive" => EventKind::Deliver,
            _ => EventKind::Local,
        };
        let msg = raw.msg.map(|m| m.0);
        if kind != EventKind::Local && msg.is_none() {
            return Err(InputError::new(
                source,
                lineno,
                format!("expected a \"msg\" id on a {kind_text} event"),
            ));
        }
        has_msg |= msg.is_some();
        let label = match &msg {
            Some(m) => format!("{kind_text} {m}"),
            None => kind_text.to_string(),
        };
        pending.push((
            TraceEvent {
                line: lineno,
                host,
                kind,
                msg,
                label,
            },
            sparse,
        ));
    }
    if pending.is_empty() {
        return Err(InputError::new(
            source,
            0,
            "expected at least one node event with a vector clock, found none",
        ));
    }
    Ok(Trace::from_parts(source, hosts.names, pending, has_msg))
}

fn parse_govector(source: &str, text: &str) -> Result<Trace, InputError> {
    let mut hosts = Hosts::default();
    let mut pending: Vec<(TraceEvent, Vec<(u32, u64)>)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let clock_line = |l: &str| -> Option<(String, String)> {
        let l = l.trim_end();
        let sp = l.find(|c: char| c.is_whitespace())?;
        let rest = l[sp..].trim_start();
        rest.starts_with('{')
            .then(|| (l[..sp].to_string(), rest.to_string()))
    };
    // Skip a header (regex line, blank lines) up to the first clock line.
    while i < lines.len() && clock_line(lines[i]).is_none() {
        i += 1;
    }
    if i == lines.len() {
        return Err(InputError::new(source, 0, "expected GoVector lines `host {\"host\":1}` followed by an event description, found none"));
    }
    while i < lines.len() {
        let lineno = i + 1;
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let Some((host_name, clock_text)) = clock_line(lines[i]) else {
            return Err(InputError::new(
                source,
                lineno,
                "expected a clock line `host {\"host\":n,...}`",
            ));
        };
        let clock: Vec<(String, u64)> = serde_json::from_str::<
            serde_json::Map<String, serde_json::Value>,
        >(&clock_text)
        .map_err(|e| InputError::new(source, lineno, format!("expected a JSON clock object: {e}")))?
        .into_iter()
        .map(|(k, v)| match v.as_u64() {
            Some(n) => Ok((k, n)),
            None => Err(InputError::new(
                source,
                lineno,
                format!("expected a non-negative integer counter for `{k}`, found {v}"),
            )),
        })
        .collect::<Result<_, _>>()?;
        let Some(label) = lines.get(i + 1) else {
            return Err(InputError::new(source, lineno + 1, "expected an event description line after the clock line, found the end of the file"));
        };
        let host = hosts.get(&host_name);
        let mut sparse = Vec::new();
        for (k, v) in clock {
            let h = hosts.get(&k);
            sparse.push((h, v));
        }
        pending.push((
            TraceEvent {
                line: lineno,
                host,
                kind: EventKind::Local,
                msg: None,
                label: label.trim().to_string(),
            },
            sparse,
        ));
        i += 2;
    }
    Ok(Trace::from_parts(source, hosts.names, pending, false))
}
