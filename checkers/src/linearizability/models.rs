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
//!
//! Each model also prunes its partitions before the search (`Model::preprocess`), only in
//! ways proved not to change the verdict: an indeterminate append, enqueue or add (or write
//! of a plain register) whose value no read ever observes is dropped as "never happened", and in an append-only key with
//! unique appended values a read that shows `.. p v ..` pins the append of `v` to the moment
//! the list ends with `p`. Histories outside those preconditions (string appends, puts or cas
//! on the key, repeated values) are searched unpruned, which is slower but never wrong.

use super::Model;
use crate::history::{short, Operation};
use crate::value::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Approximate heap footprint of a value.
pub fn value_bytes(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::Str(s) | Value::Keyword(s) | Value::Symbol(s) | Value::Float(s) => s.len(),
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
    /// Drops indeterminate writes whose value no read returns. Such a write X is never
    /// needed: given a linearization with X, the state is X's value from X to the next
    /// write, and no read can sit there (none returns that value), so taking X out
    /// changes no read's outcome; given one without X, X can go last. A stale primary or a
    /// partition leaves many such writes behind, and each one doubles the search.
    fn preprocess(&self, part: &mut Vec<(RegOp, &Operation)>) {
        let observed: BTreeSet<Value> = part
            .iter()
            .filter_map(|(op, _)| match op {
                RegOp::Read(Some(v)) => Some(v.clone()),
                _ => None,
            })
            .collect();
        part.retain(|(op, o)| match op {
            RegOp::Write(v) => !o.is_indeterminate() || observed.contains(v),
            _ => true,
        });
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
    /// An append whose place the reads fix (see `KvMap::preprocess`): legal only while the
    /// list ends with `after` (`None`: while it is empty). Never produced by `prepare`.
    AppendAfter {
        value: Value,
        after: Option<Value>,
    },
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

fn append(s: &Value, v: &Value) -> Option<Value> {
    match (s, v) {
        (Value::Nil, Value::Str(_)) => Some(v.clone()),
        (Value::Nil, _) => Some(Value::List(vec![v.clone()])),
        (Value::Str(a), Value::Str(b)) => Some(Value::Str(format!("{a}{b}"))),
        (Value::List(l), _) => {
            let mut l = l.clone();
            l.push(v.clone());
            Some(Value::List(l))
        }
        _ => None,
    }
}

/// Keeps the operations whose flag is set, in order.
fn keep_flagged<T>(part: &mut Vec<T>, keep: &[bool]) {
    let mut flags = keep.iter();
    part.retain(|_| flags.next().copied().unwrap_or(true));
}

impl KvMap {
    /// Drops indeterminate appends whose value is an element of no observed list (ok get
    /// results and cas expectations), when no append on the key appends a string.
    ///
    /// Why this is sound: take any linearization that places such an append X of `v`. From X
    /// until the next put (a cas cannot match: its expectation would have to contain `v`) the
    /// state is a list containing `v`, so no ok get and no definite cas can be linearized
    /// there, only appends (legal on any list, and on nil since none is a string) and
    /// indeterminate cas that did nothing. Removing X and those no-op cas (indeterminate, so
    /// allowed never to happen) leaves every state with `v` taken out up to that put and
    /// identical after it: a linearization without X. So dropping X never loses one. Nothing
    /// here assumes unique values. String appends are excluded because removing X could turn
    /// a nil state into a string and make a later non-string append illegal.
    fn drop_unobserved_appends(&self, part: &mut Vec<(KvOp, &Operation)>) {
        if part
            .iter()
            .any(|(op, _)| matches!(&op.kind, KvKind::Append(Value::Str(_))))
        {
            return;
        }
        let mut observed: BTreeSet<&Value> = BTreeSet::new();
        for (op, _) in part.iter() {
            match &op.kind {
                KvKind::Get(Some(Value::List(l)))
                | KvKind::Cas {
                    expect: Value::List(l),
                    ..
                } => observed.extend(l.iter()),
                _ => {}
            }
        }
        let keep: Vec<bool> = part
            .iter()
            .map(|(op, rec)| match &op.kind {
                KvKind::Append(v) => !rec.is_indeterminate() || observed.contains(v),
                _ => true,
            })
            .collect();
        keep_flagged(part, &keep);
    }

    /// Pins each append to the element before its value in the ok reads, when the key only
    /// sees gets and non-string appends, the initial value is nil or a list, and the value is
    /// appended exactly once and is not in the initial list.
    ///
    /// Why this is sound: then every state of a linearization is a prefix of every later one,
    /// and the only way `v` gets into the list is its one append X. If an ok get returns
    /// `r = [.. p v ..]`, the state there equals `r`, so X came before it and the list just
    /// before X was exactly the part of `r` before `v`: it ended with `p` (was empty when `v`
    /// is first). Every linearization obeys the pin, so refusing other placements loses none;
    /// it only stops the search from trying an append at every position of a read-free
    /// stretch. Reads that disagree on `v`'s predecessor leave `v` unpinned (the history is
    /// not linearizable then, and the plain search finds that with a clearer witness).
    fn pin_appends(&self, part: &mut [(KvOp, &Operation)]) {
        let init: &[Value] = match &self.init {
            None | Some(Value::Nil) => &[],
            Some(Value::List(l)) => l,
            Some(_) => return,
        };
        let mut appended: BTreeMap<&Value, usize> = BTreeMap::new();
        for (op, _) in part.iter() {
            match &op.kind {
                KvKind::Get(_) => {}
                KvKind::Append(Value::Str(_)) => return,
                KvKind::Append(v) => *appended.entry(v).or_default() += 1,
                _ => return,
            }
        }
        // Value -> its predecessor in the reads; `None` once two reads disagree.
        let mut pins: BTreeMap<Value, Option<Option<Value>>> = BTreeMap::new();
        for (op, _) in part.iter() {
            let KvKind::Get(Some(Value::List(r))) = &op.kind else {
                continue;
            };
            for (i, v) in r.iter().enumerate() {
                if appended.get(v) != Some(&1) || init.contains(v) {
                    continue;
                }
                let pred = i.checked_sub(1).map(|j| r[j].clone());
                pins.entry(v.clone())
                    .and_modify(|p| {
                        if p.as_ref() != Some(&pred) {
                            *p = None;
                        }
                    })
                    .or_insert_with(|| Some(pred.clone()));
            }
        }
        for (op, _) in part.iter_mut() {
            let KvKind::Append(v) = &op.kind else {
                continue;
            };
            if let Some(Some(after)) = pins.get(v) {
                op.kind = KvKind::AppendAfter {
                    value: v.clone(),
                    after: after.clone(),
                };
            }
        }
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
            KvKind::Append(v) => append(s, v),
            KvKind::AppendAfter { value, after } => {
                let last = match s {
                    Value::Nil => None,
                    Value::List(l) => l.last(),
                    _ => return None,
                };
                if last != after.as_ref() {
                    return None;
                }
                append(s, value)
            }
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
    fn preprocess(&self, part: &mut Vec<(KvOp, &Operation)>) {
        self.drop_unobserved_appends(part);
        self.pin_appends(part);
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
    /// Drops indeterminate adds whose element no ok read contains. Sound: once such an add
    /// X is placed its element stays in the set, so no ok read can follow it; removing X
    /// keeps every later add legal and leaves no read to disagree. Holds with repeated
    /// elements too (a repeated element that some read shows is never dropped).
    fn preprocess(&self, part: &mut Vec<(SetOp, &Operation)>) {
        let mut observed: BTreeSet<&Value> = BTreeSet::new();
        for (op, _) in part.iter() {
            if let SetOp::Read(Some(seen)) = op {
                observed.extend(seen.iter());
            }
        }
        let keep: Vec<bool> = part
            .iter()
            .map(|(op, rec)| match op {
                SetOp::Add(v) => !rec.is_indeterminate() || observed.contains(v),
                SetOp::Read(_) => true,
            })
            .collect();
        keep_flagged(part, &keep);
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
    /// Drops indeterminate enqueues whose value no ok dequeue returned. Sound: in any
    /// linearization placing such an enqueue X, X's element is never returned by an ok
    /// dequeue and keeps the queue non-empty, so until an indeterminate dequeue pops it every
    /// ok dequeue pops the same front with or without it. Removing X and that one
    /// indeterminate dequeue (allowed never to happen) gives a linearization without X whose
    /// states differ only by X's element until the pop and are equal after it.
    fn preprocess(&self, part: &mut Vec<(QueueOp, &Operation)>) {
        let mut observed: BTreeSet<&Value> = BTreeSet::new();
        for (op, _) in part.iter() {
            if let QueueOp::Dequeue(Some(v)) = op {
                observed.insert(v);
            }
        }
        let keep: Vec<bool> = part
            .iter()
            .map(|(op, rec)| match op {
                QueueOp::Enqueue(v) => !rec.is_indeterminate() || observed.contains(v),
                QueueOp::Dequeue(_) => true,
            })
            .collect();
        keep_flagged(part, &keep);
    }
    fn state_bytes(&self, s: &VecDeque<Value>) -> usize {
        32 + s.iter().map(value_bytes).sum::<usize>()
    }
    fn describe_state(&self, s: &VecDeque<Value>) -> String {
        Value::List(s.iter().cloned().collect()).to_string()
    }
}
