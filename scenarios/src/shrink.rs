//! Shrinking a failing run to a smaller scenario that still fails the same way.
//!
//! A delta-debugging search of our own over the scenario as data, at the failing seed.
//! Each round tries, keeping a change only if the run still fails with the same violation
//! kind (the check that flagged it):
//! - shortening the run: to just after the violation when the check names its trace
//!   event, else by bisecting the duration (faults after the new end go);
//! - removing fault events: chunks of halves, quarters, ... down to single events;
//! - fusing a fault with the event that undoes it (a crash and the next restart, a pause
//!   and the next resume, a partition and the next heal) into one fault with a `for`;
//! - narrowing partitions: a topology becomes the explicit links it cut at this seed, and
//!   then fewer links (ddmin over the links), so a halves or ring partition turns into
//!   the few cut links that matter;
//! - shortening durations (`for`, clock strobes) and softening clock bumps;
//! - dropping clients, then operations (longer client think times; gossip clients stop
//!   writing earlier).
//!
//! Random streams stay independent: every fault event draws from its own stream named by
//! its time and kind (`runner::fault_stream`, which leaves out `for`), and every node and
//! client from its own, so removing one event does not reshuffle the others. Every
//! candidate is re-run, so the result always fails; it is a local minimum, not a global one.

use serde::Serialize;
use sim::{Nanos, Topology};

use crate::report::Verdict;
use crate::runner::{fault_stream, run_scenario, RunOptions};
use crate::scenario::{Fault, Scenario};

/// Size figures of a scenario's run, for the before/after summary.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Size {
    /// Entries of the fault schedule (a fault with a `for` counts once).
    pub fault_events: usize,
    /// Client operations invoked during the run.
    pub operations: usize,
    pub sim_time_ns: u64,
    pub trace_events: u64,
    pub clients: usize,
    /// Links cut by the schedule's explicit-link partitions (0 for named topologies).
    pub cut_links: usize,
}

/// What `dst shrink` found.
#[derive(Debug, Clone, Serialize)]
pub struct Shrunk {
    /// The check whose violation was preserved.
    pub check: String,
    pub before: Size,
    pub after: Size,
    pub runs: u64,
    #[serde(skip)]
    pub scenario: Scenario,
}

fn clients_of(s: &Scenario) -> usize {
    s.clients()
}

fn cut_links(s: &Scenario) -> usize {
    s.faults
        .iter()
        .map(|f| match &f.fault {
            Fault::Partition(Topology::Links { links }) => links.len(),
            _ => 0,
        })
        .sum()
}

/// One run's verdict on the check: whether it failed with it, its size, and when the
/// violation happened (if the check named a trace event).
struct Outcome {
    size: Size,
    violation_at: Option<u64>,
}

fn run_once(s: &Scenario, seed: u64, opts: &RunOptions, check: &str) -> Option<Outcome> {
    let r = run_scenario(s, seed, opts);
    let hit = r.report.verdict == Verdict::Violation
        && r.report.violations.iter().any(|v| v.check == check);
    if !hit {
        return None;
    }
    let violation_at = r
        .report
        .violations
        .iter()
        .filter(|v| v.check == check)
        .filter_map(|v| v.event)
        .filter_map(|i| r.trace.as_ref()?.event(i).map(|e| e.time_ns))
        .min();
    let operations = r.history.as_ref().map_or(0, |h| h.invocations());
    Some(Outcome {
        size: Size {
            fault_events: s.faults.len(),
            operations,
            sim_time_ns: r.report.sim_time_ns,
            trace_events: r.report.events,
            clients: clients_of(s),
            cut_links: cut_links(s),
        },
        violation_at,
    })
}

/// The search state: the smallest failing scenario so far and the run budget.
struct Search<'a> {
    seed: u64,
    opts: &'a RunOptions,
    check: String,
    best: Scenario,
    size: Size,
    violation_at: Option<u64>,
    runs: u64,
    max_runs: u64,
}

impl Search<'_> {
    fn spent(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Runs `cand`; keeps it if it still fails with the check.
    fn try_keep(&mut self, cand: Scenario) -> bool {
        self.try_keep_if(cand, |_, _| true)
    }

    /// Runs `cand`; keeps it if it still fails with the check and `smaller(old, new)`.
    fn try_keep_if(&mut self, cand: Scenario, smaller: impl Fn(&Size, &Size) -> bool) -> bool {
        if self.spent() || cand.validate().is_err() {
            return false;
        }
        self.runs += 1;
        match run_once(&cand, self.seed, self.opts, &self.check) {
            Some(o) if smaller(&self.size, &o.size) => {
                self.best = cand;
                self.size = o.size;
                self.violation_at = o.violation_at;
                true
            }
            _ => false,
        }
    }

    /// Shortens the run: to just after the violation if its time is known, else by
    /// bisecting the duration between zero and now.
    fn shorten_run(&mut self) -> bool {
        let mut improved = false;
        if let Some(t) = self.violation_at {
            let end = Nanos(whole_ms_up(t + 1_000_000));
            if end < self.best.duration {
                let cand = cut_at(&self.best, end);
                improved |= self.try_keep(cand);
            }
        }
        let (mut lo, mut hi) = (0u64, self.best.duration.0);
        while hi - lo > (hi / 16).max(50_000_000) && !self.spent() {
            let mid = whole_ms(lo + (hi - lo) / 2);
            let cand = cut_at(&self.best, Nanos(mid));
            if self.try_keep(cand) {
                hi = self.best.duration.0;
                improved = true;
            } else {
                lo = mid;
            }
        }
        improved
    }

    /// Removes fault events (ddmin): at each chunk size, largest first, tries keeping a
    /// single chunk alone, then removing each chunk.
    fn remove_events(&mut self) -> bool {
        let mut improved = false;
        let mut chunk = self.best.faults.len().div_ceil(2).max(1);
        while !self.best.faults.is_empty() && !self.spent() {
            let mut start = 0;
            let mut removed_any = false;
            while chunk < self.best.faults.len() && start < self.best.faults.len() {
                let end = (start + chunk).min(self.best.faults.len());
                let mut cand = self.best.clone();
                cand.faults = cand.faults[start..end].to_vec();
                if self.try_keep(cand) {
                    improved = true;
                    removed_any = true;
                    chunk = chunk.min(self.best.faults.len().div_ceil(2)).max(1);
                    start = 0;
                } else {
                    start += chunk;
                }
                if self.spent() {
                    return improved;
                }
            }
            start = 0;
            while start < self.best.faults.len() && !self.spent() {
                let mut cand = self.best.clone();
                let end = (start + chunk).min(cand.faults.len());
                cand.faults.drain(start..end);
                if self.try_keep(cand) {
                    removed_any = true;
                    improved = true;
                } else {
                    start += chunk;
                }
            }
            if !removed_any {
                if chunk == 1 {
                    break;
                }
                chunk = chunk.div_ceil(2);
            }
            chunk = chunk.min(self.best.faults.len().max(1));
        }
        improved
    }

    /// Fuses each fault with the later event that undoes it into one fault with a `for`.
    fn fuse(&mut self) -> bool {
        let mut improved = false;
        let mut i = 0;
        while i < self.best.faults.len() && !self.spent() {
            if let Some(j) = undoer(&self.best, i) {
                let mut cand = self.best.clone();
                cand.faults[i].lasting = Some(Nanos(cand.faults[j].at.0 - cand.faults[i].at.0));
                cand.faults.remove(j);
                improved |= self.try_keep(cand);
            }
            i += 1;
        }
        improved
    }

    /// Turns named partitions into the links they cut at this seed, then cuts fewer links.
    fn narrow_partitions(&mut self) -> bool {
        let mut improved = false;
        for i in 0..self.best.faults.len() {
            if self.spent() {
                break;
            }
            let Fault::Partition(t) = &self.best.faults[i].fault else {
                continue;
            };
            if !matches!(t, Topology::Links { .. }) {
                // Resolve the topology as the run did: same stream, same node count.
                let mut rng = sim::rng::stream(self.seed, &fault_stream(&self.best.faults, i));
                let Ok(cut) = t.resolve(self.best.nodes, &mut rng) else {
                    continue;
                };
                let mut cand = self.best.clone();
                cand.faults[i].fault = Fault::Partition(Topology::Links {
                    links: cut.into_iter().collect(),
                });
                if !self.try_keep(cand) {
                    continue;
                }
            }
            improved |= self.fewer_links(i);
        }
        improved
    }

    /// ddmin over the cut links of the explicit partition at `i` (at least one stays).
    fn fewer_links(&mut self, i: usize) -> bool {
        let links = |s: &Scenario| match &s.faults[i].fault {
            Fault::Partition(Topology::Links { links }) => links.clone(),
            _ => vec![],
        };
        let mut improved = false;
        let mut chunk = links(&self.best).len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            let mut removed_any = false;
            while start < links(&self.best).len() && links(&self.best).len() > 1 && !self.spent() {
                let mut l = links(&self.best);
                let end = (start + chunk).min(l.len());
                if end - start >= l.len() {
                    break;
                }
                l.drain(start..end);
                let mut cand = self.best.clone();
                cand.faults[i].fault = Fault::Partition(Topology::Links { links: l });
                if self.try_keep(cand) {
                    removed_any = true;
                    improved = true;
                } else {
                    start += chunk;
                }
            }
            if self.spent() || (!removed_any && chunk == 1) || links(&self.best).len() <= 1 {
                break;
            }
            if !removed_any {
                chunk = chunk.div_ceil(2);
            }
        }
        improved
    }

    /// Halves `for` durations and clock strobes, and clock bumps, while it still fails.
    fn shorten_durations(&mut self) -> bool {
        let mut improved = false;
        for i in 0..self.best.faults.len() {
            while !self.spent() {
                let mut cand = self.best.clone();
                let f = &mut cand.faults[i];
                let changed = match (&mut f.lasting, &mut f.fault) {
                    (Some(d), _) if d.0 > 1_000_000 => {
                        d.0 = whole_ms(d.0 / 2);
                        true
                    }
                    (_, Fault::ClockStrobe { duration, .. })
                    | (_, Fault::StrobeLeader { duration, .. })
                        if duration.0 > 1_000_000 =>
                    {
                        duration.0 = whole_ms(duration.0 / 2);
                        true
                    }
                    (_, Fault::ClockBump { delta_ns, .. })
                    | (_, Fault::BumpLeader { delta_ns })
                        if delta_ns.abs() > 1_000_000 =>
                    {
                        *delta_ns /= 2;
                        true
                    }
                    _ => false,
                };
                if !changed || !self.try_keep(cand) {
                    break;
                }
                improved = true;
            }
        }
        improved
    }

    /// Drops clients one at a time, then operations: longer think times (half as many
    /// operations) and, for gossip, clients that stop writing earlier.
    fn fewer_clients_and_operations(&mut self) -> bool {
        let mut improved = false;
        while clients_of(&self.best) > 1 && !self.spent() {
            let Some(fewer) = self.best.system.fewer_clients(&self.best.settings) else {
                break;
            };
            let mut cand = self.best.clone();
            cand.settings = fewer;
            if !self.try_keep(cand) {
                break;
            }
            improved = true;
        }
        // The system's ways to make fewer operations, most promising first; after one
        // works, ask again from the smaller scenario.
        'again: while !self.spent() && self.size.operations > 1 {
            for settings in self.best.system.fewer_operations(&self.best.settings) {
                if self.spent() {
                    break 'again;
                }
                let mut cand = self.best.clone();
                cand.settings = settings;
                let fewer = |old: &Size, new: &Size| new.operations < old.operations;
                if self.try_keep_if(cand, fewer) {
                    improved = true;
                    continue 'again;
                }
            }
            break;
        }
        improved
    }
}

/// The run cut at `end`: faults after it dropped, `for` durations clipped to it.
/// Rounds down to whole milliseconds (from 2 ms up), so a shrunk file reads `"148ms"`,
/// not `"148437500ns"`.
fn whole_ms(ns: u64) -> u64 {
    if ns >= 2_000_000 {
        ns / 1_000_000 * 1_000_000
    } else {
        ns
    }
}

/// Rounds up to whole milliseconds.
fn whole_ms_up(ns: u64) -> u64 {
    ns.div_ceil(1_000_000) * 1_000_000
}

fn cut_at(s: &Scenario, end: Nanos) -> Scenario {
    let mut c = s.clone();
    c.duration = end;
    c.faults.retain(|f| f.at <= end);
    for f in &mut c.faults {
        if let Some(e) = f.ends() {
            if e > end {
                f.lasting = Some(Nanos(end.0 - f.at.0));
            }
        }
        // A jittered fault must still fit before the cut.
        if let Some(j) = f.jitter {
            let room = end.0 - f.ends().unwrap_or(f.at).0;
            f.jitter = Some(Nanos(j.0.min(room)));
        }
    }
    c
}

/// The index of the first later event that undoes fault `i` (its restart, resume or
/// heal), if `i` can take a `for` and has none.
fn undoer(s: &Scenario, i: usize) -> Option<usize> {
    let f = &s.faults[i];
    if f.lasting.is_some() || !f.fault.can_last() {
        return None;
    }
    let undoes = |g: &Fault| match (&f.fault, g) {
        (Fault::Partition(_) | Fault::IsolateLeader, Fault::Heal) => true,
        (Fault::Crash { node }, Fault::Restart { node: m }) => node == m,
        (Fault::Pause { node }, Fault::Resume { node: m }) => node == m,
        (
            Fault::Pause { .. } | Fault::PauseLeader | Fault::PauseMinority | Fault::PauseMajority,
            Fault::ResumePaused,
        ) => true,
        (
            Fault::Crash { .. }
            | Fault::CrashLeader
            | Fault::CrashFollower
            | Fault::CrashAll
            | Fault::CrashRandom
            | Fault::CrashMinority
            | Fault::CrashMajority,
            Fault::RestartCrashed,
        ) => true,
        _ => false,
    };
    (i + 1..s.faults.len()).find(|&j| undoes(&s.faults[j].fault))
}

/// Shrinks `s` at `seed`, keeping a violation of `check` (by default the first check the
/// run violates); `Err` if the run does not fail (with that check) to begin with. A
/// swarm family is first drawn at the seed: it is the drawn schedule that shrinks.
pub fn shrink(
    s: &Scenario,
    seed: u64,
    opts: &RunOptions,
    max_runs: u64,
    check: Option<&str>,
) -> Result<Shrunk, String> {
    let drawn;
    let s = if crate::swarm::is_swarm(s) {
        let (mut d, _) = crate::swarm::materialize(s, seed);
        d.name = format!("{}-seed-{seed}", s.name.replace('/', "-"));
        drawn = d;
        &drawn
    } else {
        s
    };
    let first = run_scenario(s, seed, opts).report;
    if first.verdict != Verdict::Violation {
        return Err(format!(
            "{} seed {seed} does not fail ({}): nothing to shrink",
            s.name,
            first.verdict.as_str()
        ));
    }
    let check = match check {
        Some(c) if first.violations.iter().any(|v| v.check == c) => c.to_string(),
        Some(c) => {
            let got: Vec<&str> = first.violations.iter().map(|v| v.check.as_str()).collect();
            return Err(format!(
                "{} seed {seed} fails {got:?}, not {c}: nothing to shrink",
                s.name
            ));
        }
        None => first.violations[0].check.clone(),
    };
    let Some(start) = run_once(s, seed, opts, &check) else {
        return Err(format!(
            "{} seed {seed} does not fail {check} twice",
            s.name
        ));
    };
    let before = start.size;
    let mut search = Search {
        seed,
        opts,
        check,
        best: s.clone(),
        size: before,
        violation_at: start.violation_at,
        runs: 2,
        max_runs,
    };
    loop {
        let mut improved = search.shorten_run();
        improved |= search.remove_events();
        if search.fuse() {
            improved = true;
            search.remove_events();
        }
        improved |= search.narrow_partitions();
        improved |= search.shorten_durations();
        improved |= search.fewer_clients_and_operations();
        if !improved || search.spent() {
            break;
        }
    }
    let Search {
        check,
        mut best,
        size,
        runs,
        ..
    } = search;
    // The file must fail on its own: write the bugs into it.
    for (system, bug) in &opts.bugs {
        if system == best.system.name() && !best.bugs.contains(bug) {
            best.bugs.push(bug.clone());
        }
    }
    best.name = format!("{}-shrunk", s.name.trim_end_matches(".toml"));
    best.description = format!(
        "{} shrunk at seed {seed}: {} -> {} fault events, still fails {check}",
        s.name, before.fault_events, size.fault_events
    );
    Ok(Shrunk {
        check,
        before,
        after: size,
        runs,
        scenario: best,
    })
}
