//! The transaction dependency graph and its cycle classification.
//!
//! Nodes are transactions; edges carry their kind and a sentence saying why they exist.
//! Cycles are found per stage, from most to least severe: G0 (write-write edges only), G1c
//! (write-write and write-read), then cycles through read-write edges, named G-single when
//! the cycle found has exactly one read-write edge and G2 otherwise. Each stage computes
//! strongly connected components of the graph restricted to the stage's edge kinds
//! (Kosaraju, which is iterative: dependency chains can be 100,000 long), and one cycle is
//! reported per component. Process and real-time edges join only after the data edges found
//! nothing, so their anomalies carry `-process` / `-realtime`. Deliberately, this reports
//! one representative cycle per component, not every cycle.

use super::list_append::tail;
use super::{label, Anomaly, Status, Txn};
use crate::value::Value;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    Ww,
    Wr,
    Rw,
    Process,
    Realtime,
}

impl EdgeKind {
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

const WW: u8 = 1;
const WR: u8 = 2;
const RW: u8 = 4;
const PROCESS: u8 = 8;
const REALTIME: u8 = 16;

/// Why an edge exists. Kept as references into the history and put into words only for
/// the edges of a reported cycle: a large history has millions of edges and few cycles.
#[derive(Clone, Debug)]
pub enum Why<'a> {
    /// Already in words.
    Text(String),
    /// Write-write in list-append: `next` was appended to `key` right after `prev`.
    Appended {
        key: &'a Value,
        prev: &'a Value,
        next: &'a Value,
    },
    /// Write-read in list-append: the reader saw `list`, ending with the writer's `last`.
    ReadEnds {
        key: &'a Value,
        list: &'a [Value],
        last: &'a Value,
    },
    /// Read-write in list-append: the reader saw `list`; the writer's `next` comes after.
    ReadMissing {
        key: &'a Value,
        list: &'a [Value],
        next: &'a Value,
    },
    /// Consecutive transactions of a process.
    Process(i64),
    /// The first completed before the second was invoked.
    Realtime,
}

/// An edge: its kind and where its reason is kept. Eight bytes, so that the millions of
/// real-time and process edges of a large history (whose reasons follow from the
/// transactions themselves) cost little memory.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub kind: EdgeKind,
    /// Index into `DepGraph::whys`; `u32::MAX` when the kind says it all.
    why: u32,
}

/// Dependency graph over the transactions of a history (node i is transaction i).
pub struct DepGraph<'a> {
    txns: &'a [Txn],
    pub graph: DiGraph<(), Edge>,
    whys: Vec<Why<'a>>,
    extras: u8,
}

impl<'a> DepGraph<'a> {
    pub fn new(txns: &'a [Txn]) -> Self {
        let mut graph = DiGraph::with_capacity(txns.len(), txns.len() * 2);
        for _ in txns {
            graph.add_node(());
        }
        DepGraph {
            txns,
            graph,
            whys: Vec::new(),
            extras: 0,
        }
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Completes "Ta < Tb because ..." for the edge `a -> b`.
    pub fn why(&self, a: usize, b: usize, edge: &Edge) -> String {
        let why = match edge.kind {
            EdgeKind::Process => &Why::Process(self.txns[a].process),
            EdgeKind::Realtime => &Why::Realtime,
            _ => match self.whys.get(edge.why as usize) {
                Some(w) => w,
                None => return String::new(),
            },
        };
        match why {
            Why::Text(s) => s.clone(),
            Why::Appended { key, prev, next } => format!(
                "T{b} appended {next} to {kb} right after T{a}'s {prev}",
                kb = key.bare()
            ),
            Why::ReadEnds { key, list, last } => format!(
                "T{b} read {kb}={} which ends with T{a}'s append of {last}",
                tail(list),
                kb = key.bare()
            ),
            Why::ReadMissing { key, list, next } => format!(
                "T{a} read {kb}={} without T{b}'s append of {next}, which comes next",
                tail(list),
                kb = key.bare()
            ),
            Why::Process(p) => format!("process {p} ran T{a} before T{b}"),
            Why::Realtime => format!(
                "T{a} completed (line {}) before T{b} was invoked (line {})",
                self.txns[a].line, self.txns[b].line
            ),
        }
    }

    /// Adds `from -> to`; self-edges carry no information and are skipped.
    pub fn add(&mut self, from: usize, to: usize, kind: EdgeKind, why: Why<'a>) {
        if from != to {
            let why = match why {
                Why::Process(_) | Why::Realtime => u32::MAX,
                other => {
                    self.whys.push(other);
                    u32::try_from(self.whys.len() - 1).expect("fewer than 2^32 edges")
                }
            };
            self.graph
                .add_edge(NodeIndex::new(from), NodeIndex::new(to), Edge { kind, why });
        }
    }

    fn live(&self, t: usize) -> bool {
        self.txns[t].status != Status::Aborted
    }

    /// Consecutive transactions of each process.
    pub fn add_process_edges(&mut self) {
        self.extras |= PROCESS;
        let mut by_proc: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
        for t in self.txns {
            if self.live(t.id) {
                by_proc.entry(t.process).or_default().push(t.id);
            }
        }
        for (p, ids) in by_proc {
            for w in ids.windows(2) {
                self.add(w[0], w[1], EdgeKind::Process, Why::Process(p));
            }
        }
    }

    /// Real-time order, transitively reduced the way Elle does it: a transaction is linked
    /// from the "frontier" of transactions completed before its invocation, and a completed
    /// transaction replaces in the frontier those that already precede it.
    pub fn add_realtime_edges(&mut self) {
        self.extras |= REALTIME;
        let mut events: Vec<(usize, bool, usize)> = Vec::new();
        for t in self.txns {
            if !self.live(t.id) {
                continue;
            }
            events.push((t.call, false, t.id));
            if let (Some(r), Status::Committed) = (t.ret, t.status) {
                events.push((r, true, t.id));
            }
        }
        events.sort_unstable();
        let mut frontier: Vec<usize> = Vec::new();
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); self.txns.len()];
        for (_, is_ret, t) in events {
            if is_ret {
                let before = std::mem::take(&mut preds[t]);
                frontier.retain(|x| !before.contains(x));
                frontier.push(t);
            } else {
                for &p in &frontier {
                    self.add(p, t, EdgeKind::Realtime, Why::Realtime);
                }
                preds[t] = frontier.clone();
            }
        }
    }

    /// Whether the whole graph (every edge kind) has no cycle: Kahn's topological sort over
    /// a compact adjacency array, cheaper than finding components when there are none.
    fn acyclic(&self) -> bool {
        let n = self.graph.node_count();
        let edges = self.graph.raw_edges();
        let mut start = vec![0u32; n + 1];
        let mut indegree = vec![0u32; n];
        for e in edges {
            start[e.source().index() + 1] += 1;
            indegree[e.target().index()] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut targets = vec![0u32; edges.len()];
        for e in edges {
            let s = e.source().index();
            targets[fill[s] as usize] = e.target().index() as u32;
            fill[s] += 1;
        }
        let mut ready: Vec<u32> = (0..n as u32)
            .filter(|&i| indegree[i as usize] == 0)
            .collect();
        let mut done = 0;
        while let Some(v) = ready.pop() {
            done += 1;
            let v = v as usize;
            for &t in &targets[start[v] as usize..start[v + 1] as usize] {
                indegree[t as usize] -= 1;
                if indegree[t as usize] == 0 {
                    ready.push(t);
                }
            }
        }
        done == n
    }

    /// Strongly connected components (of size > 1) of the graph restricted to `mask`.
    fn components(&self, mask: u8) -> Vec<Vec<usize>> {
        let view = EdgeFiltered::from_fn(
            &self.graph,
            |e: petgraph::graph::EdgeReference<'_, Edge>| e.weight().kind.bit() & mask != 0,
        );
        let mut comps: Vec<Vec<usize>> = petgraph::algo::kosaraju_scc(&view)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut c: Vec<usize> = c.into_iter().map(|n| n.index()).collect();
                c.sort_unstable();
                c
            })
            .collect();
        comps.sort();
        comps
    }

    /// Shortest path of `mask` edges from `src` to `dst` inside `member` nodes.
    fn path(&self, src: usize, dst: usize, mask: u8, member: &[bool]) -> Option<Vec<EdgeIndex>> {
        let mut parent: std::collections::HashMap<usize, EdgeIndex> = Default::default();
        let mut queue = VecDeque::from([src]);
        let mut seen = std::collections::HashSet::from([src]);
        while let Some(n) = queue.pop_front() {
            for e in self.graph.edges(NodeIndex::new(n)) {
                let m = e.target().index();
                if e.weight().kind.bit() & mask == 0 || !member[m] || !seen.insert(m) {
                    continue;
                }
                parent.insert(m, e.id());
                if m == dst {
                    let mut out = Vec::new();
                    let mut cur = dst;
                    loop {
                        let eid = parent[&cur];
                        out.push(eid);
                        cur = self.graph.edge_endpoints(eid)?.0.index();
                        if cur == src {
                            break;
                        }
                    }
                    out.reverse();
                    return Some(out);
                }
                queue.push_back(m);
            }
        }
        None
    }

    /// A cycle through `start` using `mask` edges inside `member`.
    fn cycle_through(&self, start: usize, mask: u8, member: &[bool]) -> Option<Vec<EdgeIndex>> {
        for e in self.graph.edges(NodeIndex::new(start)) {
            let m = e.target().index();
            if e.weight().kind.bit() & mask == 0 || !member[m] {
                continue;
            }
            if let Some(mut rest) = self.path(m, start, mask, member) {
                rest.insert(0, e.id());
                return Some(rest);
            }
        }
        None
    }

    fn explain(&self, cycle: &[EdgeIndex], base: &str) -> Anomaly {
        let mut kinds = 0u8;
        let mut txns = Vec::new();
        let mut lines = Vec::new();
        let mut explanation = Vec::new();
        for &e in cycle {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge of this graph");
            let w = &self.graph[e];
            kinds |= w.kind.bit();
            txns.push(label(&self.txns[a.index()]));
            lines.push(self.txns[a.index()].line);
            explanation.push(format!(
                "T{} < T{} because {}",
                a.index(),
                b.index(),
                self.why(a.index(), b.index(), w)
            ));
        }
        let suffix = if kinds & REALTIME != 0 {
            "-realtime"
        } else if kinds & PROCESS != 0 {
            "-process"
        } else {
            ""
        };
        Anomaly {
            kind: format!("{base}{suffix}"),
            txns,
            lines,
            explanation,
        }
    }

    /// Classifies cycles; see the module doc.
    pub fn cycle_anomalies(&self) -> Vec<Anomaly> {
        let n = self.txns.len();
        // Every cycle of a stage lies inside a strongly connected component of the whole
        // graph: when the whole graph is acyclic (a valid history), one pass decides.
        if self.acyclic() {
            return Vec::new();
        }
        let mut reported = vec![false; n];
        let mut out = Vec::new();
        let mut member = vec![false; n];
        let passes: &[u8] = if self.extras != 0 { &[0, 1] } else { &[0] };
        for &pass in passes {
            let extra = if pass == 1 { self.extras } else { 0 };
            for (base, mask) in [
                ("G0", WW | extra),
                ("G1c", WW | WR | extra),
                ("", WW | WR | RW | extra),
            ] {
                for comp in self.components(mask) {
                    if comp.iter().any(|&t| reported[t]) {
                        continue;
                    }
                    for &t in &comp {
                        member[t] = true;
                    }
                    let cycle = if base.is_empty() {
                        self.rw_cycle(&comp, mask, &member)
                    } else {
                        self.cycle_through(comp[0], mask, &member)
                    };
                    for &t in &comp {
                        member[t] = false;
                    }
                    let Some(cycle) = cycle else { continue };
                    if pass == 1 && cycle.iter().all(|&e| self.graph[e].kind.bit() & extra == 0) {
                        continue; // a data-only cycle would have been found in pass 0
                    }
                    let name = if base.is_empty() {
                        let rws = cycle
                            .iter()
                            .filter(|&&e| self.graph[e].kind == EdgeKind::Rw)
                            .count();
                        if rws == 1 {
                            "G-single"
                        } else {
                            "G2"
                        }
                    } else {
                        base
                    };
                    for &t in &comp {
                        reported[t] = true;
                    }
                    out.push(self.explain(&cycle, name));
                }
            }
        }
        out
    }

    /// A cycle with as few read-write edges as we can cheaply find: first one closing a
    /// read-write edge with a path of other edges (G-single), else any cycle through one.
    fn rw_cycle(&self, comp: &[usize], mask: u8, member: &[bool]) -> Option<Vec<EdgeIndex>> {
        let rw_edges: Vec<EdgeIndex> = comp
            .iter()
            .flat_map(|&t| self.graph.edges(NodeIndex::new(t)))
            .filter(|e| e.weight().kind == EdgeKind::Rw && member[e.target().index()])
            .map(|e| e.id())
            .collect();
        // Bounded: each try is a breadth-first search over the component.
        for &e in rw_edges.iter().take(64) {
            let (a, b) = self.graph.edge_endpoints(e)?;
            if let Some(mut p) = self.path(b.index(), a.index(), mask & !RW, member) {
                p.insert(0, e);
                return Some(p);
            }
        }
        if let Some(&e) = rw_edges.first() {
            let (a, b) = self.graph.edge_endpoints(e)?;
            if let Some(mut p) = self.path(b.index(), a.index(), mask, member) {
                p.insert(0, e);
                return Some(p);
            }
        }
        self.cycle_through(comp[0], mask, member)
    }
}
