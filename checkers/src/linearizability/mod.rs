//! Linearizability checking of single-object (or P-compositional) operation histories.
//!
//! A `Model` is a sequential specification: an initial state and a step function that says
//! whether an operation with its observed result is legal in a state, and the state after it.
//! The checker splits the history into the model's partitions (per key for a key-value map)
//! and checks them with the Wing-Gong-Lowe search, scheduled in rounds of growing step
//! budgets (optionally on several threads) so that one hard partition cannot hide a
//! violation in another; see [`check`]. A violation is reported with a witness: the longest
//! linearizable prefix found, the operations that could not be placed next, and the model
//! state there. With a time or memory limit, running out yields `Unknown` naming every
//! undecided partition and why, never a guess. It deliberately does not check weaker models
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use models::{CasRegister, KvMap, ModelKind, Queue, Register, SetModel};

/// A sequential specification. Implement it to check your own data type.
///
/// Models are `Sync` and their operations and states `Send` so that partitions can be
/// searched on several threads.
pub trait Model: Sync {
    /// The model's own reading of a recorded operation.
    type Op: Clone + Debug + Send + Sync;
    /// Model states; hashed for memoization, so keep them small.
    type State: Clone + Eq + Hash + Debug + Send;

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
    /// Give up with `Unknown` when the memoization caches of all partitions together would
    /// grow past about this many bytes (as estimated by `Model::state_bytes`).
    pub max_cache_bytes: usize,
    /// Threads searching partitions at once (0: as many as the machine has cores). The
    /// verdict never depends on it; see [`check`].
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            max_cache_bytes: 1 << 30,
            threads: 1,
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

/// A partition the search could not decide, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Undecided {
    /// The partition (key); `None` for an unpartitioned model.
    pub partition: Option<String>,
    /// "time limit" or "memory limit".
    pub reason: String,
    pub ops: usize,
    /// Search steps spent on it.
    pub steps: u64,
    /// Bytes its memo cache held when it stopped.
    pub cache_bytes: usize,
    pub longest_prefix: usize,
}

/// How far a search got before a limit.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Progress {
    /// "time limit" or "memory limit": what stopped the first undecided partition.
    pub reason: String,
    /// Partitions decided linearizable.
    pub partitions_checked: usize,
    pub partitions: usize,
    /// The first undecided partition (as `undecided[0]`), kept for short reports.
    pub partition: Option<String>,
    pub partition_ops: usize,
    pub longest_prefix: usize,
    /// Every undecided partition, in partition order.
    pub undecided: Vec<Undecided>,
    /// The memory cap (all partitions together), in bytes.
    pub max_cache_bytes: usize,
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
    /// Remarks a person should see (such as "no client operations").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Steps every partition gets in the first round; each later round multiplies it.
const FIRST_BUDGET: u64 = 20_000;
const BUDGET_GROWTH: u64 = 8;
/// Rounds with less work per partition than this run on one thread: spawning is not free.
const PARALLEL_MIN_BUDGET: u64 = 100_000;

/// Checks a paired history against a model.
///
/// Partitions are scheduled in rounds so that an easy partition never waits behind a hard
/// one: every undecided partition gets a step budget (20,000 steps, then eight times more
/// each round), resuming where it stopped, and the memory cap is shared equally among the
/// partitions still undecided. A violation in any partition is the verdict; among several
/// found in the same round the first in partition order is reported, so the verdict and
/// its witness do not depend on threads or timing. `Unknown` only when no partition has a
/// violation and some stay undecided: by the deadline (which partitions those are may
/// depend on timing) or because the memory cap left them no room (which does not).
pub fn check<M: Model>(
    model: &M,
    history: &Operations,
    opts: &Options,
) -> Result<Report, InputError> {
    let start = Instant::now();
    let deadline = opts.timeout.and_then(|t| start.checked_add(t));
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
    let mut notes = Vec::new();
    if history.ops.is_empty() {
        notes.push("no client operations: an empty history is linearizable".to_string());
    }
    for part in parts.values_mut() {
        model.preprocess(part);
    }
    let parts: Vec<Part<'_, M>> = parts.into_iter().collect();
    let verdict = schedule(model, &parts, deadline, opts);
    Ok(Report {
        verdict,
        ops,
        partitions,
        check_nanos: start.elapsed().as_nanos(),
        notes,
    })
}

/// A partition: its label and its operations as the model reads them.
type Part<'h, M> = (Option<Value>, Vec<(<M as Model>::Op, &'h Operation)>);

/// What became of a partition at the end of a round.
enum Fate<S> {
    Open,
    Linearizable,
    Violation(search::Stuck<S>),
    /// Out of memory at this share of the cap.
    Memory(usize),
    Time,
}

fn schedule<M: Model>(
    model: &M,
    parts: &[Part<'_, M>],
    deadline: Option<Instant>,
    opts: &Options,
) -> Verdict {
    let n = parts.len();
    let mut searches: Vec<search::Search<'_, M>> = parts
        .iter()
        .map(|(_, p)| search::Search::new(model, p))
        .collect();
    let mut fates: Vec<Fate<M::State>> = (0..n).map(|_| Fate::Open).collect();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    let mut budget = FIRST_BUDGET;
    loop {
        let live: Vec<usize> = (0..n)
            .filter(|&i| matches!(fates[i], Fate::Open | Fate::Memory(_)))
            .collect();
        if live.is_empty() {
            break;
        }
        let share = opts.max_cache_bytes / live.len();
        // Partitions stopped by memory run again only when their share has grown.
        let runnable: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| !matches!(fates[i], Fate::Memory(s) if s >= share))
            .collect();
        if runnable.is_empty() {
            break;
        }
        let cancel = AtomicUsize::new(usize::MAX);
        let run_one = |s: &mut search::Search<'_, M>, i: usize| {
            let out = s.run(budget, share, deadline, Some((&cancel, i)));
            match out {
                search::Outcome::Violation(_) => {
                    cancel.fetch_min(i, Ordering::Relaxed);
                }
                // Freed at once, not at the end of the round: a long history has thousands
                // of partitions, and their caches together would outweigh the history.
                search::Outcome::Linearizable => s.release(),
                _ => {}
            }
            out
        };
        let mut outcomes: Vec<(usize, search::Outcome<M::State>)> = Vec::new();
        let mut picked: Vec<(usize, &mut search::Search<'_, M>)> = searches
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| runnable.binary_search(i).is_ok())
            .collect();
        let workers = threads.min(picked.len());
        if workers <= 1 || budget < PARALLEL_MIN_BUDGET {
            for (i, s) in picked {
                let out = run_one(s, i);
                let stop = matches!(out, search::Outcome::Violation(_));
                outcomes.push((i, out));
                if stop {
                    break;
                }
            }
        } else {
            // Work stealing over a shared queue, in partition order.
            let queue = std::sync::Mutex::new(std::mem::take(&mut picked).into_iter());
            let results = std::sync::Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| loop {
                        let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                        let Some((i, s)) = next else { break };
                        if cancel.load(Ordering::Relaxed) < i {
                            continue;
                        }
                        let out = run_one(s, i);
                        if let Ok(mut r) = results.lock() {
                            r.push((i, out));
                        }
                    });
                }
            });
            outcomes = results.into_inner().unwrap_or_default();
            outcomes.sort_by_key(|(i, _)| *i);
        }
        for (i, out) in outcomes {
            fates[i] = match out {
                search::Outcome::Linearizable => Fate::Linearizable,
                search::Outcome::Violation(stuck) => Fate::Violation(stuck),
                search::Outcome::Budget | search::Outcome::Cancelled => Fate::Open,
                search::Outcome::Memory => Fate::Memory(share),
                search::Outcome::Time => Fate::Time,
            };
        }
        // The first violation in partition order: every partition before it ran its full
        // budget this round (only later ones are cancelled), so this does not depend on
        // timing.
        if let Some(i) = fates.iter().position(|f| matches!(f, Fate::Violation(_))) {
            let Fate::Violation(stuck) = std::mem::replace(&mut fates[i], Fate::Open) else {
                unreachable!("matched just above")
            };
            let (label, part) = &parts[i];
            return Verdict::NotLinearizable {
                witness: witness(model, label, part, stuck),
            };
        }
        if fates.iter().any(|f| matches!(f, Fate::Time)) {
            // Out of time: everything still open is undecided by the clock.
            for f in fates.iter_mut() {
                if matches!(f, Fate::Open) {
                    *f = Fate::Time;
                }
            }
            break;
        }
        budget = budget.saturating_mul(BUDGET_GROWTH);
    }
    let undecided: Vec<Undecided> = (0..n)
        .filter_map(|i| {
            let reason = match fates[i] {
                Fate::Time | Fate::Open => "time limit",
                Fate::Memory(_) => "memory limit",
                _ => return None,
            };
            Some(Undecided {
                partition: parts[i].0.as_ref().map(Value::to_string),
                reason: reason.to_string(),
                ops: parts[i].1.len(),
                steps: searches[i].steps,
                cache_bytes: searches[i].cache_bytes(),
                longest_prefix: searches[i].longest(),
            })
        })
        .collect();
    let Some(first) = undecided.first() else {
        return Verdict::Linearizable;
    };
    Verdict::Unknown {
        progress: Progress {
            reason: first.reason.clone(),
            partitions_checked: fates
                .iter()
                .filter(|f| matches!(f, Fate::Linearizable))
                .count(),
            partitions: n,
            partition: first.partition.clone(),
            partition_ops: first.ops,
            longest_prefix: first.longest_prefix,
            max_cache_bytes: opts.max_cache_bytes,
            undecided,
        },
    }
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
