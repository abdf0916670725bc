//! Built-in sequential models: register, CAS register, key-value map, set, FIFO queue.
//!
//! Operation names follow Jepsen (`read`/`write`/`cas`, `get`/`put`/`append`, `add`,
//! `enqueue`/`dequeue`), with common synonyms. A read's result is the completion's value; an
//! indeterminate read is dropped before the search. A `cas` value is `[expected new]`; an
//! indeterminate cas may succeed (when the expectation holds) or have no effect. Registers
//! start at the given initial value, nil when none is given. The key-value map is
//! partitioned per key; a key absent from the map reads as the initial value, and when no
//! initial value is given also as "" or [] (recorders differ on how they report a missing
//! key). Jepsen's "independent" tuples (`:value [key value]` without a `:key`) are accepted.
//! These models deliberately do not check types beyond what a step needs: appending a string
//! to a list-valued key is simply not a legal step.

use super::Model;
use crate::history::{short, Operation};
use crate::value::Value;
use std::collections::{BTreeSet, VecDeque};

/// Approximate heap footprint of a value.
pub fn value_bytes(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::Str(s) | Value::Keyword(s) | Value::Float(s) => s.len(),
            Value::List(l) => l.iter().map(value_bytes).sum(),
            Value::Map(m) => m.iter().map(|(k, v)| value_bytes(k) + value_bytes(v)).sum(),
            _ => 0,
        }
}

/// The built-in models, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    Register,
    CasRegister,
    Kv,
    Set,
    Queue,
}

impl ModelKind {
    pub fn parse(name: &str) -> Option<ModelKind> {
        match name {
            "register" => Some(ModelKind::Register),
            "cas-register" => Some(ModelKind::CasRegister),
            "kv" => Some(ModelKind::Kv),
            "set" => Some(ModelKind::Set),
            "queue" => Some(ModelKind::Queue),
            _ => None,
        }
    }
}

/// What a register operation does.
#[derive(Clone, Debug)]
pub enum RegOp {
    /// Read with its observed value (`None`: indeterminate).
    Read(Option<Value>),
    Write(Value),
    /// `[expected new]`; `definite` when the cas is known to have succeeded.
    Cas {
        expect: Value,
        new: Value,
        definite: bool,
    },
}

fn f_class(f: &str) -> &str {
    match f {
        "read" | "r" | "get" => "read",
        "write" | "w" | "put" => "write",
        other => other,
    }
}

fn cas_pair(v: &Value) -> Result<(Value, Value), String> {
    match v {
        Value::List(l) if l.len() == 2 => Ok((l[0].clone(), l[1].clone())),
        other => Err(format!(
            "expected cas value [expected new], found {}",
            short(other)
        )),
    }
}

fn register_op(op: &Operation, allow_cas: bool) -> Result<RegOp, String> {
    match f_class(&op.f) {
        "read" => Ok(RegOp::Read(op.output.clone())),
        "write" => Ok(RegOp::Write(op.input.clone())),
        "cas" if allow_cas => {
            let (expect, new) = cas_pair(&op.input)?;
            Ok(RegOp::Cas {
                expect,
                new,
                definite: !op.is_indeterminate(),
            })
        }
        "cas" => Err("the register model has no cas; use --model cas-register".into()),
        other => Err(format!(
            "expected f read, write{} for a register, found `{other}`",
            if allow_cas { " or cas" } else { "" }
        )),
    }
}

fn register_step(state: &Value, op: &RegOp) -> Option<Value> {
    match op {
        RegOp::Read(Some(v)) => (v == state).then(|| state.clone()),
        RegOp::Read(None) => Some(state.clone()),
        RegOp::Write(v) => Some(v.clone()),
        RegOp::Cas {
            expect,
            new,
            definite,
        } => {
            if expect == state {
                Some(new.clone())
            } else if *definite {
                None
            } else {
                Some(state.clone())
            }
        }
    }
}

/// A read/write register.
#[derive(Clone, Debug, Default)]
pub struct Register {
    pub init: Value,
}

impl Register {
    pub fn new(init: Option<Value>) -> Self {
        Register {
            init: init.unwrap_or(Value::Nil),
        }
    }
}

impl Model for Register {
    type Op = RegOp;
    type State = Value;
    fn init(&self) -> Value {
        self.init.clone()
    }
    fn prepare(&self, op: &Operation) -> Result<RegOp, String> {
        register_op(op, false)
    }
    fn step(&self, s: &Value, op: &RegOp) -> Option<Value> {
        register_step(s, op)
    }
    fn is_read_only(&self, op: &RegOp) -> bool {
        matches!(op, RegOp::Read(_))
    }
    fn describe_state(&self, s: &Value) -> String {
        s.to_string()
    }
}

/// A register with compare-and-set.
#[derive(Clone, Debug, Default)]
pub struct CasRegister {
    pub init: Value,
}

impl CasRegister {
    pub fn new(init: Option<Value>) -> Self {
        CasRegister {
            init: init.unwrap_or(Value::Nil),
        }
    }
}

impl Model for CasRegister {
    type Op = RegOp;
    type State = Value;
    fn init(&self) -> Value {
        self.init.clone()
    }
    fn prepare(&self, op: &Operation) -> Result<RegOp, String> {
        register_op(op, true)
    }
    fn step(&self, s: &Value, op: &RegOp) -> Option<Value> {
        register_step(s, op)
    }
    fn is_read_only(&self, op: &RegOp) -> bool {
        matches!(op, RegOp::Read(_))
    }
    fn describe_state(&self, s: &Value) -> String {
        s.to_string()
    }
}

/// What a key-value operation does to its key.
#[derive(Clone, Debug)]
pub enum KvKind {
    Get(Option<Value>),
    Put(Value),
    Append(Value),
    Cas {
        expect: Value,
        new: Value,
        definite: bool,
    },
}

#[derive(Clone, Debug)]
pub struct KvOp {
    pub key: Value,
    pub kind: KvKind,
}

/// A key-value map, partitioned per key (each key is an independent register with append).
#[derive(Clone, Debug, Default)]
pub struct KvMap {
    pub init: Option<Value>,
}

impl KvMap {
    pub fn new(init: Option<Value>) -> Self {
        KvMap { init }
    }

    fn reads_as(&self, state: &Value, seen: &Value) -> bool {
        if state == seen {
            return true;
        }
        // Without an explicit initial value, a missing key may be reported as empty.
        self.init.is_none() && state.is_nil() && matches!(seen, Value::Str(s) if s.is_empty())
            || self.init.is_none()
                && state.is_nil()
                && matches!(seen, Value::List(l) if l.is_empty())
    }
}

fn unpack_independent(op: &Operation) -> Result<(Value, Value, Option<Value>), String> {
    if let Some(k) = &op.key {
        return Ok((k.clone(), op.input.clone(), op.output.clone()));
    }
    let split = |v: &Value| -> Result<(Value, Value), String> {
        match v {
            Value::List(l) if l.len() == 2 => Ok((l[0].clone(), l[1].clone())),
            other => Err(format!(
                "expected a `key` field or a [key value] tuple as value, found {}",
                short(other)
            )),
        }
    };
    let (k, input) = split(&op.input)?;
    let output = match &op.output {
        Some(o) => Some(split(o)?.1),
        None => None,
    };
    Ok((k, input, output))
}

impl Model for KvMap {
    type Op = KvOp;
    type State = Value;
    fn init(&self) -> Value {
        self.init.clone().unwrap_or(Value::Nil)
    }
    fn prepare(&self, op: &Operation) -> Result<KvOp, String> {
        let (key, input, output) = unpack_independent(op)?;
        let kind = match f_class(&op.f) {
            "read" => KvKind::Get(output),
            "write" => KvKind::Put(input),
            "append" => KvKind::Append(input),
            "cas" => {
                let (expect, new) = cas_pair(&input)?;
                KvKind::Cas {
                    expect,
                    new,
                    definite: op.output.is_some(),
                }
            }
            other => {
                return Err(format!(
                    "expected f get, put, append or cas for a key-value map, found `{other}`"
                ))
            }
        };
        Ok(KvOp { key, kind })
    }
    fn partition(&self, op: &KvOp) -> Option<Value> {
        Some(op.key.clone())
    }
    fn step(&self, s: &Value, op: &KvOp) -> Option<Value> {
        match &op.kind {
            KvKind::Get(Some(v)) => self.reads_as(s, v).then(|| s.clone()),
            KvKind::Get(None) => Some(s.clone()),
            KvKind::Put(v) => Some(v.clone()),
            KvKind::Append(v) => match (s, v) {
                (Value::Nil, Value::Str(_)) => Some(v.clone()),
                (Value::Nil, _) => Some(Value::List(vec![v.clone()])),
                (Value::Str(a), Value::Str(b)) => Some(Value::Str(format!("{a}{b}"))),
                (Value::List(l), _) => {
                    let mut l = l.clone();
                    l.push(v.clone());
                    Some(Value::List(l))
                }
                _ => None,
            },
            KvKind::Cas {
                expect,
                new,
                definite,
            } => {
                if self.reads_as(s, expect) {
                    Some(new.clone())
                } else if *definite {
                    None
                } else {
                    Some(s.clone())
                }
            }
        }
    }
    fn state_bytes(&self, s: &Value) -> usize {
        value_bytes(s)
    }
    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op.kind, KvKind::Get(_))
    }
    fn describe_state(&self, s: &Value) -> String {
        s.to_string()
    }
}

/// Set operations: `add` an element, `read` the whole set.
#[derive(Clone, Debug)]
pub enum SetOp {
    Add(Value),
    Read(Option<BTreeSet<Value>>),
}

/// A grow-only set, starting empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetModel;

impl Model for SetModel {
    type Op = SetOp;
    type State = BTreeSet<Value>;
    fn init(&self) -> BTreeSet<Value> {
        BTreeSet::new()
    }
    fn prepare(&self, op: &Operation) -> Result<SetOp, String> {
        match op.f.as_str() {
            "add" => Ok(SetOp::Add(op.input.clone())),
            "read" | "r" => match &op.output {
                None => Ok(SetOp::Read(None)),
                Some(Value::List(l)) => Ok(SetOp::Read(Some(l.iter().cloned().collect()))),
                Some(Value::Nil) => Ok(SetOp::Read(Some(BTreeSet::new()))),
                Some(other) => Err(format!(
                    "expected a set read to return a collection, found {}",
                    short(other)
                )),
            },
            other => Err(format!("expected f add or read for a set, found `{other}`")),
        }
    }
    fn step(&self, s: &BTreeSet<Value>, op: &SetOp) -> Option<BTreeSet<Value>> {
        match op {
            SetOp::Add(v) => {
                let mut s = s.clone();
                s.insert(v.clone());
                Some(s)
            }
            SetOp::Read(Some(seen)) => (seen == s).then(|| s.clone()),
            SetOp::Read(None) => Some(s.clone()),
        }
    }
    fn is_read_only(&self, op: &SetOp) -> bool {
        matches!(op, SetOp::Read(_))
    }
    fn state_bytes(&self, s: &BTreeSet<Value>) -> usize {
        24 + s.iter().map(value_bytes).sum::<usize>()
    }
    fn describe_state(&self, s: &BTreeSet<Value>) -> String {
        Value::List(s.iter().cloned().collect()).to_string()
    }
}

/// Queue operations.
#[derive(Clone, Debug)]
pub enum QueueOp {
    Enqueue(Value),
    /// Dequeue with the value it returned (nil: the queue was empty); `None` indeterminate.
    Dequeue(Option<Value>),
}

/// A FIFO queue, starting empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct Queue;

impl Model for Queue {
    type Op = QueueOp;
    type State = VecDeque<Value>;
    fn init(&self) -> VecDeque<Value> {
        VecDeque::new()
    }
    fn prepare(&self, op: &Operation) -> Result<QueueOp, String> {
        match op.f.as_str() {
            "enqueue" | "push" | "offer" => Ok(QueueOp::Enqueue(op.input.clone())),
            "dequeue" | "pop" | "poll" => Ok(QueueOp::Dequeue(op.output.clone())),
            other => Err(format!(
                "expected f enqueue or dequeue for a queue, found `{other}`"
            )),
        }
    }
    fn step(&self, s: &VecDeque<Value>, op: &QueueOp) -> Option<VecDeque<Value>> {
        let mut s = s.clone();
        match op {
            QueueOp::Enqueue(v) => {
                s.push_back(v.clone());
                Some(s)
            }
            QueueOp::Dequeue(Some(Value::Nil)) => s.is_empty().then_some(s),
            QueueOp::Dequeue(Some(v)) => match s.pop_front() {
                Some(front) if &front == v => Some(s),
                _ => None,
            },
            QueueOp::Dequeue(None) => {
                s.pop_front();
                Some(s)
            }
        }
    }
    fn state_bytes(&self, s: &VecDeque<Value>) -> usize {
        32 + s.iter().map(value_bytes).sum::<usize>()
    }
    fn describe_state(&self, s: &VecDeque<Value>) -> String {
        Value::List(s.iter().cloned().collect()).to_string()
    }
}
