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
use crate::fxhash::FxBuild;
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
    /// Only looked up, never iterated: `names` holds the order.
    index: HashMap<String, u32, FxBuild>,
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

/// Host ids of node indices (a clock array's positions, a numeric `node`), remembered so
/// that a long trace does not build and look up a name per clock entry: that was most of
/// the time spent reading one. Indices are named by the current header, else by their
/// number; a new header forgets what the old one named.
struct IndexNames {
    header: Option<Vec<String>>,
    ids: Vec<Option<u32>>,
}

/// Indices beyond this are named each time (no trace has that many hosts; a stray huge
/// index must not make the table huge).
const REMEMBERED_INDICES: u64 = 1 << 12;

impl IndexNames {
    fn set_header(&mut self, names: Vec<String>) {
        self.header = Some(names);
        self.ids.clear();
    }

    fn host(
        &mut self,
        hosts: &mut Hosts,
        idx: u64,
        source: &str,
        lineno: usize,
    ) -> Result<u32, InputError> {
        if let Some(Some(id)) = self.ids.get(idx as usize) {
            return Ok(*id);
        }
        let id = match &self.header {
            Some(h) => match h.get(idx as usize) {
                Some(name) => hosts.get(name),
                None => {
                    return Err(InputError::new(
                        source,
                        lineno,
                        format!(
                            "expected a node index below {} (the header's node count), found {idx}",
                            h.len()
                        ),
                    ))
                }
            },
            None => hosts.get(&idx.to_string()),
        };
        if idx < REMEMBERED_INDICES {
            let i = idx as usize;
            if self.ids.len() <= i {
                self.ids.resize(i + 1, None);
            }
            self.ids[i] = Some(id);
        }
        Ok(id)
    }
}

fn parse_json(source: &str, text: &str) -> Result<Trace, InputError> {
    let mut hosts = Hosts::default();
    let mut names = IndexNames {
        header: None,
        ids: Vec::new(),
    };
    // Events, and their clock entries (host, counter) all in one list, `ends[i]` closing
    // event i's, before every host is known.
    // Sized for lines of about 100 bytes, a hint only: growing lists of a million
    // events copies them over and over.
    let lines_hint = text.len() / 100;
    let mut events: Vec<TraceEvent> = Vec::with_capacity(lines_hint);
    let mut entries: Vec<(u32, u64)> = Vec::with_capacity(lines_hint * 4);
    let mut ends: Vec<usize> = Vec::with_capacity(lines_hint);
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
        if let Some(header) = raw.nodes {
            if raw.kind.is_none() && raw.vc.is_none() && raw.node.is_none() {
                names.set_header(header);
                continue;
            }
        }
        let host =
            match raw.node {
                None => return Err(InputError::new(
                    source,
                    lineno,
                    "expected a `node` field: a host name, a node index, or null for a world event",
                )),
                Some(None) | Some(Some(NodeRef::None)) => continue, // world event
                Some(Some(NodeRef::Name(n))) => hosts.get(&n),
                Some(Some(NodeRef::Index(i))) => names.host(&mut hosts, i, source, lineno)?,
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
        match vc {
            RawVc::Map(map) => {
                for (k, v) in map {
                    let h = hosts.get(&k);
                    entries.push((h, v));
                }
            }
            RawVc::Array(vals) => {
                for (idx, v) in vals.into_iter().enumerate() {
                    if v > 0 {
                        let h = names.host(&mut hosts, idx as u64, source, lineno)?;
                        entries.push((h, v));
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
        // Built by hand: `format!` here was a noticeable part of reading a long trace.
        let mut label =
            String::with_capacity(kind_text.len() + msg.as_ref().map_or(0, |m| m.len() + 1));
        label.push_str(kind_text);
        if let Some(m) = &msg {
            label.push(' ');
            label.push_str(m);
        }
        events.push(TraceEvent {
            line: lineno,
            host,
            kind,
            msg,
            label,
        });
        ends.push(entries.len());
    }
    if events.is_empty() {
        return Err(InputError::new(
            source,
            0,
            "expected at least one node event with a vector clock, found none",
        ));
    }
    let h = hosts.names.len();
    let mut clocks = vec![0u64; events.len() * h];
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        for &(k, v) in &entries[start..end] {
            clocks[i * h + k as usize] = v;
        }
        start = end;
    }
    Ok(Trace {
        source: source.to_string(),
        hosts: hosts.names,
        events,
        clocks,
        has_msg_ids: has_msg,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_indices_follow_the_header_in_force() {
        let text = "{\"nodes\":[\"a\",\"b\"]}\n\
                    {\"node\":0,\"vc\":[1,0]}\n\
                    {\"node\":1,\"vc\":[1,1],\"kind\":\"send\",\"msg\":7}\n\
                    {\"nodes\":[\"b\",\"a\"]}\n\
                    {\"node\":0,\"vc\":[0,2],\"kind\":\"recv\",\"msg\":\"7\"}\n";
        let t = parse_trace("t", text).unwrap();
        assert_eq!(t.hosts, ["a", "b"]);
        let hosts: Vec<u32> = t.events.iter().map(|e| e.host).collect();
        assert_eq!(hosts, [0, 1, 1]);
        assert_eq!(t.clock(2), [2, 0], "index 1 is `a` under the second header");
        assert_eq!(t.events[2].label, "recv 7");
        assert_eq!(t.events[1].label, "send 7");
        let e = parse_trace("t", "{\"nodes\":[\"a\"]}\n{\"node\":0,\"vc\":[1,0,3]}").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.message,
            "expected a node index below 1 (the header's node count), found 2"
        );
        // Without a header, indices are named by their number.
        let t = parse_trace(
            "t",
            "{\"node\":2,\"vc\":[0,1,1]}\n{\"node\":\"x\",\"vc\":{\"2\":2}}",
        )
        .unwrap();
        assert_eq!(t.hosts, ["2", "1", "x"]);
        assert_eq!(t.clock(0), [1, 1, 0]);
        assert_eq!(t.clock(1), [2, 0, 0]);
    }
}
