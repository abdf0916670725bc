//! A client history held compactly while a run goes on: each event encoded into one byte
//! buffer (varints, tagged values), so an hour of simulated clients costs a few dozen
//! bytes an operation instead of a few hundred (a [`Event`] with its strings and nested
//! lists, each a heap allocation). Events come back out one at a time, as they were
//! pushed, numbered by position (line `i + 1`): checks pair them straight into operations
//! ([`CompactHistory::pair_where`]) and reports render them only when asked, so the whole
//! history never exists twice.
//!
//! What it does not do: random access (events are read in order), or keep a `line` other
//! than the event's position.

use super::{Event, EventKind, Operations};
use crate::error::InputError;
use crate::value::Value;

/// Events encoded in order. See the module doc.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompactHistory {
    bytes: Vec<u8>,
    len: usize,
    invocations: usize,
}

/// What an event says apart from its strings and values: what liveness checks and
/// counts read, without decoding the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub line: usize,
    pub process: i64,
    pub kind: EventKind,
    pub time: Option<u64>,
}

// Value tags.
const NIL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;
const KEYWORD: u8 = 6;
const LIST: u8 = 7;
const MAP: u8 = 8;
const SYMBOL: u8 = 9;

// Event flag bits, beside the kind in the first byte.
const HAS_KEY: u8 = 1 << 2;
const HAS_TIME: u8 = 1 << 3;

fn kind_bits(k: EventKind) -> u8 {
    match k {
        EventKind::Invoke => 0,
        EventKind::Ok => 1,
        EventKind::Fail => 2,
        EventKind::Info => 3,
    }
}

fn kind_of(bits: u8) -> EventKind {
    match bits & 3 {
        0 => EventKind::Invoke,
        1 => EventKind::Ok,
        2 => EventKind::Fail,
        _ => EventKind::Info,
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_text(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Nil => out.push(NIL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Int(i) => {
            out.push(INT);
            put_varint(out, zigzag(*i));
        }
        Value::Float(s) => {
            out.push(FLOAT);
            put_text(out, s);
        }
        Value::Str(s) => {
            out.push(STR);
            put_text(out, s);
        }
        Value::Keyword(s) => {
            out.push(KEYWORD);
            put_text(out, s);
        }
        Value::Symbol(s) => {
            out.push(SYMBOL);
            put_text(out, s);
        }
        Value::List(l) => {
            out.push(LIST);
            put_varint(out, l.len() as u64);
            for x in l {
                put_value(out, x);
            }
        }
        Value::Map(m) => {
            out.push(MAP);
            put_varint(out, m.len() as u64);
            for (k, x) in m {
                put_value(out, k);
                put_value(out, x);
            }
        }
    }
}

/// Reads back what this module wrote; the buffer is never anything else, so running off
/// its end is a bug here, not bad input.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes[self.at];
        self.at += 1;
        b
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn text(&mut self) -> String {
        let n = self.varint() as usize;
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        // Written from a `&str` by `put_text`.
        String::from_utf8_lossy(s).into_owned()
    }

    fn skip_text(&mut self) {
        let n = self.varint() as usize;
        self.at += n;
    }

    fn value(&mut self) -> Value {
        match self.byte() {
            NIL => Value::Nil,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INT => Value::Int(unzigzag(self.varint())),
            FLOAT => Value::Float(self.text()),
            STR => Value::Str(self.text()),
            KEYWORD => Value::Keyword(self.text()),
            SYMBOL => Value::Symbol(self.text()),
            LIST => {
                let n = self.varint() as usize;
                Value::List((0..n).map(|_| self.value()).collect())
            }
            MAP => {
                let n = self.varint() as usize;
                Value::Map((0..n).map(|_| (self.value(), self.value())).collect())
            }
            tag => unreachable!("compact history: unknown value tag {tag}"),
        }
    }

    fn skip_value(&mut self) {
        match self.byte() {
            NIL | FALSE | TRUE => {}
            INT => {
                self.varint();
            }
            FLOAT | STR | KEYWORD => self.skip_text(),
            LIST => {
                for _ in 0..self.varint() {
                    self.skip_value();
                }
            }
            MAP => {
                for _ in 0..self.varint() * 2 {
                    self.skip_value();
                }
            }
            tag => unreachable!("compact history: unknown value tag {tag}"),
        }
    }

    /// The next event's header; the reader is left at its `f`.
    fn header(&mut self, line: usize) -> (Header, u8) {
        let flags = self.byte();
        let process = unzigzag(self.varint());
        let time = (flags & HAS_TIME != 0).then(|| self.varint());
        let header = Header {
            line,
            process,
            kind: kind_of(flags),
            time,
        };
        (header, flags)
    }
}

impl CompactHistory {
    pub fn new() -> Self {
        CompactHistory::default()
    }

    /// Appends one event; its line is its position (the first is line 1).
    pub fn push(
        &mut self,
        process: i64,
        kind: EventKind,
        f: &str,
        key: Option<&Value>,
        value: &Value,
        time: Option<u64>,
    ) {
        let out = &mut self.bytes;
        let mut flags = kind_bits(kind);
        if key.is_some() {
            flags |= HAS_KEY;
        }
        if time.is_some() {
            flags |= HAS_TIME;
        }
        out.push(flags);
        put_varint(out, zigzag(process));
        if let Some(t) = time {
            put_varint(out, t);
        }
        put_text(out, f);
        if let Some(k) = key {
            put_value(out, k);
        }
        put_value(out, value);
        self.len += 1;
        if kind == EventKind::Invoke {
            self.invocations += 1;
        }
    }

    /// Appends an event (its `line` is not kept: lines are positions here).
    pub fn push_event(&mut self, e: &Event) {
        self.push(e.process, e.kind, &e.f, e.key.as_ref(), &e.value, e.time);
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many events are invocations.
    pub fn invocations(&self) -> usize {
        self.invocations
    }

    /// Bytes the encoded events take.
    pub fn encoded_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The events, decoded one at a time, in order.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.events_where(|_| true)
    }

    /// The events whose `f` passes `keep`, decoded one at a time, in order (the others
    /// are skipped undecoded).
    pub fn events_where<'a>(
        &'a self,
        mut keep: impl FnMut(&str) -> bool + 'a,
    ) -> impl Iterator<Item = Event> + 'a {
        let mut r = Reader {
            bytes: &self.bytes,
            at: 0,
        };
        (1..=self.len).filter_map(move |line| {
            let (h, flags) = r.header(line);
            let n = r.varint() as usize;
            let f = std::str::from_utf8(&r.bytes[r.at..r.at + n]).unwrap_or("");
            r.at += n;
            if !keep(f) {
                if flags & HAS_KEY != 0 {
                    r.skip_value();
                }
                r.skip_value();
                return None;
            }
            let f = f.to_string();
            let key = (flags & HAS_KEY != 0).then(|| r.value());
            let value = r.value();
            Some(Event {
                line,
                process: h.process,
                kind: h.kind,
                f,
                key,
                value,
                time: h.time,
            })
        })
    }

    /// Each event's header with its `f` (borrowed), skipping keys and values.
    pub fn headers(&self) -> impl Iterator<Item = (Header, &str)> + '_ {
        let mut r = Reader {
            bytes: &self.bytes,
            at: 0,
        };
        (1..=self.len).map(move |line| {
            let (h, flags) = r.header(line);
            let n = r.varint() as usize;
            let f = std::str::from_utf8(&r.bytes[r.at..r.at + n]).unwrap_or("");
            r.at += n;
            if flags & HAS_KEY != 0 {
                r.skip_value();
            }
            r.skip_value();
            (h, f)
        })
    }

    /// Every event, decoded.
    pub fn to_events(&self) -> Vec<Event> {
        let mut out = Vec::with_capacity(self.len);
        out.extend(self.events());
        out
    }

    /// Pairs the events whose `f` passes `keep` into operations, exactly as
    /// [`super::pair`] pairs a history of just those events (positions count only them),
    /// decoding each event once and moving its values into its operation.
    pub fn pair_where(
        &self,
        source: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Operations, InputError> {
        let expect = self
            .headers()
            .filter(|(h, f)| h.kind == EventKind::Invoke && keep(f))
            .count();
        super::pair_iter(source, self.events_where(keep), expect)
    }

    /// Pairs every event (see [`CompactHistory::pair_where`]).
    pub fn pair(&self, source: &str) -> Result<Operations, InputError> {
        super::pair_iter(source, self.events(), self.invocations)
    }
}

impl From<&[Event]> for CompactHistory {
    fn from(events: &[Event]) -> Self {
        let mut h = CompactHistory::new();
        for e in events {
            h.push_event(e);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair, History};

    fn sample() -> Vec<Event> {
        let ev = |line, process, kind, f: &str, key: Option<Value>, value, time| Event {
            line,
            process,
            kind,
            f: f.to_string(),
            key,
            value,
            time,
        };
        vec![
            ev(
                1,
                3,
                EventKind::Invoke,
                "cas",
                Some(Value::Str("k1".into())),
                Value::List(vec![Value::Nil, Value::Int(-7)]),
                Some(1_250_000),
            ),
            ev(2, -1, EventKind::Invoke, "read", None, Value::Nil, None),
            ev(
                3,
                3,
                EventKind::Ok,
                "cas",
                Some(Value::Str("k1".into())),
                Value::List(vec![Value::Nil, Value::Int(-7)]),
                Some(u64::MAX),
            ),
            ev(
                4,
                -1,
                EventKind::Info,
                "read",
                Some(Value::Keyword("x".into())),
                Value::Map(vec![
                    (Value::Bool(true), Value::Float("1.5".into())),
                    (Value::Bool(false), Value::Int(i64::MIN)),
                ]),
                Some(0),
            ),
            ev(
                5,
                i64::MAX,
                EventKind::Invoke,
                "txn",
                None,
                Value::Str("é ü".into()),
                None,
            ),
            ev(
                6,
                i64::MAX,
                EventKind::Fail,
                "txn",
                None,
                Value::Int(i64::MAX),
                Some(9),
            ),
        ]
    }

    #[test]
    fn events_come_back_as_pushed() {
        let events = sample();
        let h = CompactHistory::from(&events[..]);
        assert_eq!(h.len(), 6);
        assert_eq!(h.invocations(), 3);
        assert_eq!(h.to_events(), events);
        let headers: Vec<(Header, &str)> = h.headers().collect();
        assert_eq!(headers.len(), 6);
        for ((hd, f), e) in headers.iter().zip(&events) {
            assert_eq!(
                (hd.line, hd.process, hd.kind, hd.time, *f),
                (e.line, e.process, e.kind, e.time, e.f.as_str())
            );
        }
    }

    #[test]
    fn pairs_exactly_as_the_events_pair() {
        let events = sample();
        let h = CompactHistory::from(&events[..]);
        let direct = pair(&History::new("h", events.clone())).unwrap();
        let compact = h.pair("h").unwrap();
        assert_eq!(direct.ops, compact.ops);
        assert_eq!(direct.failed_ops, compact.failed_ops);
        assert_eq!(direct.failed, compact.failed);
        // A filtered pairing numbers positions among the events kept.
        let only: Vec<Event> = events.iter().filter(|e| e.f == "txn").cloned().collect();
        let direct = pair(&History::new("h", only)).unwrap();
        let compact = h.pair_where("h", |f| f == "txn").unwrap();
        assert_eq!(direct.ops, compact.ops);
        assert_eq!(direct.failed_ops, compact.failed_ops);
    }

    #[test]
    fn malformed_histories_fail_as_the_events_fail() {
        let mut events = sample();
        events.swap(0, 2); // a completion before its invocation
        for (i, e) in events.iter_mut().enumerate() {
            e.line = i + 1;
        }
        let h = CompactHistory::from(&events[..]);
        let direct = pair(&History::new("h", events)).unwrap_err();
        let compact = h.pair("h").unwrap_err();
        assert_eq!(
            (direct.line, direct.message),
            (compact.line, compact.message)
        );
    }

    #[test]
    fn an_operation_costs_a_few_dozen_bytes() {
        let mut h = CompactHistory::new();
        for i in 0..1000i64 {
            let key = Value::Str(format!("r{}", i % 3));
            let cas = Value::List(vec![Value::Int(i), Value::Int(i + 1)]);
            h.push(
                i % 5,
                EventKind::Invoke,
                "cas",
                Some(&key),
                &cas,
                Some(1 << 40),
            );
            h.push(i % 5, EventKind::Ok, "cas", Some(&key), &cas, Some(1 << 41));
        }
        assert!(h.encoded_bytes() < 1000 * 2 * 30, "{}", h.encoded_bytes());
    }
}
