//! Multi-value (sibling) register stores, judged from what clients saw.
//!
//! Models any key-value store whose reads return a set of concurrent values (siblings)
//! and whose writes replace the siblings they have seen, as Dynamo, Riak, Voldemort and
//! dst's gossip do with version vectors: per key, the versions form a partial order
//! ("x superseded a": x's writer had a, so x dominates it), a replica keeps only the
//! versions nothing it holds dominates, and a delete is a version without a value. The
//! history says what a write superseded when it can (`supersedes`: the values in the
//! context a client passed, or that the store reported replacing); a write without it
//! may have superseded any write taken before it completed.
//!
//! Checked, for any such store:
//! - `phantom`: every value a read returns (and every value a write says it superseded)
//!   was written to that key by a put invoked before the read returned, not by a put
//!   that failed, not only to another key;
//! - `dominated-sibling`: no read returns a value together with one that superseded it
//!   (siblings are concurrent by definition);
//! - `resurrection`: a read judged below never returns a value superseded by a write that
//!   was acknowledged before the read began (or, for a read after quiescence, that an
//!   earlier such read saw);
//! - `lost-write`: a read judged below returns every put acknowledged before it began, or
//!   some chain of writes that may have superseded it ends in a value it returns or in a
//!   delete.
//!
//! Which reads are judged is the store's guarantee, which the history cannot show:
//! `Eventual` judges only reads issued after the system quiesced (`"final": true`, or
//! invoked at or after `final_from`): replicas have converged, so every acknowledged write
//! or a successor is everywhere. `Quorum` (every read overlaps every acknowledged write,
//! R + W > N, with reads merged by dominance) judges every read invoked after the ack.
//!
//! Not modelled: a read returning the same set twice from one replica (monotonic reads,
//! which eventual stores do not promise), session guarantees, garbage collection of
//! tombstones, CRDT merges of sibling values. Supersession is tracked through values, so a
//! value written more than once to a key is never judged as superseded or dominating (it
//! is still checked for phantoms and visibility); a delete's tombstone has no value, so a
//! chain of supersession that passes through one is only known to end there.

pub mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::error::InputError;
use crate::value::Value;
pub use parse::{Op, OpKind, Outcome, Parsed};

/// What the store promises reads, which decides which reads are judged for visibility and
/// resurrection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Guarantee {
    /// Eventual consistency: only reads after quiescence are judged.
    #[default]
    Eventual,
    /// Read and write quorums intersect (R + W > N): every read invoked after an ack is
    /// judged against it.
    Quorum,
}

impl Guarantee {
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::Eventual => "eventual",
            Guarantee::Quorum => "quorum",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub guarantee: Guarantee,
    /// Reads invoked at or after this time are after quiescence, as if marked `final`.
    pub final_from: Option<u64>,
}

/// One violation, with the history lines that show it (the read, then the writes).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Violation {
    pub kind: &'static str,
    pub key: String,
    pub message: String,
    pub lines: Vec<usize>,
    /// Further reads that showed the same violation of the same write or value.
    pub repeats: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `valid` or `invalid`.
    pub verdict: &'static str,
    pub guarantee: &'static str,
    pub ops: usize,
    pub keys: usize,
    pub reads: usize,
    /// Reads judged for visibility and resurrection (final reads, or every read under quorum).
    pub judged_reads: usize,
    pub final_reads: usize,
    pub acked_writes: usize,
    pub violations: Vec<Violation>,
    pub violations_total: usize,
    pub notes: Vec<String>,
    pub check_nanos: u64,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.violations_total == 0
    }
}

/// At most this many violations are listed; all are counted.
const KEEP: usize = 100;

/// Reads and checks a file.
pub fn check_file(path: &Path, opts: &Options) -> Result<Report, InputError> {
    let (source, text) = crate::history::read_text(path)?;
    check_str(&source, &text, opts)
}

/// Parses and checks history text.
pub fn check_str(source: &str, text: &str, opts: &Options) -> Result<Report, InputError> {
    let parsed = parse::parse(source, text)?;
    if opts.final_from.is_some() && !parsed.has_time && !parsed.ops.is_empty() {
        return Err(InputError::new(
            source,
            0,
            "--final-from needs a `time` on every line, and this history has none",
        ));
    }
    Ok(check(&parsed, opts))
}

/// Checks parsed operations.
pub fn check(parsed: &Parsed, opts: &Options) -> Report {
    let start = Instant::now();
    let mut ops = parsed.ops.clone();
    if let Some(t) = opts.final_from {
        for op in ops.iter_mut().filter(|o| o.kind == OpKind::Read) {
            if op.invoke_time.is_some_and(|i| i >= t) {
                op.is_final = true;
            }
        }
    }
    let mut by_key: BTreeMap<&Value, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_key.entry(&op.key).or_default().push(i);
    }
    // Which keys each value was written to, for phantom messages.
    let mut written_to: BTreeMap<&Value, BTreeSet<&Value>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.kind == OpKind::Put) {
        written_to.entry(&op.value).or_default().insert(&op.key);
    }
    let mut out = Out::default();
    let mut reused = 0;
    for (key, idx) in &by_key {
        let k = KeyCheck::new(&ops, key, idx, &written_to, opts.guarantee);
        reused += k.reused_values;
        k.run(&mut out);
    }
    let reads = ops.iter().filter(|o| o.kind == OpKind::Read).count();
    let final_reads = ops
        .iter()
        .filter(|o| o.kind == OpKind::Read && o.is_final && o.outcome == Outcome::Ok)
        .count();
    let acked_writes = ops
        .iter()
        .filter(|o| o.kind != OpKind::Read && o.outcome == Outcome::Ok)
        .count();
    let mut notes = Vec::new();
    if ops.is_empty() {
        notes.push("no client operations: an empty history is valid".to_string());
    } else if opts.guarantee == Guarantee::Eventual && final_reads == 0 {
        notes.push(
            "no read after quiescence (`\"final\": true` or --final-from): acknowledged writes and resurrections were not judged, only phantoms and dominated siblings"
                .to_string(),
        );
    }
    if reused > 0 {
        notes.push(format!(
            "{reused} {} written more than once to the same key: checked for phantoms and visibility, not as superseded or superseding",
            if reused == 1 { "value was" } else { "values were" },
        ));
    }
    let unstated = ops
        .iter()
        .filter(|o| o.kind != OpKind::Read && o.outcome != Outcome::Fail && o.supersedes.is_none())
        .count();
    if unstated > 0 && out.judged > 0 {
        notes.push(format!(
            "{unstated} {} not say what {} superseded: each may have superseded any write taken before it completed",
            if unstated == 1 { "write does" } else { "writes do" },
            if unstated == 1 { "it" } else { "they" },
        ));
    }
    Report {
        verdict: if out.total == 0 { "valid" } else { "invalid" },
        guarantee: opts.guarantee.name(),
        ops: ops.len(),
        keys: by_key.len(),
        reads,
        judged_reads: out.judged,
        final_reads,
        acked_writes,
        violations: out.list,
        violations_total: out.total,
        notes,
        check_nanos: start.elapsed().as_nanos() as u64,
    }
}

#[derive(Default)]
struct Out {
    list: Vec<Violation>,
    total: usize,
    judged: usize,
    /// (kind, key, subject line, subject value) already reported, to its index in `list`.
    seen: BTreeMap<(&'static str, String, usize, String), Option<usize>>,
}

impl Out {
    fn push(
        &mut self,
        kind: &'static str,
        key: &Value,
        subject: (usize, String),
        message: String,
        lines: Vec<usize>,
    ) {
        let id = (kind, key.to_string(), subject.0, subject.1);
        if let Some(at) = self.seen.get(&id) {
            if let Some(i) = *at {
                self.list[i].repeats += 1;
            }
            return;
        }
        self.total += 1;
        let at = (self.list.len() < KEEP).then_some(self.list.len());
        self.seen.insert(id, at);
        if at.is_some() {
            self.list.push(Violation {
                kind,
                key: key.bare(),
                message,
                lines,
                repeats: 0,
            });
        }
    }
}

/// The checks of one key.
struct KeyCheck<'a> {
    ops: &'a [Op],
    key: &'a Value,
    guarantee: Guarantee,
    /// Puts and deletes that did not fail, sorted by invocation.
    writes: Vec<usize>,
    reads: Vec<usize>,
    /// Value to the puts that wrote it (not failed).
    writers: BTreeMap<&'a Value, Vec<usize>>,
    failed: BTreeMap<&'a Value, usize>,
    written_to: &'a BTreeMap<&'a Value, BTreeSet<&'a Value>>,
    /// Known supersession between writes whose values have one writer: x -> those it
    /// superseded, and the reverse.
    superseded_by: BTreeMap<usize, Vec<usize>>,
    /// Per put: the earliest completion of a final read that returned its value.
    final_seen: BTreeMap<usize, usize>,
    reused_values: usize,
}

fn show(vs: &[Value]) -> String {
    let items: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
    format!("[{}]", items.join(" "))
}

impl<'a> KeyCheck<'a> {
    fn new(
        ops: &'a [Op],
        key: &'a Value,
        idx: &[usize],
        written_to: &'a BTreeMap<&'a Value, BTreeSet<&'a Value>>,
        guarantee: Guarantee,
    ) -> Self {
        let mut writes: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| ops[i].kind != OpKind::Read && ops[i].outcome != Outcome::Fail)
            .collect();
        writes.sort_by_key(|&i| ops[i].invoke);
        let reads = idx
            .iter()
            .copied()
            .filter(|&i| ops[i].kind == OpKind::Read && ops[i].outcome == Outcome::Ok)
            .collect::<Vec<_>>();
        let mut writers: BTreeMap<&Value, Vec<usize>> = BTreeMap::new();
        for &w in writes.iter().filter(|&&w| ops[w].kind == OpKind::Put) {
            writers.entry(&ops[w].value).or_default().push(w);
        }
        let mut failed = BTreeMap::new();
        for &i in idx {
            if ops[i].kind == OpKind::Put && ops[i].outcome == Outcome::Fail {
                failed.entry(&ops[i].value).or_insert(i);
            }
        }
        let unique = |v: &Value| match writers.get(v).map(Vec::as_slice) {
            Some([w]) => Some(*w),
            _ => None,
        };
        let mut superseded_by: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &x in &writes {
            let Some(list) = &ops[x].supersedes else {
                continue;
            };
            for v in list {
                if let Some(w) = unique(v).filter(|&w| w != x) {
                    superseded_by.entry(w).or_default().push(x);
                }
            }
        }
        let mut final_seen: BTreeMap<usize, usize> = BTreeMap::new();
        for &r in reads.iter().filter(|&&r| ops[r].is_final) {
            let done = ops[r].complete.expect("an ok read completed");
            for v in &ops[r].result {
                if let Some(w) = unique(v) {
                    let e = final_seen.entry(w).or_insert(done);
                    *e = (*e).min(done);
                }
            }
        }
        let reused_values = writers.values().filter(|ws| ws.len() > 1).count();
        KeyCheck {
            ops,
            key,
            guarantee,
            writes,
            reads,
            writers,
            failed,
            written_to,
            superseded_by,
            final_seen,
            reused_values,
        }
    }

    fn unique(&self, v: &Value) -> Option<usize> {
        match self.writers.get(v).map(Vec::as_slice) {
            Some([w]) => Some(*w),
            _ => None,
        }
    }

    /// Every write known to dominate `w` (transitively), excluding `w`.
    fn dominators(&self, w: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![w];
        while let Some(x) = stack.pop() {
            for &y in self.superseded_by.get(&x).into_iter().flatten() {
                if y != w && seen.insert(y) {
                    stack.push(y);
                }
            }
        }
        seen
    }

    fn run(&self, out: &mut Out) {
        self.phantoms(out);
        for &r in &self.reads {
            self.dominated_siblings(r, out);
            let op = &self.ops[r];
            let judged = match self.guarantee {
                Guarantee::Eventual => op.is_final,
                Guarantee::Quorum => true,
            };
            if judged {
                out.judged += 1;
                self.resurrections(r, out);
                self.lost_writes(r, out);
            }
        }
    }

    /// Why `v` could not have been returned (or superseded) by an operation that completed
    /// at `before`; `None` when some put explains it.
    fn phantom(&self, v: &Value, before: Option<usize>) -> Option<(String, Vec<usize>)> {
        let ws = self.writers.get(v).map(Vec::as_slice).unwrap_or(&[]);
        if ws
            .iter()
            .any(|&w| before.is_none_or(|b| self.ops[w].invoke < b))
        {
            return None;
        }
        if let Some(&w) = ws.first() {
            return Some((
                format!(
                    "written only by a put invoked later (line {})",
                    self.ops[w].line
                ),
                vec![self.ops[w].line],
            ));
        }
        if let Some(&f) = self.failed.get(v) {
            return Some((
                format!(
                    "written only by a put that failed (line {})",
                    self.ops[f].line
                ),
                vec![self.ops[f].line],
            ));
        }
        let others: Vec<String> = self
            .written_to
            .get(v)
            .into_iter()
            .flatten()
            .filter(|k| **k != self.key)
            .map(|k| k.bare())
            .collect();
        if others.is_empty() {
            Some(("never written".to_string(), Vec::new()))
        } else {
            Some((format!("written only to {}", others.join(", ")), Vec::new()))
        }
    }

    fn phantoms(&self, out: &mut Out) {
        // Values a read returned, then values a write says it superseded: each must have
        // been written to this key by a put that may have taken effect by then.
        let read = self
            .reads
            .iter()
            .flat_map(|&r| self.ops[r].result.iter().map(move |v| (r, v, true)));
        let superseded = self.writes.iter().flat_map(|&x| {
            let op = &self.ops[x];
            op.supersedes.iter().flatten().map(move |v| (x, v, false))
        });
        for (i, v, is_read) in read.chain(superseded) {
            let op = &self.ops[i];
            let Some((why, mut lines)) = self.phantom(v, op.complete) else {
                continue;
            };
            let (key, line) = (self.key.bare(), op.line);
            let what = if is_read {
                format!("read of {key} at line {line} returned {v}")
            } else {
                format!(
                    "the {} of {key} at line {line} says it superseded {v}",
                    op.kind.name()
                )
            };
            lines.insert(0, line);
            out.push(
                "phantom",
                self.key,
                (line, v.to_string()),
                format!("{what}, {why}"),
                lines,
            );
        }
    }

    fn dominated_siblings(&self, r: usize, out: &mut Out) {
        let op = &self.ops[r];
        let present: BTreeMap<usize, &Value> = op
            .result
            .iter()
            .filter_map(|v| self.unique(v).map(|w| (w, v)))
            .collect();
        for (&w, v) in &present {
            let doms = self.dominators(w);
            if let Some((&x, xv)) = present.iter().find(|(x, _)| doms.contains(x)) {
                out.push(
                    "dominated-sibling",
                    self.key,
                    (op.line, v.to_string()),
                    format!(
                        "read of {} at line {} returned {v} together with {xv}, which superseded it (put at line {}, superseded by the write at line {})",
                        self.key.bare(),
                        op.line,
                        self.ops[w].line,
                        self.ops[x].line
                    ),
                    vec![op.line, self.ops[w].line, self.ops[x].line],
                );
            }
        }
    }

    fn when(&self, r: usize) -> &'static str {
        match (self.guarantee, self.ops[r].is_final) {
            (_, true) => "after quiescence",
            (Guarantee::Quorum, false) => "invoked after the ack",
            (Guarantee::Eventual, false) => "judged",
        }
    }

    fn resurrections(&self, r: usize, out: &mut Out) {
        let op = &self.ops[r];
        for v in &op.result {
            let Some(w) = self.unique(v) else { continue };
            let established = self.dominators(w).into_iter().find(|&x| {
                let xo = &self.ops[x];
                let acked = xo.outcome == Outcome::Ok && xo.complete.is_some_and(|c| c < op.invoke);
                let seen = op.is_final && self.final_seen.get(&x).is_some_and(|&s| s < op.invoke);
                acked || seen
            });
            if let Some(x) = established {
                let xo = &self.ops[x];
                let how = if xo.outcome == Outcome::Ok && xo.complete.is_some_and(|c| c < op.invoke)
                {
                    format!("acknowledged at line {}", xo.ret_line.unwrap_or(xo.line))
                } else {
                    "seen by an earlier read after quiescence".to_string()
                };
                out.push(
                    "resurrection",
                    self.key,
                    (self.ops[w].line, String::new()),
                    format!(
                        "read of {} at line {} ({}) returned {v} (put at line {}), which the {} at line {} superseded, {how}",
                        self.key.bare(),
                        op.line,
                        self.when(r),
                        self.ops[w].line,
                        xo.kind.name(),
                        xo.line,
                    ),
                    vec![op.line, self.ops[w].line, xo.line],
                );
            }
        }
    }

    /// The writes whose absence from read `r` some chain of possible supersession ends in
    /// a value `r` returned or in a delete: each write in a chain may have replaced the one
    /// before it (it says so, or it does not say and it completed after that one began),
    /// and every write in it began before `r` returned.
    fn explained(&self, r: usize) -> BTreeSet<usize> {
        let op = &self.ops[r];
        let returned: BTreeSet<&Value> = op.result.iter().collect();
        let began = |x: usize| op.complete.is_none_or(|c| self.ops[x].invoke < c);
        let mut inside: BTreeSet<usize> = BTreeSet::new();
        let mut queue: Vec<usize> = Vec::new();
        for &x in &self.writes {
            let xo = &self.ops[x];
            if began(x) && (xo.kind == OpKind::Delete || returned.contains(&xo.value)) {
                inside.insert(x);
                queue.push(x);
            }
        }
        // Writes that do not say what they superseded reach every write invoked before
        // the latest completion among them; `writes` is sorted by invocation.
        let mut reach = 0usize;
        let mut cursor = 0usize;
        while let Some(x) = queue.pop() {
            let xo = &self.ops[x];
            match &xo.supersedes {
                Some(list) => {
                    for v in list {
                        for &w in self.writers.get(v).into_iter().flatten() {
                            if inside.insert(w) {
                                queue.push(w);
                            }
                        }
                    }
                }
                None => {
                    reach = reach.max(xo.complete.map_or(usize::MAX, |c| c));
                    while cursor < self.writes.len() && self.ops[self.writes[cursor]].invoke < reach
                    {
                        let w = self.writes[cursor];
                        cursor += 1;
                        if inside.insert(w) {
                            queue.push(w);
                        }
                    }
                }
            }
        }
        inside
    }

    fn lost_writes(&self, r: usize, out: &mut Out) {
        let op = &self.ops[r];
        let returned: BTreeSet<&Value> = op.result.iter().collect();
        let missing: Vec<usize> = self
            .writes
            .iter()
            .copied()
            .filter(|&w| {
                let wo = &self.ops[w];
                wo.kind == OpKind::Put
                    && wo.outcome == Outcome::Ok
                    && wo.complete.is_some_and(|c| c < op.invoke)
                    && !returned.contains(&wo.value)
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        let explained = self.explained(r);
        for w in missing.into_iter().filter(|w| !explained.contains(w)) {
            let wo = &self.ops[w];
            out.push(
                "lost-write",
                self.key,
                (wo.line, String::new()),
                format!(
                    "read of {} at line {} ({}) returned {} without the acknowledged put of {} (line {}, acknowledged at line {}), and no write that may have superseded it accounts for that",
                    self.key.bare(),
                    op.line,
                    self.when(r),
                    show(&op.result),
                    wo.value,
                    wo.line,
                    wo.ret_line.unwrap_or(wo.line)
                ),
                vec![op.line, wo.line],
            );
        }
    }
}

#[cfg(test)]
mod tests;
