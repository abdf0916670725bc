//! Linearizability checking of single-object (or P-compositional) operation histories.
//!
//! A `Model` is a sequential specification: an initial state and a step function that says
//! whether an operation with its observed result is legal in a state, and the state after it.
//! The checker splits the history into the model's partitions (per key for a key-value map),
//! checks each with the Wing-Gong-Lowe search, and stops at the first violation, reporting a
//! witness: the longest linearizable prefix found, the operations that could not be placed
//! next, and the model state there. With a time limit, running out yields `Unknown` with how
//! far the search got, never a guess. It deliberately does not check weaker models
//! (sequential consistency) or multi-object transactions; see `serializability`.

pub mod models;
mod search;

use crate::error::InputError;
use crate::history::{Operation, Operations};
use crate::value::Value;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub use models::{CasRegister, KvMap, ModelKind, Queue, Register, SetModel};

/// A sequential specification. Implement it to check your own data type.
pub trait Model {
    /// The model's own reading of a recorded operation.
    type Op: Clone + Debug;
    /// Model states; hashed for memoization, so keep them small.
    type State: Clone + Eq + Hash + Debug;

    /// The state before any operation (of each partition).
    fn init(&self) -> Self::State;

    /// Interprets a recorded operation, or says what was expected (bad input).
    fn prepare(&self, op: &Operation) -> Result<Self::Op, String>;

    /// P-compositionality: operations with different labels touch independent parts of the
    /// state and are checked separately, each from `init()`. `None` puts an operation in
    /// the single unnamed partition.
    fn partition(&self, _op: &Self::Op) -> Option<Value> {
        None
    }

    /// Applies `op` to `state`: `None` if the operation (with its observed result) is not
    /// legal there. For an indeterminate operation (no observed result) any result is legal.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Whether the operation never changes the state; indeterminate read-only operations
    /// are dropped before the search because they cannot constrain anything.
    fn is_read_only(&self, _op: &Self::Op) -> bool {
        false
    }

    /// Sound preprocessing of one partition before the search: a model may drop operations
    /// or restrict how they step, but only where that cannot change the verdict (each model
    /// says why it is sound). The search is exponential in the freedom left to it, so every
    /// placement ruled out here up front is a branch it never explores. Default: nothing.
    fn preprocess(&self, _part: &mut Vec<(Self::Op, &Operation)>) {}

    /// Approximate heap bytes of a state, for the memory limit.
    fn state_bytes(&self, _state: &Self::State) -> usize {
        std::mem::size_of::<Self::State>()
    }

    /// The state as a person reads it.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}

/// Checking options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Give up with `Unknown` after this long (all partitions together).
    pub timeout: Option<Duration>,
    /// Give up with `Unknown` when the memoization cache of one partition would grow past
    /// about this many bytes (as estimated by `Model::state_bytes`).
    pub max_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            max_cache_bytes: 1 << 30,
        }
    }
}

/// One step of a witness prefix.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WitnessStep {
    pub op: String,
    /// The operation's invocation line in the history.
    pub line: usize,
    pub state_after: String,
}

/// An operation that could not be placed after the prefix, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Blocked {
    pub op: String,
    pub line: usize,
    pub reason: String,
}

/// Why a history is not linearizable, for a person to read.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Witness {
    /// The partition (key) that failed; `None` for an unpartitioned model.
    pub partition: Option<String>,
    /// The longest linearizable prefix the search found, in linearization order.
    pub prefix: Vec<WitnessStep>,
    /// The operation that completed before it could be linearized.
    pub must_precede: String,
    pub must_precede_line: usize,
    /// The operations that were candidates to be linearized next; none works.
    pub could_not_place: Vec<Blocked>,
    /// The model state after the prefix.
    pub state: String,
}

/// How far a search got before the time limit.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Progress {
    /// "time limit" or "memory limit".
    pub reason: String,
    pub partitions_checked: usize,
    pub partitions: usize,
    /// The partition being searched when time ran out.
    pub partition: Option<String>,
    pub partition_ops: usize,
    pub longest_prefix: usize,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Linearizable,
    NotLinearizable { witness: Witness },
    Unknown { progress: Progress },
}

impl Verdict {
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable { .. } => "not-linearizable",
            Verdict::Unknown { .. } => "unknown",
        }
    }
}

/// The result of a check.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Operations checked (after dropping failed and indeterminate read-only ones).
    pub ops: usize,
    pub partitions: usize,
    /// Time spent checking, excluding parsing.
    pub check_nanos: u128,
}

/// Checks a paired history against a model.
pub fn check<M: Model>(
    model: &M,
    history: &Operations,
    opts: &Options,
) -> Result<Report, InputError> {
    let start = Instant::now();
    let deadline = opts.timeout.map(|t| start + t);
    let mut parts: BTreeMap<Option<Value>, Vec<(M::Op, &Operation)>> = BTreeMap::new();
    for op in &history.ops {
        let m = model
            .prepare(op)
            .map_err(|msg| InputError::new(&history.source, op.line, msg))?;
        if op.is_indeterminate() && model.is_read_only(&m) {
            continue;
        }
        parts.entry(model.partition(&m)).or_default().push((m, op));
    }
    // Counted before preprocessing: the operations a model drops as provably irrelevant
    // were still checked.
    let ops: usize = parts.values().map(Vec::len).sum();
    let partitions = parts.len();
    for part in parts.values_mut() {
        model.preprocess(part);
    }
    let mut verdict = Verdict::Linearizable;
    for (done, (label, part)) in parts.iter().enumerate() {
        match search::search(model, part, deadline, opts.max_cache_bytes) {
            search::Outcome::Linearizable => {}
            search::Outcome::Violation(stuck) => {
                verdict = Verdict::NotLinearizable {
                    witness: witness(model, label, part, stuck),
                };
                break;
            }
            search::Outcome::GaveUp { longest, memory } => {
                verdict = Verdict::Unknown {
                    progress: Progress {
                        reason: if memory { "memory limit" } else { "time limit" }.to_string(),
                        partitions_checked: done,
                        partitions,
                        partition: label.as_ref().map(Value::to_string),
                        partition_ops: part.len(),
                        longest_prefix: longest,
                    },
                };
                break;
            }
        }
    }
    Ok(Report {
        verdict,
        ops,
        partitions,
        check_nanos: start.elapsed().as_nanos(),
    })
}

fn clip(s: String) -> String {
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(197).collect::<String>())
    } else {
        s
    }
}

fn witness<M: Model>(
    model: &M,
    label: &Option<Value>,
    part: &[(M::Op, &Operation)],
    stuck: search::Stuck<M::State>,
) -> Witness {
    let prefix = stuck
        .prefix
        .iter()
        .map(|(i, s)| WitnessStep {
            op: part[*i].1.describe(),
            line: part[*i].1.line,
            state_after: clip(model.describe_state(s)),
        })
        .collect();
    let state_text = clip(model.describe_state(&stuck.state));
    let could_not_place = stuck
        .candidates
        .iter()
        .map(|&i| Blocked {
            op: part[i].1.describe(),
            line: part[i].1.line,
            reason: match model.step(&stuck.state, &part[i].0) {
                None => format!("not legal in state {state_text}"),
                Some(next) if part[i].1.is_indeterminate() && next == stuck.state => {
                    "indeterminate and would change nothing here (same as never happening)"
                        .to_string()
                }
                Some(_) => "legal here, but every continuation after it fails".to_string(),
            },
        })
        .collect();
    Witness {
        partition: label.as_ref().map(Value::to_string),
        prefix,
        must_precede: part[stuck.blocking].1.describe(),
        must_precede_line: part[stuck.blocking].1.line,
        could_not_place,
        state: state_text,
    }
}

/// Checks with one of the built-in models.
pub fn check_with(
    kind: ModelKind,
    init: Option<Value>,
    history: &Operations,
    opts: &Options,
) -> Result<Report, InputError> {
    match kind {
        ModelKind::Register => check(&Register::new(init), history, opts),
        ModelKind::CasRegister => check(&CasRegister::new(init), history, opts),
        ModelKind::Kv => check(&KvMap::new(init), history, opts),
        ModelKind::Set => check(&SetModel, history, opts),
        ModelKind::Queue => check(&Queue, history, opts),
    }
}

impl Witness {
    /// The witness's operations as (history line, role): the one that could not take
    /// effect (`at-fault`), the candidates that could not go next (`blocked`), and the last
    /// `max_prefix` steps of the prefix (`order N`, N counting from 1), as `render` shows them.
    pub fn op_refs(&self, max_prefix: usize) -> Vec<(usize, String)> {
        let skip = self.prefix.len().saturating_sub(max_prefix);
        let mut out = vec![(self.must_precede_line, "at-fault".to_string())];
        for b in &self.could_not_place {
            if b.line != self.must_precede_line {
                out.push((b.line, "blocked".to_string()));
            }
        }
        for (i, step) in self.prefix.iter().enumerate().skip(skip) {
            out.push((step.line, format!("order {}", i + 1)));
        }
        out
    }

    /// A few lines for a terminal: the tail of the prefix and what could not be placed.
    pub fn render(&self, max_prefix: usize) -> String {
        let mut s = String::new();
        if let Some(p) = &self.partition {
            s.push_str(&format!("  partition (key) {p}\n"));
        }
        s.push_str(&format!(
            "  longest linearizable prefix: {} operations",
            self.prefix.len()
        ));
        let skip = self.prefix.len().saturating_sub(max_prefix);
        if skip > 0 {
            s.push_str(&format!(" (last {max_prefix} shown)"));
        }
        s.push('\n');
        for step in &self.prefix[skip..] {
            s.push_str(&format!("    {}  => {}\n", step.op, step.state_after));
        }
        s.push_str(&format!("  state then: {}\n", self.state));
        s.push_str(&format!(
            "  completed before it could take effect: {}\n",
            self.must_precede
        ));
        s.push_str("  could not be placed next:\n");
        for b in &self.could_not_place {
            s.push_str(&format!("    {}: {}\n", b.op, b.reason));
        }
        s
    }
}
