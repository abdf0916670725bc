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
//! have happened. This module does not split histories; see `partition` in the model trait.

use super::Model;
use crate::history::Operation;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// A fast multiplicative hasher for the memo cache (FxHash's scheme). The cache is never
/// iterated, so its order cannot reach output; SipHash's DoS resistance buys nothing here.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        // Final avalanche (MurmurHash3's fmix64): hashbrown uses the top bits.
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
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

pub(crate) enum Outcome<S> {
    Linearizable,
    Violation(Stuck<S>),
    /// Ran out of time or memory; the length of the longest prefix found.
    GaveUp {
        longest: usize,
        memory: bool,
    },
}

/// Searches for a linearization of `ops` (all of one partition).
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[(M::Op, &Operation)],
    deadline: Option<Instant>,
    max_cache_bytes: usize,
) -> Outcome<M::State> {
    let n = ops.len();
    if n == 0 {
        return Outcome::Linearizable;
    }
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
        next: 1,
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

    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, M::State), BuildHasherDefault<FxHasher>> = HashSet::default();
    let mut calls: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut entry = nodes[0].next;
    let mut best: Option<Stuck<M::State>> = None;
    let mut iterations: u64 = 0;
    let entry_bytes = words * 8 + 48; // bitset, hash-table slot and Vec header, roughly
    let mut cache_bytes = 0usize;

    while nodes[0].next != NIL {
        iterations += 1;
        if iterations & 0x3FF == 0 {
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    let longest = best.map(|b| b.prefix.len()).unwrap_or(calls.len());
                    return Outcome::GaveUp {
                        longest,
                        memory: false,
                    };
                }
            }
        }
        debug_assert!(
            entry != NIL,
            "a pending call always has its return later in the list"
        );
        let node = &nodes[entry];
        let op = node.op;
        if node.is_call {
            let next = node.next;
            let step = model.step(&state, &ops[op].0);
            // An indeterminate operation that changes nothing here is equivalent to one that
            // never happens (its return is at +infinity, so it never forces anything): skip
            // it rather than explore the same futures under a different bitset.
            let redundant = ops[op].1.ret.is_none() && step.as_ref() == Some(&state);
            if let Some(new_state) = step.filter(|_| !redundant) {
                linearized[op / 64] |= 1 << (op % 64);
                let bytes = entry_bytes + model.state_bytes(&new_state);
                if cache.insert((linearized.clone(), new_state.clone())) {
                    cache_bytes += bytes;
                    if cache_bytes > max_cache_bytes {
                        let longest = best.map(|b| b.prefix.len()).unwrap_or(calls.len());
                        return Outcome::GaveUp {
                            longest,
                            memory: true,
                        };
                    }
                    calls.push((entry, std::mem::replace(&mut state, new_state)));
                    lift(&mut nodes, entry);
                    entry = nodes[0].next;
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            entry = next;
        } else {
            if ops[op].1.ret.is_none() {
                // Only indeterminate operations remain: they may never have happened.
                return Outcome::Linearizable;
            }
            let deeper = match &best {
                None => true,
                Some(b) => calls.len() > b.prefix.len(),
            };
            if deeper {
                best = Some(snapshot(&nodes, &calls, &state, entry));
            }
            let Some((call_entry, prev_state)) = calls.pop() else {
                return Outcome::Violation(best.expect("recorded just above"));
            };
            state = prev_state;
            let cop = nodes[call_entry].op;
            linearized[cop / 64] &= !(1 << (cop % 64));
            unlift(&mut nodes, call_entry);
            entry = nodes[call_entry].next;
        }
    }
    Outcome::Linearizable
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
