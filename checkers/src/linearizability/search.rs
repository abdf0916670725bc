//! Wing & Gong's linearizability search with Lowe's memoization, for one partition.
//!
//! The history is a doubly linked list of call and return entries in time order. The search
//! repeatedly tries to linearize a pending call (apply it to the model and "lift" its call
//! and return out of the list); reaching a return entry means that operation should already
//! have taken effect, so it backtracks. A cache of (linearized-set bitset, model state) pairs
//! prunes configurations already explored: two paths that linearized the same set of
//! operations into the same state have the same future (Lowe, "Testing for linearizability",
//! 2017; the same idea as Porcupine). Indeterminate operations have their return at +infinity,
//! so reaching one means every determinate operation has been placed and the rest may never
//! have happened.
//!
//! The search is resumable: [`Search::run`] advances it by a budget of steps and can be called
//! again with a larger one, so a scheduler can give every partition a small budget first and
//! the undecided ones more later. Whether a budget or a memory cap stops it depends only on the
//! steps taken, never on the clock, so the outcome of a budgeted run is the same on every
//! machine; only the deadline is wall-clock. This module does not split histories; see
//! `partition` in the model trait.

use super::Model;
use crate::fxhash::FxHasher;
use crate::history::Operation;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The memo cache: a set of (bitset, state) pairs. Bitsets are stored run-length encoded
/// (see [`encode`]) in one arena and states in one vector, indexed from an open-addressing
/// table of `u32` slots, so dropping a cache of millions of entries frees three allocations
/// (plus whatever the states own) instead of one per entry.
///
/// Why encoded: the search linearizes operations roughly in history order, so a linearized
/// set is almost always "everything before some point, plus a few operations around it".
/// Stored plainly, every entry of a partition of `n` operations would cost `n / 8` bytes
/// and a long history `n^2 / 8` in all (an hour of simulated Raft: gigabytes); encoded,
/// an entry costs a few words plus a few for each hole left behind (an operation that
/// was never linearized, such as an indeterminate one that never happened).
struct Cache<S> {
    /// Encoded bitsets, back to back.
    bits: Vec<u64>,
    /// Hash, where its encoded bitset starts in `bits` and how long it is, and the state.
    entries: Vec<(u64, usize, usize, S)>,
    /// `index + 1` into `entries`; 0 is empty. Length a power of two, at most half full.
    slots: Vec<u32>,
    /// The encoding of the bitset being inserted (see [`Cache::encode`]).
    scratch: Vec<u64>,
}

/// Writes the run-length form of `bits` into `out`, a canonical encoding (equal sets give
/// equal encodings): segments `[full, literal, w_1 .. w_literal]` of `full` words that are
/// all ones followed by `literal` words that are not, copied as they are; trailing zero
/// words are left out.
fn encode(bits: &[u64], out: &mut Vec<u64>) {
    out.clear();
    let end = bits.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
    let bits = &bits[..end];
    let mut i = 0;
    while i < bits.len() {
        let full_from = i;
        while i < bits.len() && bits[i] == u64::MAX {
            i += 1;
        }
        let literal_from = i;
        while i < bits.len() && bits[i] != u64::MAX {
            i += 1;
        }
        out.push((literal_from - full_from) as u64);
        out.push((i - literal_from) as u64);
        out.extend_from_slice(&bits[literal_from..i]);
    }
}

impl<S: Eq + Hash> Cache<S> {
    fn new() -> Self {
        Cache {
            bits: Vec::new(),
            entries: Vec::new(),
            // Allocated by the first insert: a partition decided without one (or released)
            // holds nothing.
            slots: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Encodes `bits` as the next bitset to insert.
    fn encode(&mut self, bits: &[u64]) {
        encode(bits, &mut self.scratch);
    }

    fn hash(bits: &[u64], state: &S) -> u64 {
        let mut h = FxHasher::default();
        for &w in bits {
            h.write_u64(w);
        }
        state.hash(&mut h);
        h.finish()
    }

    /// Inserts the bitset last given to [`Cache::encode`] with `state` unless present;
    /// `true` when it was new.
    fn insert(&mut self, state: &S) -> bool
    where
        S: Clone,
    {
        if self.slots.is_empty() {
            self.slots = vec![0; 1024];
        }
        let bits = &self.scratch;
        let h = Self::hash(bits, state);
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                break;
            }
            let (eh, start, len, es) = &self.entries[(s - 1) as usize];
            if *eh == h && self.bits[*start..*start + *len] == **bits && *es == *state {
                return false;
            }
            i = (i + 1) & mask;
        }
        assert!(
            self.entries.len() < u32::MAX as usize - 1,
            "memo cache index overflow"
        );
        self.entries
            .push((h, self.bits.len(), bits.len(), state.clone()));
        self.bits.extend_from_slice(bits);
        self.slots[i] = self.entries.len() as u32;
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let mut slots = vec![0u32; cap];
        let mask = cap - 1;
        for (e, (h, ..)) in self.entries.iter().enumerate() {
            let mut i = *h as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = e as u32 + 1;
        }
        self.slots = slots;
    }

    /// Bytes inserting the encoded bitset may allocate (vectors double, the table is
    /// rebuilt), so the cap can be checked before an allocation rather than after.
    fn next_growth(&self) -> usize {
        let mut extra = 0;
        if self.entries.len() == self.entries.capacity() {
            extra += self.entries.capacity().max(4) * std::mem::size_of::<(u64, usize, usize, S)>();
        }
        let need = self.bits.len() + self.scratch.len();
        if need > self.bits.capacity() {
            extra += self.bits.capacity().max(need) * 8;
        }
        if self.slots.is_empty() {
            extra += 1024 * 4;
        } else if (self.entries.len() + 1) * 2 > self.slots.len() {
            extra += self.slots.len() * 8;
        }
        extra
    }

    /// Bytes of the table itself (states' own heap is counted by the caller).
    fn table_bytes(&self) -> usize {
        self.slots.len() * 4
            + self.entries.capacity() * std::mem::size_of::<(u64, usize, usize, S)>()
            + self.bits.capacity() * 8
    }
}

const NIL: usize = usize::MAX;

struct Node {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
    matching: usize,
}

/// The deepest point the search reached: a linearizable prefix and what blocked it.
pub(crate) struct Stuck<S> {
    /// Operations of the prefix with the state after each.
    pub prefix: Vec<(usize, S)>,
    /// The operation whose completion was reached before it could be placed.
    pub blocking: usize,
    /// Operations that were candidates to be placed next.
    pub candidates: Vec<usize>,
    /// The model state at that point.
    pub state: S,
}

/// Where a call to [`Search::run`] left the search.
pub(crate) enum Outcome<S> {
    Linearizable,
    Violation(Stuck<S>),
    /// The step budget of this call is spent; call again with a larger one.
    Budget,
    /// The memo cache reached the byte cap of this call; a larger cap may let it go on.
    Memory,
    /// The deadline passed.
    Time,
    /// Another partition's result made this one irrelevant.
    Cancelled,
}

/// A search over one partition, resumable between calls to `run`.
pub(crate) struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [(M::Op, &'a Operation)],
    nodes: Vec<Node>,
    linearized: Vec<u64>,
    cache: Cache<M::State>,
    /// Heap bytes owned by cached states beyond their inline size.
    state_heap: usize,
    calls: Vec<(usize, M::State)>,
    state: M::State,
    entry: usize,
    best: Option<Stuck<M::State>>,
    /// Steps taken so far, over all calls.
    pub steps: u64,
    /// Set once the search has decided.
    done: bool,
}

impl<'a, M: Model> Search<'a, M> {
    pub(crate) fn new(model: &'a M, ops: &'a [(M::Op, &'a Operation)]) -> Self {
        let n = ops.len();
        // Entries in time order; indeterminate returns sort last (usize::MAX).
        let mut evs: Vec<(usize, bool, usize)> = Vec::with_capacity(2 * n);
        for (i, (_, op)) in ops.iter().enumerate() {
            evs.push((op.call, false, i));
            evs.push((op.ret.unwrap_or(usize::MAX), true, i));
        }
        evs.sort_unstable();
        let mut nodes: Vec<Node> = Vec::with_capacity(2 * n + 1);
        nodes.push(Node {
            op: NIL,
            is_call: false,
            prev: NIL,
            next: if n == 0 { NIL } else { 1 },
            matching: NIL,
        });
        let mut call_node = vec![NIL; n];
        let mut ret_node = vec![NIL; n];
        for (k, &(_, is_ret, op)) in evs.iter().enumerate() {
            let idx = k + 1;
            if is_ret {
                ret_node[op] = idx;
            } else {
                call_node[op] = idx;
            }
            nodes.push(Node {
                op,
                is_call: !is_ret,
                prev: k,
                next: if idx == 2 * n { NIL } else { idx + 1 },
                matching: NIL,
            });
        }
        for i in 0..n {
            // A call must precede its own return; pairing guarantees it.
            debug_assert!(call_node[i] < ret_node[i]);
            nodes[call_node[i]].matching = ret_node[i];
        }
        let words = n.div_ceil(64).max(1);
        let entry = nodes[0].next;
        Search {
            model,
            ops,
            nodes,
            linearized: vec![0u64; words],
            cache: Cache::new(),
            state_heap: 0,
            calls: Vec::new(),
            state: model.init(),
            entry,
            best: None,
            steps: 0,
            done: false,
        }
    }

    /// Approximate bytes held by the memo cache.
    pub(crate) fn cache_bytes(&self) -> usize {
        self.cache.table_bytes() + self.state_heap
    }

    /// The longest linearizable prefix found so far.
    pub(crate) fn longest(&self) -> usize {
        self.best
            .as_ref()
            .map(|b| b.prefix.len())
            .unwrap_or(0)
            .max(self.calls.len())
    }

    /// Frees the memo cache of a search that will not run again.
    pub(crate) fn release(&mut self) {
        self.cache = Cache::new();
        self.state_heap = 0;
        self.nodes = Vec::new();
        self.calls = Vec::new();
        self.linearized = Vec::new();
    }

    /// Advances the search until it decides, `steps` reaches `budget`, the cache passes
    /// `max_bytes`, `deadline` passes, or `cancel` drops to or below `me` (a partition
    /// before this one found a violation, which decides the verdict).
    pub(crate) fn run(
        &mut self,
        budget: u64,
        max_bytes: usize,
        deadline: Option<Instant>,
        cancel: Option<(&AtomicUsize, usize)>,
    ) -> Outcome<M::State> {
        assert!(!self.done, "a decided search is not resumed");
        if self.cache_bytes() > max_bytes {
            return Outcome::Memory;
        }
        let model = self.model;
        let ops = self.ops;
        let state_inline = std::mem::size_of::<M::State>();
        while self.nodes[0].next != NIL {
            if self.steps >= budget {
                return Outcome::Budget;
            }
            self.steps += 1;
            if self.steps & 0xFF == 0 {
                if let Some(d) = deadline {
                    if Instant::now() >= d {
                        return Outcome::Time;
                    }
                }
                if let Some((flag, me)) = cancel {
                    if flag.load(Ordering::Relaxed) < me {
                        return Outcome::Cancelled;
                    }
                }
            }
            let entry = self.entry;
            debug_assert!(
                entry != NIL,
                "a pending call always has its return later in the list"
            );
            let node = &self.nodes[entry];
            let op = node.op;
            if node.is_call {
                let next = node.next;
                let step = model.step(&self.state, &ops[op].0);
                // An indeterminate operation that changes nothing here is equivalent to one
                // that never happens (its return is at +infinity, so it never forces
                // anything): skip it rather than explore the same futures under a different
                // bitset.
                let redundant = ops[op].1.ret.is_none() && step.as_ref() == Some(&self.state);
                if let Some(new_state) = step.filter(|_| !redundant) {
                    let heap = model.state_bytes(&new_state).saturating_sub(state_inline);
                    self.linearized[op / 64] |= 1 << (op % 64);
                    self.cache.encode(&self.linearized);
                    if self.cache_bytes() + self.cache.next_growth() + heap > max_bytes {
                        // Not taken: the step is retried when the search resumes.
                        self.linearized[op / 64] &= !(1 << (op % 64));
                        self.steps -= 1;
                        return Outcome::Memory;
                    }
                    if self.cache.insert(&new_state) {
                        self.state_heap +=
                            model.state_bytes(&new_state).saturating_sub(state_inline);
                        let old = std::mem::replace(&mut self.state, new_state);
                        self.calls.push((entry, old));
                        lift(&mut self.nodes, entry);
                        self.entry = self.nodes[0].next;
                        continue;
                    }
                    self.linearized[op / 64] &= !(1 << (op % 64));
                }
                self.entry = next;
            } else {
                if ops[op].1.ret.is_none() {
                    // Only indeterminate operations remain: they may never have happened.
                    self.done = true;
                    return Outcome::Linearizable;
                }
                let deeper = match &self.best {
                    None => true,
                    Some(b) => self.calls.len() > b.prefix.len(),
                };
                if deeper {
                    self.best = Some(snapshot(&self.nodes, &self.calls, &self.state, entry));
                }
                let Some((call_entry, prev_state)) = self.calls.pop() else {
                    self.done = true;
                    return Outcome::Violation(self.best.take().expect("recorded just above"));
                };
                self.state = prev_state;
                let cop = self.nodes[call_entry].op;
                self.linearized[cop / 64] &= !(1 << (cop % 64));
                unlift(&mut self.nodes, call_entry);
                self.entry = self.nodes[call_entry].next;
            }
        }
        self.done = true;
        Outcome::Linearizable
    }
}

fn snapshot<S: Clone>(
    nodes: &[Node],
    calls: &[(usize, S)],
    state: &S,
    stuck_at: usize,
) -> Stuck<S> {
    let mut prefix = Vec::with_capacity(calls.len());
    for (k, (e, _)) in calls.iter().enumerate() {
        let after = calls
            .get(k + 1)
            .map(|c| c.1.clone())
            .unwrap_or_else(|| state.clone());
        prefix.push((nodes[*e].op, after));
    }
    let mut candidates = Vec::new();
    let mut e = nodes[0].next;
    while e != stuck_at && e != NIL {
        if nodes[e].is_call {
            candidates.push(nodes[e].op);
        }
        e = nodes[e].next;
    }
    Stuck {
        prefix,
        blocking: nodes[stuck_at].op,
        candidates,
        state: state.clone(),
    }
}

fn lift(nodes: &mut [Node], e: usize) {
    let (p, n) = (nodes[e].prev, nodes[e].next);
    nodes[p].next = n;
    if n != NIL {
        nodes[n].prev = p;
    }
    let m = nodes[e].matching;
    let (p, n) = (nodes[m].prev, nodes[m].next);
    nodes[p].next = n;
    if n != NIL {
        nodes[n].prev = p;
    }
}

fn unlift(nodes: &mut [Node], e: usize) {
    let m = nodes[e].matching;
    let (p, n) = (nodes[m].prev, nodes[m].next);
    nodes[p].next = m;
    if n != NIL {
        nodes[n].prev = m;
    }
    let (p, n) = (nodes[e].prev, nodes[e].next);
    nodes[p].next = e;
    if n != NIL {
        nodes[n].prev = e;
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    fn decode(tokens: &[u64], words: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut t = tokens.iter().copied();
        while let (Some(full), Some(literal)) = (t.next(), t.next()) {
            out.extend(std::iter::repeat_n(u64::MAX, full as usize));
            out.extend(t.by_ref().take(literal as usize));
        }
        out.resize(words, 0);
        out
    }

    #[test]
    fn encoding_round_trips_and_is_canonical() {
        // Bitsets of every shape the search makes: dense prefixes, holes, windows, zeros.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut seen = std::collections::HashMap::new();
        for _ in 0..5_000 {
            let words = (next() % 12) as usize + 1;
            let bits: Vec<u64> = (0..words)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 | 2 => u64::MAX,
                    _ => next() & next(),
                })
                .collect();
            let mut tokens = Vec::new();
            encode(&bits, &mut tokens);
            assert_eq!(decode(&tokens, words), bits, "{tokens:?}");
            // Equal sets, equal encodings; different sets (same width), different ones.
            let mut padded = bits.clone();
            padded.resize(12, 0);
            if let Some(other) = seen.insert(tokens.clone(), padded.clone()) {
                assert_eq!(other, padded);
            }
        }
    }

    #[test]
    fn a_dense_prefix_and_a_window_cost_a_few_words() {
        // 100,000 operations: the first 60,000 linearized but one, and a few past them.
        let mut bits = vec![0u64; 100_000usize.div_ceil(64)];
        for op in (0..60_000)
            .filter(|&op| op != 1_234)
            .chain([60_003, 60_010])
        {
            bits[op / 64] |= 1 << (op % 64);
        }
        let mut tokens = Vec::new();
        encode(&bits, &mut tokens);
        assert!(tokens.len() <= 8, "{tokens:?}");
        assert_eq!(decode(&tokens, bits.len()), bits);
    }
}
