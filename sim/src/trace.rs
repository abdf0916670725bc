//! The trace: every event of a run, in order, with simulated time, node and vector clock,
//! and a stable 64-bit digest of all of it.
//!
//! Node events (send, deliver, timer, crash, restart, pause, resume, clock change, note)
//! carry the node's vector clock *after* the event: the simulator ticks the node's own
//! entry on every one of them and merges the message's clock first on a delivery. Network
//! events (drop, duplicate, partition, heal) belong to no node and carry no clock, so a
//! host's own entry steps by exactly one per event of that host, as ShiViz expects.
//!
//! The digest covers every field of every event through a fixed byte encoding, not the
//! JSON text, so the JSON format can gain fields without changing digests of old runs.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::audit::{Violation, WorldAudit};
use crate::digest::DigestHasher;
use crate::disk::event::{digest_hash, DiskFault, DiskOp};

/// Vector clocks of up to this many nodes live inline in their event (no allocation).
const INLINE_NODES: usize = 8;

/// A snapshot of a vector clock: one counter per node, in node order. Reads as a `[u64]`.
///
/// Every node event records one, so a run makes tens of thousands: clusters of up to
/// [`INLINE_NODES`] keep the counters inline, larger ones share one allocation per event.
#[derive(Clone)]
pub struct VectorClock(VcRepr);

#[derive(Clone)]
enum VcRepr {
    Inline { len: u8, v: [u64; INLINE_NODES] },
    Shared(Arc<[u64]>),
}

impl VectorClock {
    /// The clock of a network event: no entries.
    pub fn empty() -> Self {
        VectorClock(VcRepr::Inline {
            len: 0,
            v: [0; INLINE_NODES],
        })
    }
}

impl From<&[u64]> for VectorClock {
    fn from(c: &[u64]) -> Self {
        if c.len() <= INLINE_NODES {
            let mut v = [0; INLINE_NODES];
            v[..c.len()].copy_from_slice(c);
            VectorClock(VcRepr::Inline {
                len: c.len() as u8,
                v,
            })
        } else {
            VectorClock(VcRepr::Shared(Arc::from(c)))
        }
    }
}

impl std::ops::Deref for VectorClock {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        match &self.0 {
            VcRepr::Inline { len, v } => &v[..*len as usize],
            VcRepr::Shared(v) => v,
        }
    }
}

impl PartialEq for VectorClock {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for VectorClock {}

impl fmt::Debug for VectorClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Why the network dropped a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// Random loss on the link.
    Loss,
    /// The link was cut when the message was sent or when it arrived.
    CutLink,
    /// The destination was crashed when the message arrived (or while it waited, paused).
    DeadNode,
}

impl DropReason {
    fn code(self) -> u64 {
        match self {
            DropReason::Loss => 1,
            DropReason::CutLink => 2,
            DropReason::DeadNode => 3,
        }
    }
}

/// A change to a node's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum ClockChange {
    Bump {
        delta_ns: i64,
    },
    Drift {
        ppm: i64,
    },
    Strobe {
        delta_ns: i64,
        period_ns: u64,
        duration_ns: u64,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Send {
        msg: u64,
        to: usize,
        what: &'static str,
    },
    Deliver {
        msg: u64,
        from: usize,
    },
    Drop {
        msg: u64,
        from: usize,
        to: usize,
        reason: DropReason,
    },
    /// The network delivered an extra copy of `msg`, travelling as `copy`.
    Duplicate {
        msg: u64,
        copy: u64,
        from: usize,
        to: usize,
    },
    /// A node's timer fired after `local_ns` on the node's own clock.
    Timer {
        local_ns: u64,
    },
    Crash,
    Restart {
        incarnation: u64,
    },
    Pause,
    Resume,
    Partition {
        topology: &'static str,
        cut: Vec<(usize, usize)>,
    },
    Heal,
    /// Only these links were restored (a partition with a `for` ending among others).
    HealLinks {
        links: Vec<(usize, usize)>,
    },
    Clock(ClockChange),
    /// A node's own annotation ("became leader in term 3").
    Note {
        text: String,
    },
    /// A node completed a mutating disk operation.
    Disk(DiskOp),
    /// The disk of `node` injected a fault (a network-style event: it carries no clock).
    DiskFault {
        node: usize,
        fault: DiskFault,
    },
}

impl EventKind {
    /// Events a trace keeps even when it keeps no others: rare ones that system checks
    /// read after the run (lifecycle, partitions, clock changes, notes, disk faults).
    /// Messages, timers and disk operations, the bulk of a run, are not landmarks.
    pub fn is_landmark(&self) -> bool {
        !matches!(
            self,
            EventKind::Send { .. }
                | EventKind::Deliver { .. }
                | EventKind::Drop { .. }
                | EventKind::Duplicate { .. }
                | EventKind::Timer { .. }
                | EventKind::Disk(_)
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Send { .. } => "send",
            EventKind::Deliver { .. } => "deliver",
            EventKind::Drop { .. } => "drop",
            EventKind::Duplicate { .. } => "duplicate",
            EventKind::Timer { .. } => "timer",
            EventKind::Crash => "crash",
            EventKind::Restart { .. } => "restart",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Partition { .. } => "partition",
            EventKind::Heal => "heal",
            EventKind::HealLinks { .. } => "heal-links",
            EventKind::Clock(_) => "clock",
            EventKind::Note { .. } => "note",
            EventKind::Disk(_) => "disk",
            EventKind::DiskFault { .. } => "disk-fault",
        }
    }

    fn digest_into(&self, h: &mut DigestHasher) {
        h.write_str(self.name());
        match self {
            EventKind::Send { msg, to, what } => {
                h.write_u64(*msg);
                h.write_u64(*to as u64);
                h.write_str(what);
            }
            EventKind::Deliver { msg, from } => {
                h.write_u64(*msg);
                h.write_u64(*from as u64);
            }
            EventKind::Drop {
                msg,
                from,
                to,
                reason,
            } => {
                h.write_u64(*msg);
                h.write_u64(*from as u64);
                h.write_u64(*to as u64);
                h.write_u64(reason.code());
            }
            EventKind::Duplicate {
                msg,
                copy,
                from,
                to,
            } => {
                h.write_u64(*msg);
                h.write_u64(*copy);
                h.write_u64(*from as u64);
                h.write_u64(*to as u64);
            }
            EventKind::Timer { local_ns } => h.write_u64(*local_ns),
            EventKind::Restart { incarnation } => h.write_u64(*incarnation),
            EventKind::Partition { topology, cut } => {
                h.write_str(topology);
                h.write_u64(cut.len() as u64);
                for &(a, b) in cut {
                    h.write_u64(a as u64);
                    h.write_u64(b as u64);
                }
            }
            EventKind::HealLinks { links } => {
                h.write_u64(links.len() as u64);
                for &(a, b) in links {
                    h.write_u64(a as u64);
                    h.write_u64(b as u64);
                }
            }
            EventKind::Clock(c) => match *c {
                ClockChange::Bump { delta_ns } => {
                    h.write_u64(1);
                    h.write_i64(delta_ns);
                }
                ClockChange::Drift { ppm } => {
                    h.write_u64(2);
                    h.write_i64(ppm);
                }
                ClockChange::Strobe {
                    delta_ns,
                    period_ns,
                    duration_ns,
                } => {
                    h.write_u64(3);
                    h.write_i64(delta_ns);
                    h.write_u64(period_ns);
                    h.write_u64(duration_ns);
                }
            },
            EventKind::Note { text } => h.write_str(text),
            EventKind::Disk(op) => digest_hash(h, op),
            EventKind::DiskFault { node, fault } => {
                h.write_u64(*node as u64);
                digest_hash(h, fault);
            }
            EventKind::Crash | EventKind::Pause | EventKind::Resume | EventKind::Heal => {}
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    pub index: u64,
    /// True simulated time in nanoseconds since the run started.
    pub time_ns: u64,
    /// The node the event happened on; `None` for network events.
    pub node: Option<usize>,
    pub kind: EventKind,
    /// The node's vector clock after the event (empty for network events).
    pub vc: VectorClock,
}

impl TraceEvent {
    fn digest_into(&self, h: &mut DigestHasher) {
        h.write_u64(self.index);
        h.write_u64(self.time_ns);
        h.write_u64(self.node.map_or(0, |n| n as u64 + 1));
        self.kind.digest_into(h);
        h.write_u64(self.vc.len() as u64);
        for &c in self.vc.iter() {
            h.write_u64(c);
        }
    }

    /// The event as one JSON object, with node names instead of indices.
    pub fn to_json(&self, names: &[String]) -> Value {
        let name = |i: usize| Value::String(names.get(i).cloned().unwrap_or_else(|| i.to_string()));
        let mut o = Map::new();
        o.insert("i".into(), json!(self.index));
        o.insert("t".into(), json!(self.time_ns));
        o.insert("node".into(), self.node.map_or(Value::Null, name));
        o.insert("kind".into(), json!(self.kind.name()));
        match &self.kind {
            EventKind::Send { msg, to, what } => {
                o.insert("msg".into(), json!(msg));
                o.insert("to".into(), name(*to));
                o.insert("type".into(), json!(what));
            }
            EventKind::Deliver { msg, from } => {
                o.insert("msg".into(), json!(msg));
                o.insert("from".into(), name(*from));
            }
            EventKind::Drop {
                msg,
                from,
                to,
                reason,
            } => {
                o.insert("msg".into(), json!(msg));
                o.insert("from".into(), name(*from));
                o.insert("to".into(), name(*to));
                o.insert("reason".into(), json!(reason));
            }
            EventKind::Duplicate {
                msg,
                copy,
                from,
                to,
            } => {
                o.insert("msg".into(), json!(msg));
                o.insert("copy".into(), json!(copy));
                o.insert("from".into(), name(*from));
                o.insert("to".into(), name(*to));
            }
            EventKind::Timer { local_ns } => {
                o.insert("local_ns".into(), json!(local_ns));
            }
            EventKind::Restart { incarnation } => {
                o.insert("incarnation".into(), json!(incarnation));
            }
            EventKind::Partition { topology, cut } => {
                o.insert("topology".into(), json!(topology));
                let links: Vec<Value> = cut
                    .iter()
                    .map(|&(a, b)| Value::Array(vec![name(a), name(b)]))
                    .collect();
                o.insert("cut".into(), Value::Array(links));
            }
            EventKind::HealLinks { links } => {
                let links: Vec<Value> = links
                    .iter()
                    .map(|&(a, b)| Value::Array(vec![name(a), name(b)]))
                    .collect();
                o.insert("links".into(), Value::Array(links));
            }
            EventKind::Clock(c) => {
                if let Value::Object(m) = json!(c) {
                    o.extend(m);
                }
            }
            EventKind::Note { text } => {
                o.insert("text".into(), json!(text));
            }
            EventKind::Disk(op) => {
                if let Value::Object(m) = json!(op) {
                    o.extend(m);
                }
            }
            EventKind::DiskFault { node, fault } => {
                o.insert("disk".into(), name(*node));
                if let Value::Object(m) = json!(fault) {
                    o.extend(m);
                }
            }
            EventKind::Crash | EventKind::Pause | EventKind::Resume | EventKind::Heal => {}
        }
        if self.node.is_some() {
            let vc: Map<String, Value> = self
                .vc
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(i, &c)| {
                    (
                        names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                        json!(c),
                    )
                })
                .collect();
            o.insert("vc".into(), Value::Object(vc));
        }
        Value::Object(o)
    }
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} t={}ns ", self.index, self.time_ns)?;
        match self.node {
            Some(n) => write!(f, "node={n} ")?,
            None => write!(f, "net ")?,
        }
        write!(f, "{:?}", self.kind)?;
        if !self.vc.is_empty() {
            write!(f, " vc={:?}", &self.vc[..])?;
        }
        Ok(())
    }
}

thread_local! {
    /// Room for the events of the next trace on this thread: what the last finished one
    /// held, plus an eighth. Runs on one thread are mostly of one scenario (a sweep, a
    /// bench), and without this the event vector regrows a dozen times per run, each
    /// time copying every event so far. Only a capacity: it changes no result.
    static CAPACITY_HINT: Cell<usize> = const { Cell::new(0) };
}

/// The capacity hint never asks for more than this many events up front.
const MAX_CAPACITY_HINT: usize = 1 << 18;

/// How often (in events) a run compares the process's resident memory with its budget.
const BUDGET_CHECK_EVERY: u64 = 1 << 16;

/// The recorded events of a run, their running digest and the world audit.
///
/// A trace that keeps every event grows with the run. One that does not keeps only the
/// landmarks (lifecycle, partitions, clock changes, notes, disk faults: what system checks
/// read after a run) and still digests and audits every event as it goes by, so its digest
/// and audit are exactly those of the full trace while its memory does not grow with
/// messages, timers and disk operations.
#[derive(Debug, Clone)]
pub struct Trace {
    events: Vec<TraceEvent>,
    count: u64,
    hasher: DigestHasher,
    keep_events: bool,
    audit: WorldAudit,
    /// Node names, for log lines and audit messages.
    names: Arc<[String]>,
}

impl Trace {
    /// `keep_events: false` keeps only the landmark events, the count, the digest and the
    /// audit (for long runs, sweeps and throughput runs).
    pub fn new(keep_events: bool) -> Self {
        Self::with_names(keep_events, Vec::new())
    }

    /// A trace whose log lines name nodes by `names`.
    pub fn with_names(keep_events: bool, names: Vec<String>) -> Self {
        let capacity = if keep_events {
            CAPACITY_HINT.with(Cell::get)
        } else {
            0
        };
        Trace {
            events: Vec::with_capacity(capacity),
            count: 0,
            hasher: DigestHasher::new(),
            keep_events,
            audit: WorldAudit::default(),
            names: names.into(),
        }
    }

    pub fn push(&mut self, time_ns: u64, node: Option<usize>, kind: EventKind, vc: VectorClock) {
        let ev = TraceEvent {
            index: self.count,
            time_ns,
            node,
            kind,
            vc,
        };
        ev.digest_into(&mut self.hasher);
        self.audit.observe(&ev, &self.names);
        self.count += 1;
        if self.count.is_multiple_of(BUDGET_CHECK_EVERY) {
            crate::budget::check(time_ns);
        }
        if tracing::enabled!(target: "dst::trace", tracing::Level::DEBUG) {
            tracing::debug!(target: "dst::trace", "{}", ev.to_json(&self.names));
        }
        if self.keep_events || ev.kind.is_landmark() {
            self.events.push(ev);
        }
    }

    /// The run is over: the next trace on this thread reserves room for as many events.
    pub(crate) fn finish(&self) {
        if self.keep_events {
            let n = self.events.len();
            CAPACITY_HINT.with(|c| c.set((n + n / 8).min(MAX_CAPACITY_HINT)));
        }
    }

    /// The kept events: all of them if the trace keeps events, else only the landmarks
    /// (see [`EventKind::is_landmark`]). Positions are indices only in a complete trace;
    /// [`Trace::event`] finds an event by its index in either.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Whether every event was kept (exports and pictures need that).
    pub fn is_complete(&self) -> bool {
        self.keep_events
    }

    /// The kept event with this index, if it was kept.
    pub fn event(&self, index: u64) -> Option<&TraceEvent> {
        let at = self.events.binary_search_by_key(&index, |e| e.index).ok()?;
        Some(&self.events[at])
    }

    /// What the world audit found over every event (kept or not).
    pub fn audit(&self) -> Vec<Violation> {
        self.audit.violations().to_vec()
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn digest(&self) -> u64 {
        self.hasher.finish()
    }

    /// The digest as the 16 hex digits reports print.
    pub fn digest_hex(&self) -> String {
        format!("{:016x}", self.digest())
    }

    /// Writes the events as JSON lines.
    pub fn write_json_lines(&self, names: &[String], out: &mut impl Write) -> io::Result<()> {
        if !self.keep_events {
            return Err(io::Error::other(
                "the run kept only landmark events, not the whole trace",
            ));
        }
        for ev in &self.events {
            serde_json::to_writer(&mut *out, &ev.to_json(names))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Where two traces of the same run first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub index: usize,
    pub first: Option<TraceEvent>,
    pub second: Option<TraceEvent>,
}

/// The first event at which two traces differ, or `None` if they are identical.
pub fn first_divergence(a: &[TraceEvent], b: &[TraceEvent]) -> Option<Divergence> {
    let n = a.len().max(b.len());
    (0..n).find_map(|i| {
        let (x, y) = (a.get(i), b.get(i));
        (x != y).then(|| Divergence {
            index: i,
            first: x.cloned(),
            second: y.cloned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(v: &[u64]) -> VectorClock {
        VectorClock::from(v)
    }

    #[test]
    fn vector_clocks_read_the_same_inline_or_shared() {
        let small: Vec<u64> = (1..=3).collect();
        let large: Vec<u64> = (1..=INLINE_NODES as u64 + 5).collect();
        assert_eq!(&*vc(&small), &small[..]);
        assert_eq!(&*vc(&large), &large[..]);
        assert!(matches!(vc(&small).0, VcRepr::Inline { .. }));
        assert!(matches!(vc(&large).0, VcRepr::Shared(_)));
        assert_eq!(vc(&large).clone(), vc(&large));
        assert_ne!(vc(&small), vc(&small[..2]));
        assert!(VectorClock::empty().is_empty());
        assert_eq!(format!("{:?}", vc(&small)), "[1, 2, 3]");
    }

    #[test]
    fn digest_depends_on_every_field() {
        let base = || {
            let mut t = Trace::new(true);
            t.push(
                10,
                Some(0),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "Ping",
                },
                vc(&[1, 0]),
            );
            t
        };
        let d = base().digest();
        assert_eq!(d, base().digest());
        let variants = [
            (
                11,
                Some(0),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "Ping",
                },
                vc(&[1, 0]),
            ),
            (
                10,
                Some(1),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "Ping",
                },
                vc(&[1, 0]),
            ),
            (
                10,
                Some(0),
                EventKind::Send {
                    msg: 2,
                    to: 1,
                    what: "Ping",
                },
                vc(&[1, 0]),
            ),
            (
                10,
                Some(0),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "Pong",
                },
                vc(&[1, 0]),
            ),
            (
                10,
                Some(0),
                EventKind::Send {
                    msg: 1,
                    to: 1,
                    what: "Ping",
                },
                vc(&[2, 0]),
            ),
            (10, None, EventKind::Heal, vc(&[])),
        ];
        for (t, node, kind, v) in variants {
            let mut tr = Trace::new(false);
            tr.push(t, node, kind, v);
            assert_ne!(tr.digest(), d);
        }
    }

    #[test]
    fn json_uses_names_and_omits_zero_clock_entries() {
        let mut t = Trace::new(true);
        t.push(
            5,
            Some(1),
            EventKind::Deliver { msg: 3, from: 0 },
            vc(&[0, 2]),
        );
        let names = vec!["n1".to_string(), "n2".to_string()];
        let mut out = Vec::new();
        t.write_json_lines(&names, &mut out).unwrap();
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            line,
            json!({"i":0,"t":5,"node":"n2","kind":"deliver","msg":3,"from":"n1","vc":{"n2":2}})
        );
    }

    #[test]
    fn divergence_names_first_differing_event() {
        let mut a = Trace::new(true);
        let mut b = Trace::new(true);
        a.push(1, None, EventKind::Heal, vc(&[]));
        a.push(2, Some(0), EventKind::Crash, vc(&[1]));
        b.push(1, None, EventKind::Heal, vc(&[]));
        b.push(3, Some(0), EventKind::Crash, vc(&[1]));
        let d = first_divergence(a.events(), b.events()).unwrap();
        assert_eq!(d.index, 1);
        assert_eq!(d.first.unwrap().time_ns, 2);
        assert!(first_divergence(a.events(), a.events()).is_none());
    }
}
