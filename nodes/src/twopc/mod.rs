//! Two-phase commit: a coordinator (node 0) and participants (nodes `1..servers`) that own
//! the keys of a key space round-robin; clients run transactions through the coordinator.
//!
//! - `participant` and `coordinator`: the protocol as pure state machines; `storage`: their
//!   checksummed logs; `host`: the async loops on the simulator; `msg`: messages and the
//!   transaction data model.
//! - `client`: list-append, bank-transfer and bank-audit transactions recorded in the
//!   native history; `observer` and [`check_run`]: atomicity, serializability of the
//!   committed list-append history, the bank total, and how long participants stayed
//!   blocked in doubt holding locks; `liveness`: what must hold once the faults are over
//!   (locks released, nobody left in doubt, clients committing); `bugs`: the bug catalog.
//!
//! Participants lock (no-wait), execute, log the prepare durably, then vote; the
//! coordinator logs a commit durably before sending it (presumed abort: aborts are not
//! logged); an in-doubt participant asks for the outcome until it gets one. Not modelled:
//! a replicated coordinator (three-phase commit, Paxos commit), read-only optimisations,
//! log compaction, clients that resubmit transactions.

pub mod bugs;
pub mod client;
pub mod coordinator;
pub mod host;
pub mod liveness;
pub mod msg;
pub mod observer;
pub mod participant;
pub mod storage;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use checkers::serializability::{self, Workload};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sim::audit::Violation;
use sim::{EventKind, Nanos, SimHandle};

use crate::system::{RunEnd, Running, Start, System, SystemCheck};

pub use bugs::{Bug, Bugs};
pub use observer::Observer;

use coordinator::CoordinatorConfig;
use msg::{owner, Write};
use participant::ParticipantConfig;

/// The system's settings, as a scenario gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwopcSystem {
    /// Client processes, nodes `servers..servers + clients`.
    pub clients: usize,
    /// Bank accounts `a0..`, each starting at `initial_balance`.
    pub accounts: usize,
    pub initial_balance: i64,
    /// Lists `l0..` for the list-append transactions.
    pub lists: usize,
    /// The coordinator aborts a transaction whose votes are not all in by then.
    pub vote_timeout: Nanos,
    /// Prepares and decisions are resent this often until answered.
    pub resend: Nanos,
    /// An in-doubt participant asks the coordinator for the outcome this often.
    pub query_interval: Nanos,
    /// After this long in doubt the buggy participants decide alone (correct ones never do).
    pub in_doubt_timeout: Nanos,
    /// A client waits this long for an outcome, then records the transaction as unknown.
    pub client_timeout: Nanos,
    /// Pause between a client's transactions, uniform up to this.
    pub think: Nanos,
    /// No participant may stay in doubt, holding its locks, longer than this (check
    /// `blocked-time`). Off unless set: blocking is what 2PC does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_blocked: Option<Nanos>,
}

impl TwopcSystem {
    /// Settings that cannot work, each named by its key in a scenario file.
    pub fn validate(&self) -> Result<(), String> {
        use crate::validate::{at_least, positive};
        at_least(
            "accounts",
            self.accounts,
            2,
            "a transfer moves money between two accounts",
        )?;
        if self.accounts > MAX_ACCOUNTS {
            return Err(format!(
                "accounts = {} is above {MAX_ACCOUNTS}: every bank audit reads every account in one transaction, so runs slow down with the square of the accounts",
                self.accounts
            ));
        }
        at_least(
            "lists",
            self.lists,
            1,
            "list-append transactions need a list",
        )?;
        positive("vote_timeout", self.vote_timeout)?;
        positive("resend", self.resend)?;
        positive("query_interval", self.query_interval)?;
        positive("in_doubt_timeout", self.in_doubt_timeout)?;
        positive("client_timeout", self.client_timeout)
    }
}

/// More accounts than this is refused (10,000 take 25 s for a 5 s run; 1,000 under one).
pub const MAX_ACCOUNTS: usize = 1000;

impl Default for TwopcSystem {
    fn default() -> Self {
        TwopcSystem {
            clients: 3,
            accounts: 6,
            initial_balance: 100,
            lists: 6,
            vote_timeout: Nanos::from_millis(150),
            resend: Nanos::from_millis(40),
            query_interval: Nanos::from_millis(100),
            in_doubt_timeout: Nanos::from_millis(300),
            client_timeout: Nanos::from_millis(1000),
            think: Nanos::from_millis(30),
            max_blocked: None,
        }
    }
}

/// Starts the servers (nodes `0..servers`: the coordinator, then participants) and the
/// clients after them.
pub fn start(
    sim: &SimHandle,
    system: &TwopcSystem,
    servers: usize,
    bugs: &Bugs,
) -> Arc<Mutex<Observer>> {
    assert!(
        servers >= 2,
        "two-phase commit needs a coordinator and a participant"
    );
    let obs = Arc::new(Mutex::new(Observer::new(
        servers,
        system.accounts,
        system.initial_balance,
    )));
    let all_bugs = bugs.clone();
    let cconfig = CoordinatorConfig {
        vote_timeout: system.vote_timeout.0,
        resend: system.resend.0,
    };
    let pconfig = ParticipantConfig {
        initial_balance: system.initial_balance,
        query_interval: system.query_interval.0,
        in_doubt_timeout: system.in_doubt_timeout.0,
    };
    {
        let (o, b) = (obs.clone(), all_bugs.clone());
        sim.start_node(0, move |ctx| {
            host::run_coordinator(ctx, servers, cconfig, b.clone(), o.clone())
        });
    }
    for node in 1..servers {
        let (o, b) = (obs.clone(), all_bugs.clone());
        sim.start_node(node, move |ctx| {
            host::run_participant(ctx, pconfig, b.clone(), o.clone())
        });
    }
    for c in 0..system.clients {
        let (o, sys) = (obs.clone(), system.clone());
        sim.start_node(servers + c, move |ctx| {
            client::run_client(ctx, sys.clone(), o.clone())
        });
    }
    obs
}

const MS: u64 = 1_000_000;

/// The checks at the end of a run: atomicity (decisions that disagree, and yes voters
/// that forgot a committed transaction), the bank total over the final durable state
/// (in-doubt writes of committed transactions counted as applied), serializability of the
/// committed list-append history, and the blocked-time figures.
///
/// `max_blocked` is the `blocked-time` check's bound over the whole run: no yes voter may
/// stay in doubt, holding its locks, longer than this. Off when `None`: blocking during
/// faults is what 2PC does; the [`liveness`] checks' settling bound after the last fault
/// applies either way.
pub fn check_run(
    obs: &mut Observer,
    system: &TwopcSystem,
    end: &RunEnd<'_>,
    max_blocked: Option<Nanos>,
) -> SystemCheck {
    let servers = end.servers;
    // A yes voter must apply a committed transaction or still hold it in doubt.
    let forgot: Vec<(u64, usize)> = obs
        .voted_yes
        .keys()
        .copied()
        .filter(|&(txid, node)| {
            obs.coordinator_decision(txid) == Some(true)
                && obs.participant_decision(txid, node).is_none()
                && !obs.states[node].in_doubt.contains_key(&txid)
        })
        .collect();
    for (txid, node) in forgot {
        obs.violate(
            "atomicity",
            format!(
                "T{txid}: n{} voted yes and the coordinator committed, but n{} neither applied it nor remembers it",
                node + 1,
                node + 1
            ),
        );
    }
    // The bank: every account at its owner, committed in-doubt writes counted.
    let mut sum = 0i64;
    let mut shown = Vec::new();
    for i in 0..system.accounts {
        let key = format!("a{i}");
        let state = &obs.states[owner(&key, servers)];
        let mut balance = state
            .balances
            .get(&key)
            .copied()
            .unwrap_or(system.initial_balance);
        for (&txid, writes) in &state.in_doubt {
            if obs.coordinator_decision(txid) != Some(true) {
                continue;
            }
            for w in writes {
                if let Write::SetBalance { key: k, value } = w {
                    if *k == key {
                        balance = *value;
                    }
                }
            }
        }
        sum += balance;
        shown.push(format!("{key}={balance}"));
    }
    if sum != obs.total() {
        let message = format!(
            "the accounts end with a total of {sum}, not {}: {}",
            obs.total(),
            shown.join(" ")
        );
        obs.violate("bank-total", message);
    }
    let mut violations = std::mem::take(&mut obs.violations);
    // Serializability of the list-append transactions, paired straight from the encoded
    // history (the transfers and audits are never decoded).
    let mut stats = serde_json::Map::new();
    if obs.history.headers().any(|(_, f)| f == "txn") {
        let opts = serializability::Options {
            process_edges: true,
            realtime_edges: true,
        };
        match serializability::check_compact(
            &obs.history,
            "twopc client history",
            |f| f == "txn",
            Workload::ListAppend,
            &opts,
        ) {
            Err(e) => violations.push(Violation::new(
                "history",
                format!("cannot check the transaction history: {e}"),
                None,
            )),
            Ok(report) => {
                stats.insert("list_append_txns".into(), json!(report.txns));
                if let Some(a) = report.anomalies.first() {
                    violations.push(
                        Violation::new(
                            "serializability",
                            format!(
                                "{} among {}: {}",
                                a.kind,
                                a.txns.join(", "),
                                a.explanation.join(" ")
                            ),
                            None,
                        )
                        .with_ops(a.lines.iter().enumerate().map(
                            |(i, &line)| {
                                let role = if is_cycle(&a.kind) {
                                    format!("cycle {}", i + 1)
                                } else {
                                    "at-fault".to_string()
                                };
                                (line, role)
                            },
                        )),
                    );
                }
            }
        }
    }
    // Outcomes seen by clients.
    let count = |k: checkers::history::EventKind| {
        obs.history.headers().filter(|(e, _)| e.kind == k).count()
    };
    stats.insert(
        "committed".into(),
        json!(count(checkers::history::EventKind::Ok)),
    );
    stats.insert(
        "aborted".into(),
        json!(count(checkers::history::EventKind::Fail)),
    );
    stats.insert(
        "indeterminate".into(),
        json!(count(checkers::history::EventKind::Info)),
    );
    // Blocking: how long yes voters stayed in doubt holding their locks.
    let mut blocked: Vec<(usize, u64, u64)> = obs
        .blocked
        .iter()
        .map(|b| (b.node, b.from_ns, b.to_ns))
        .collect();
    let mut at_end = 0;
    for (&(txid, node), &from) in &obs.in_doubt_since {
        if obs.states[node].in_doubt.contains_key(&txid) {
            blocked.push((node, from, end.end_ns));
            at_end += 1;
        }
    }
    let outages = coordinator_outages(end);
    let lengths: Vec<u64> = blocked
        .iter()
        .map(|&(_, a, b)| b.saturating_sub(a))
        .collect();
    let during_outage: Vec<u64> = blocked
        .iter()
        .filter(|&&(_, a, b)| outages.iter().any(|&(x, y)| a < y && x < b))
        .map(|&(_, a, b)| b.saturating_sub(a))
        .collect();
    stats.insert("in_doubt_periods".into(), json!(lengths.len()));
    stats.insert(
        "blocked_max_ms".into(),
        json!(lengths.iter().max().unwrap_or(&0) / MS),
    );
    stats.insert(
        "blocked_total_ms".into(),
        json!(lengths.iter().sum::<u64>() / MS),
    );
    stats.insert(
        "blocked_over_100ms".into(),
        json!(lengths.iter().filter(|&&l| l > 100 * MS).count()),
    );
    stats.insert("in_doubt_at_end".into(), json!(at_end));
    stats.insert("coordinator_outages".into(), json!(outages.len()));
    stats.insert(
        "coordinator_down_ms".into(),
        json!(outages.iter().map(|(a, b)| b - a).sum::<u64>() / MS),
    );
    stats.insert(
        "blocked_in_outage_periods".into(),
        json!(during_outage.len()),
    );
    stats.insert(
        "blocked_in_outage_max_ms".into(),
        json!(during_outage.iter().max().unwrap_or(&0) / MS),
    );
    stats.insert(
        "blocked_in_outage_total_ms".into(),
        json!(during_outage.iter().sum::<u64>() / MS),
    );
    if let Some(bound) = max_blocked {
        let longest = blocked
            .iter()
            .copied()
            .max_by_key(|&(node, a, b)| (b.saturating_sub(a), std::cmp::Reverse((a, node))));
        if let Some((node, from, to)) =
            longest.filter(|&(_, a, b)| b.saturating_sub(a) / MS * MS > bound.0)
        {
            let down = outages.iter().any(|&(x, y)| from < y && x < to);
            let message = format!(
                "n{} stayed in doubt holding its locks for {} ms (from {} ms to {} ms{}), over the bound of {} ms{}",
                node + 1,
                (to - from) / MS,
                from / MS,
                to / MS,
                if to >= end.end_ns { ", the end of the run" } else { "" },
                bound.0 / MS,
                if down {
                    ": it voted yes, so only the coordinator, which was down, could tell it the outcome"
                } else {
                    ""
                }
            );
            violations.push(Violation::new("blocked-time", message, None).at_time(from.max(1)));
        }
    }
    violations.extend(liveness::check(
        obs,
        system.clients,
        end,
        &blocked,
        &mut stats,
    ));
    stats.insert("refused".into(), json!(obs.refused.len()));
    let mut by_node = BTreeMap::new();
    for &(node, a, b) in &blocked {
        *by_node.entry(format!("n{}", node + 1)).or_insert(0u64) += (b - a) / MS;
    }
    stats.insert("blocked_ms_by_participant".into(), json!(by_node));
    SystemCheck {
        violations,
        unknown: None,
        stats,
        history: Some(crate::system::ClientHistory::Compact(Arc::new(
            std::mem::take(&mut obs.history),
        ))),
    }
}

/// When the coordinator was down (crashed or paused), as true-time intervals.
fn coordinator_outages(end: &RunEnd<'_>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut down_since = None;
    for e in end.events.iter().filter(|e| e.node == Some(0)) {
        match e.kind {
            EventKind::Crash | EventKind::Pause => {
                down_since.get_or_insert(e.time_ns);
            }
            EventKind::Restart { .. } | EventKind::Resume => {
                if let Some(from) = down_since.take() {
                    out.push((from, e.time_ns));
                }
            }
            _ => {}
        }
    }
    if let Some(from) = down_since {
        out.push((from, end.end_ns));
    }
    out
}

/// Whether an anomaly kind is a dependency cycle (G0, G1c, G-single, G2, with suffixes).
fn is_cycle(kind: &str) -> bool {
    ["G0", "G1c", "G-single", "G2"]
        .iter()
        .any(|k| kind.starts_with(k))
}

impl TwopcSystem {
    /// Draws protocol settings for a swarm run: the coordinator's vote timeout and resend
    /// interval and how often an in-doubt participant asks. Returns what it drew.
    pub fn draw_settings(&mut self, rng: &mut impl rand::Rng) -> Vec<String> {
        self.vote_timeout = Nanos::from_millis(rng.gen_range(80..=300));
        self.resend = Nanos::from_millis(rng.gen_range(20..=80));
        self.query_interval = Nanos::from_millis(rng.gen_range(50..=200));
        vec![format!(
            "vote timeout {} ms, resend {} ms, queries every {} ms",
            self.vote_timeout.0 / 1_000_000,
            self.resend.0 / 1_000_000,
            self.query_interval.0 / 1_000_000
        )]
    }
}

/// Two-phase commit as a system under test: registered with the harness through the
/// public interface. Its "leader", for role faults, is the coordinator (n1).
pub struct Twopc;

struct TwopcRun {
    obs: Arc<Mutex<Observer>>,
    settings: TwopcSystem,
}

impl Running for TwopcRun {
    fn leader(&self, sim: &SimHandle) -> Option<usize> {
        Some(0).filter(|&c| sim.status(c) == sim::Status::Up)
    }

    fn judge(self: Box<Self>, end: &RunEnd<'_>) -> SystemCheck {
        let mut obs = self.obs.lock().unwrap_or_else(|e| e.into_inner());
        check_run(&mut obs, &self.settings, end, self.settings.max_blocked)
    }
}

impl System for Twopc {
    type Settings = TwopcSystem;
    type Bug = Bug;

    fn name(&self) -> &'static str {
        "twopc"
    }

    fn describe(&self) -> &'static str {
        "two-phase commit with durable prepares and decisions, bank and list-append clients"
    }

    fn clients(&self, s: &TwopcSystem) -> usize {
        s.clients
    }

    fn checks(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "atomicity",
                "every participant applies the coordinator's decision",
            ),
            ("bank-total", "transfers keep the bank's total"),
            (
                "serializability",
                "the committed list-append history is serializable",
            ),
            (
                "blocked-time",
                "no participant stays in doubt longer than max_blocked, nor long after the last fault",
            ),
            (
                "locks-released",
                "no lock outlives its transaction's doubt",
            ),
            (
                "client-progress",
                "after the last fault every client commits within a bound",
            ),
            (
                "commit-rate",
                "commits after the faults do not collapse",
            ),
            (
                "refused-start",
                "no server refuses to start on a disk no fault damaged",
            ),
        ]
    }

    fn has_leader(&self) -> bool {
        true
    }

    fn bound_keys(&self) -> &'static [&'static str] {
        &["max_blocked"]
    }

    fn validate(&self, s: &TwopcSystem, _servers: usize) -> Result<(), String> {
        s.validate()
    }

    fn start(&self, st: Start<'_, TwopcSystem, Bug>) -> Box<dyn Running> {
        let bugs = Bugs(st.bugs.clone());
        let obs = start(st.sim, st.settings, st.servers, &bugs);
        Box::new(TwopcRun {
            obs,
            settings: st.settings.clone(),
        })
    }

    fn fewer_clients(&self, s: &TwopcSystem) -> Option<TwopcSystem> {
        (s.clients > 1).then(|| TwopcSystem {
            clients: s.clients - 1,
            ..s.clone()
        })
    }

    fn fewer_operations(&self, s: &TwopcSystem) -> Vec<TwopcSystem> {
        let mut slower = s.clone();
        if crate::system::double_think(&mut slower.think) {
            vec![slower]
        } else {
            vec![]
        }
    }

    fn swarm_settings(
        &self,
        settings: &mut TwopcSystem,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<String> {
        settings.draw_settings(rng)
    }

    fn swarm_base(&self) -> Option<&'static str> {
        Some("twopc/partition-halves")
    }

    /// Not lying fsyncs: a participant keeps the only copy of its vote.
    fn swarm_disk(&self) -> crate::system::SwarmDisk {
        crate::system::SwarmDisk {
            lying_fsync: false,
            ..crate::system::SwarmDisk::ALL
        }
    }
}
