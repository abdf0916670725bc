//! Two-phase commit without the simulator: the coordinator and participant state machines
//! wired together by an in-memory router, so the protocol's promises can be checked step
//! by step: commit everywhere, blocking in doubt while the coordinator is gone (locks
//! held), recovery from the coordinator's log, and presumed abort.

use std::collections::VecDeque;

use nodes::twopc::coordinator::{CRecord, Coordinator, CoordinatorConfig};
use nodes::twopc::msg::{Op, TwopcMsg, TxId};
use nodes::twopc::participant::{Participant, ParticipantConfig};
use nodes::twopc::{Bug, Bugs};

const MS: u64 = 1_000_000;
const CLIENT: usize = 9;

struct Cluster {
    coordinator: Coordinator,
    log: Vec<CRecord>,
    parts: Vec<Participant>,
    /// (from, to, message) not yet delivered.
    wire: VecDeque<(usize, usize, TwopcMsg)>,
    /// What the client heard.
    outcomes: Vec<(TxId, bool)>,
    coordinator_up: bool,
}

fn cconfig() -> CoordinatorConfig {
    CoordinatorConfig {
        vote_timeout: 150 * MS,
        resend: 40 * MS,
    }
}

impl Cluster {
    fn new() -> Cluster {
        let pconfig = ParticipantConfig {
            initial_balance: 100,
            query_interval: 100 * MS,
            in_doubt_timeout: 300 * MS,
        };
        Cluster {
            coordinator: Coordinator::recover(4, cconfig(), Bugs::none(), vec![]),
            log: vec![],
            parts: (0..3)
                .map(|_| Participant::recover(pconfig, Bugs::none(), vec![], 0))
                .collect(),
            wire: VecDeque::new(),
            outcomes: vec![],
            coordinator_up: true,
        }
    }

    fn collect(&mut self) {
        let r = self.coordinator.take_ready();
        if self.coordinator_up {
            self.log.extend(r.log);
            self.wire
                .extend(r.messages.into_iter().map(|(to, m)| (0, to, m)));
        }
        for (i, p) in self.parts.iter_mut().enumerate() {
            let r = p.take_ready();
            self.wire
                .extend(r.messages.into_iter().map(|(to, m)| (i + 1, to, m)));
        }
    }

    /// Delivers everything in flight (and what it causes) at time `now`.
    fn settle(&mut self, now: u64) {
        self.collect();
        while let Some((from, to, msg)) = self.wire.pop_front() {
            match to {
                0 if self.coordinator_up => self.coordinator.step(now, from, msg),
                0 => {}
                CLIENT => {
                    if let TwopcMsg::Outcome { txid, reads } = msg {
                        self.outcomes.push((txid, reads.is_some()));
                    }
                }
                p => self.parts[p - 1].step(now, from, msg),
            }
            self.collect();
        }
    }

    fn tick(&mut self, now: u64) {
        if self.coordinator_up {
            self.coordinator.tick(now);
        }
        for p in &mut self.parts {
            p.tick(now);
        }
        self.settle(now);
    }

    fn total(&self) -> i64 {
        (0..6)
            .map(|i| {
                let key = format!("a{i}");
                self.parts[i % 3].balance(&key)
            })
            .sum()
    }
}

fn transfer(from: usize, to: usize, amount: i64) -> Vec<Op> {
    vec![
        Op::Add {
            key: format!("a{from}"),
            delta: -amount,
        },
        Op::Add {
            key: format!("a{to}"),
            delta: amount,
        },
    ]
}

#[test]
fn a_transfer_across_participants_commits_everywhere() {
    let mut c = Cluster::new();
    c.wire.push_back((
        CLIENT,
        0,
        TwopcMsg::Begin {
            txid: 1,
            ops: transfer(0, 1, 30),
        },
    ));
    c.settle(0);
    assert_eq!(c.outcomes, vec![(1, true)]);
    assert_eq!(c.parts[0].balance("a0"), 70);
    assert_eq!(c.parts[1].balance("a1"), 130);
    assert_eq!(c.total(), 600);
    assert_eq!(c.log.len(), 1, "the commit is logged");
    assert!(c.parts.iter().all(|p| p.in_doubt().is_empty()));
}

#[test]
fn participants_block_while_the_coordinator_is_down_and_agree_when_it_returns() {
    let mut c = Cluster::new();
    c.wire.push_back((
        CLIENT,
        0,
        TwopcMsg::Begin {
            txid: 1,
            ops: transfer(0, 1, 30),
        },
    ));
    // Deliver the prepares and the votes, stopping when the coordinator has decided: it
    // crashes right after logging, before any decision message leaves.
    let mut logged = Vec::new();
    while logged.is_empty() {
        let r = c.coordinator.take_ready();
        logged = r.log;
        c.wire
            .extend(r.messages.into_iter().map(|(to, m)| (0, to, m)));
        for (i, p) in c.parts.iter_mut().enumerate() {
            let r = p.take_ready();
            c.wire
                .extend(r.messages.into_iter().map(|(to, m)| (i + 1, to, m)));
        }
        if !logged.is_empty() {
            break;
        }
        let (from, to, msg) = c.wire.pop_front().expect("the protocol makes progress");
        match to {
            0 => c.coordinator.step(0, from, msg),
            p => c.parts[p - 1].step(0, from, msg),
        }
    }
    c.log.extend(logged);
    c.coordinator_up = false;
    c.wire.clear();
    // Five seconds without a coordinator: still in doubt, locks still held.
    for t in 1..=50 {
        c.tick(t * 100 * MS);
    }
    assert_eq!(c.parts[0].in_doubt().len(), 1);
    assert_eq!(c.parts[1].in_doubt().len(), 1);
    let debit = transfer(0, 3, 1)[..1].to_vec();
    c.parts[0].step(
        0,
        0,
        TwopcMsg::Prepare {
            txid: 2,
            ops: debit,
        },
    );
    let r = c.parts[0].take_ready();
    assert!(
        matches!(r.messages[..], [(0, TwopcMsg::Vote { yes: false, .. })]),
        "a locked key refuses: {:?}",
        r.messages
    );
    // The coordinator returns from its log and answers the queries: commit.
    c.coordinator = Coordinator::recover(4, cconfig(), Bugs::none(), c.log.clone());
    c.coordinator_up = true;
    c.tick(6_000 * MS);
    c.tick(6_100 * MS);
    assert!(c.parts.iter().all(|p| p.in_doubt().is_empty()));
    assert_eq!(c.parts[0].balance("a0"), 70);
    assert_eq!(c.parts[1].balance("a1"), 130);
}

#[test]
fn a_coordinator_without_a_record_presumes_abort() {
    let mut c = Cluster::new();
    c.wire.push_back((
        CLIENT,
        0,
        TwopcMsg::Begin {
            txid: 1,
            ops: transfer(0, 1, 30),
        },
    ));
    let (from, _, begin) = c.wire.pop_front().unwrap();
    c.coordinator.step(0, from, begin);
    // Only the first prepare arrives; then the coordinator crashes with nothing logged.
    let r = c.coordinator.take_ready();
    assert!(r.log.is_empty());
    let (to, prepare) = r.messages.into_iter().next().unwrap();
    assert_eq!(to, 1);
    c.parts[0].step(0, 0, prepare);
    c.parts[0].take_ready();
    assert_eq!(c.parts[0].in_doubt().len(), 1);
    c.coordinator = Coordinator::recover(4, cconfig(), Bugs::none(), c.log.clone());
    c.tick(200 * MS);
    assert!(c.parts[0].in_doubt().is_empty());
    assert_eq!(c.parts[0].balance("a0"), 100);
    assert_eq!(c.total(), 600);
}

#[test]
fn the_bug_catalog_parses_its_own_names() {
    assert_eq!(Bug::ALL.len(), 9);
    for b in Bug::ALL {
        assert_eq!(Bug::parse(b.name()), Some(b));
        assert_eq!(b.to_string(), b.name());
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            format!("\"{}\"", b.name())
        );
        assert!(!b.describe().is_empty());
    }
    assert_eq!(Bug::parse("no-such-bug"), None);
}
