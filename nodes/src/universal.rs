//! Checks every system gets, whatever its protocol:
//!
//! - `client-progress`: once the last fault is over, every client gets an answer the system
//!   decided (an `ok`, or a `fail` the system chose, like a CAS refused on its compare)
//!   within a bound (a system that is safe but stuck, or that starves one client, fails
//!   it). Which completions count is the caller's: a system whose `fail` means "not now"
//!   passes only its `ok`s;
//! - `client-service`: while every server is up and no link is cut (a healthy stretch),
//!   a client that asks gets an answer within a span the system names (for systems that
//!   promise to answer whenever nothing is wrong; a system that stops answering clients
//!   altogether fails it even when faults follow each other too closely for
//!   `client-progress` to be judged);
//! - `refused-start`: a server that refuses to start on its disk is a violation unless a
//!   fault that damages data (a lying or failing fsync, a misdirected write, corruption, a
//!   latent sector error, ENOSPC) reached that disk first. Losing or tearing unsynced
//!   writes in a crash is what every crash does, so it excuses nothing.
//!
//! Not judged: runs whose quiet tail is shorter than the bound (nothing can be expected of
//! them), and clients that never started (a system with no clients has nothing to show).

use sim::audit::Violation;
use sim::disk::DiskFault;
use sim::{EventKind, TraceEvent};

use crate::system::RunEnd;

/// The prefix every host's note carries when it stays down instead of starting.
pub const REFUSAL_NOTE: &str = "refusing to run: ";

/// Client progress: each of `clients` (node indices) must have an answered operation in
/// `(quiet_from, quiet_from + bound]`. `oks` lists (client node, completion time ns) of
/// every operation the system answered. Judged only when the run lasts until the deadline.
pub fn client_progress(
    clients: std::ops::Range<usize>,
    oks: impl IntoIterator<Item = (usize, u64)>,
    quiet_from: u64,
    bound: u64,
    end_ns: u64,
) -> Vec<Violation> {
    let deadline = quiet_from.saturating_add(bound);
    if end_ns < deadline || clients.is_empty() {
        return Vec::new();
    }
    let mut progressed = vec![false; clients.len()];
    for (c, t) in oks {
        if clients.contains(&c) && t > quiet_from && t <= deadline {
            progressed[c - clients.start] = true;
        }
    }
    let stuck: Vec<String> = progressed
        .iter()
        .enumerate()
        .filter(|(_, &p)| !p)
        .map(|(i, _)| sim::node_ref::name(clients.start + i))
        .collect();
    if stuck.is_empty() {
        return Vec::new();
    }
    vec![Violation::new(
        "client-progress",
        format!(
            "{} of {} clients ({}) got no answer to any operation within {} ms after the last fault at {} ms",
            stuck.len(),
            clients.len(),
            stuck.join(", "),
            bound / 1_000_000,
            quiet_from / 1_000_000
        ),
        None,
    )
    .at_time(deadline.max(1))]
}

/// The stretches `(from, to)` of a run in which every server was up and serving (not
/// crashed, paused, or staying down after refusing to start) and no link was cut, read
/// from the trace's node and network events (which lean traces keep too).
pub fn healthy_stretches(events: &[TraceEvent], servers: usize, end_ns: u64) -> Vec<(u64, u64)> {
    let mut down = vec![false; servers];
    let mut cut: std::collections::BTreeSet<(usize, usize)> = Default::default();
    let mut since = Some(0);
    let mut out = Vec::new();
    for e in events {
        let node = e.node.filter(|&n| n < servers);
        match (&e.kind, node) {
            (EventKind::Crash | EventKind::Pause, Some(n)) => down[n] = true,
            (EventKind::Note { text }, Some(n)) if text.starts_with(REFUSAL_NOTE) => down[n] = true,
            (EventKind::Restart { .. } | EventKind::Resume, Some(n)) => down[n] = false,
            (EventKind::Partition { cut: links, .. }, _) => cut.extend(links.iter().copied()),
            (EventKind::Heal, _) => cut.clear(),
            (EventKind::HealLinks { links }, _) => {
                for l in links {
                    cut.remove(l);
                }
            }
            _ => continue,
        }
        let healthy = cut.is_empty() && !down.contains(&true);
        match since {
            Some(from) if !healthy => {
                if e.time_ns > from {
                    out.push((from, e.time_ns));
                }
                since = None;
            }
            None if healthy => since = Some(e.time_ns),
            _ => {}
        }
    }
    if let Some(from) = since.filter(|&f| end_ns > f) {
        out.push((from, end_ns));
    }
    out
}

/// Client service: in each healthy stretch, each client's first operation invoked at
/// least `span` before the stretch ends is followed, within `span`, by an answer to one
/// of its operations. `invokes` and `answers` are (client node, time ns), in any order.
pub fn client_service(
    clients: std::ops::Range<usize>,
    invokes: &[(usize, u64)],
    answers: &[(usize, u64)],
    stretches: &[(u64, u64)],
    span: u64,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for &(from, to) in stretches {
        let Some(last_start) = to.checked_sub(span).filter(|&l| l >= from) else {
            continue;
        };
        for c in clients.clone() {
            let Some(asked) = invokes
                .iter()
                .filter(|&&(p, t)| p == c && t >= from && t <= last_start)
                .map(|&(_, t)| t)
                .min()
            else {
                continue;
            };
            let answered = answers
                .iter()
                .any(|&(p, t)| p == c && t > asked && t <= asked + span);
            if !answered && out.len() < 3 {
                out.push(
                    Violation::new(
                        "client-service",
                        format!(
                            "{} asked at {} ms and got no answer within {} ms, while every server was up and no link was cut ({} ms to {} ms)",
                            sim::node_ref::name(c),
                            asked / 1_000_000,
                            span / 1_000_000,
                            from / 1_000_000,
                            to / 1_000_000
                        ),
                        None,
                    )
                    .at_time((asked + span).max(1)),
                );
            }
        }
    }
    out
}

/// Whether the network still loses messages at random after the last fault: a client that does
/// not retry can then wait out timeout after timeout, so a bounded progress check would
/// judge the dice, not the system. Link settings hold for the whole run, so a lossy link
/// is lossy to the end; the trace is no witness (lean traces keep no drops).
pub fn still_lossy(end: &RunEnd<'_>) -> bool {
    end.lossy
}

/// Whether a disk fault damages or withholds data a correct node could not rebuild by
/// itself, so refusing to start after it is a defensible choice.
fn excuses_refusal(f: &DiskFault) -> bool {
    matches!(
        f,
        DiskFault::LyingFsync { .. }
            | DiskFault::FsyncFailed { .. }
            | DiskFault::Misdirected { .. }
            | DiskFault::Corruption { .. }
            | DiskFault::LatentError { .. }
            | DiskFault::NoSpace { .. }
    )
}

/// Servers that can serve at the end: up, and not staying down after refusing to start or
/// after a failed persist (such a node is up in the world's eyes, but out of the system)
/// unless a restart came since.
pub fn serving(end: &RunEnd<'_>) -> Vec<bool> {
    let mut out: Vec<bool> = (0..end.servers)
        .map(|n| end.statuses[n] == sim::Status::Up)
        .collect();
    let mut stayed = vec![false; end.servers];
    for e in end.events {
        let Some(n) = e.node.filter(|&n| n < end.servers) else {
            continue;
        };
        match &e.kind {
            EventKind::Note { text } if text.starts_with(REFUSAL_NOTE) => stayed[n] = true,
            EventKind::Restart { .. } => stayed[n] = false,
            _ => {}
        }
    }
    for (o, s) in out.iter_mut().zip(stayed) {
        *o &= !s;
    }
    out
}

/// Refused starts: a server's refusal note with no damaging fault on its disk before it.
pub fn refused_start(end: &RunEnd<'_>) -> Vec<Violation> {
    refused_start_in(end.events, end.servers)
}

/// [`refused_start`] over a trace.
pub fn refused_start_in(events: &[TraceEvent], servers: usize) -> Vec<Violation> {
    let mut damaged = vec![false; servers];
    let mut out = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::DiskFault { node, fault } if *node < servers && excuses_refusal(fault) => {
                damaged[*node] = true
            }
            EventKind::Note { text } if text.starts_with(REFUSAL_NOTE) => {
                let Some(node) = e.node.filter(|&n| n < servers && !damaged[n]) else {
                    continue;
                };
                if out.len() < 3 {
                    out.push(Violation::new(
                        "refused-start",
                        format!(
                            "{} refused to start although no fault damaged its disk: {}",
                            sim::node_ref::name(node),
                            &text[REFUSAL_NOTE.len()..]
                        ),
                        Some(e.index),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_client_without_progress_after_the_fault_is_named() {
        let oks = [(3, 900 * MS), (3, 1500 * MS), (4, 800 * MS)];
        let v = client_progress(3..5, oks, 1000 * MS, 2000 * MS, 5000 * MS);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("n5"), "{}", v[0].message);
        assert!(!v[0].message.contains("n4,"), "{}", v[0].message);
        // Both progressed: nothing to say.
        let oks = [(3, 1500 * MS), (4, 2999 * MS)];
        assert!(client_progress(3..5, oks, 1000 * MS, 2000 * MS, 5000 * MS).is_empty());
        // Too late counts as no progress; a run too short to judge is not judged.
        let oks = [(3, 1500 * MS), (4, 3001 * MS)];
        assert_eq!(
            client_progress(3..5, oks, 1000 * MS, 2000 * MS, 5000 * MS).len(),
            1
        );
        assert!(client_progress(3..5, [], 1000 * MS, 2000 * MS, 2500 * MS).is_empty());
    }

    fn ev(index: u64, node: usize, kind: EventKind) -> TraceEvent {
        TraceEvent {
            index,
            time_ns: index * MS,
            node: Some(node),
            kind,
            vc: sim::VectorClock::empty(),
        }
    }

    fn fault(node: usize, f: DiskFault) -> TraceEvent {
        TraceEvent {
            node: None,
            ..ev(0, node, EventKind::DiskFault { node, fault: f })
        }
    }

    #[test]
    fn a_refusal_needs_a_damaging_fault_on_that_disk() {
        let note = |t: &str| EventKind::Note {
            text: format!("{REFUSAL_NOTE}{t}"),
        };
        let lost = DiskFault::LostWrite {
            file: "log".into(),
            offset: 0,
            len: 10,
        };
        let flip = DiskFault::Corruption {
            file: "log".into(),
            sector: 0,
            bit: 3,
        };
        let events = vec![
            fault(0, lost),
            ev(1, 0, note("bad record")),
            fault(1, flip.clone()),
            ev(3, 1, note("bad record")),
            ev(4, 2, note("bad record")),
            fault(2, flip),
        ];
        let v = refused_start_in(&events, 3);
        let nodes: Vec<Option<u64>> = v.iter().map(|v| v.event).collect();
        // n1 only lost unsynced writes; n3's corruption came after its refusal.
        assert_eq!(nodes, vec![Some(1), Some(4)]);
        assert!(v[0].message.contains("n1"));
    }

    #[test]
    fn healthy_stretches_end_at_any_server_down_or_link_cut() {
        let net = |index: u64, kind: EventKind| TraceEvent {
            node: None,
            ..ev(index, 0, kind)
        };
        let events = vec![
            ev(10, 1, EventKind::Crash),
            ev(20, 1, EventKind::Restart { incarnation: 1 }),
            net(
                30,
                EventKind::Partition {
                    topology: "halves",
                    cut: vec![(0, 1), (1, 0)],
                },
            ),
            net(
                40,
                EventKind::HealLinks {
                    links: vec![(0, 1)],
                },
            ),
            net(
                45,
                EventKind::HealLinks {
                    links: vec![(1, 0)],
                },
            ),
            ev(50, 0, EventKind::Pause),
            ev(55, 2, EventKind::Crash),
            ev(60, 0, EventKind::Resume),
            ev(70, 2, EventKind::Restart { incarnation: 1 }),
            ev(
                80,
                1,
                EventKind::Note {
                    text: format!("{REFUSAL_NOTE}bad log"),
                },
            ),
            // A client (node 3) going down does not end a stretch.
            ev(90, 3, EventKind::Crash),
        ];
        assert_eq!(
            healthy_stretches(&events, 3, 100 * MS),
            vec![
                (0, 10 * MS),
                (20 * MS, 30 * MS),
                (45 * MS, 50 * MS),
                (70 * MS, 80 * MS)
            ]
        );
        // Healthy at the end: the stretch runs to the end.
        assert_eq!(
            healthy_stretches(&events[..2], 3, 100 * MS),
            vec![(0, 10 * MS), (20 * MS, 100 * MS)]
        );
    }

    #[test]
    fn a_client_unanswered_in_a_healthy_stretch_is_named() {
        let stretches = [(0, 1000 * MS), (2000 * MS, 2300 * MS)];
        let invokes = [(3, 100 * MS), (3, 700 * MS), (4, 200 * MS), (4, 2100 * MS)];
        // n4 is answered at 250 ms; n3 asks at 100 ms and hears nothing until 650 ms.
        let answers = [(3, 650 * MS), (4, 250 * MS)];
        let v = client_service(3..5, &invokes, &answers, &stretches, 500 * MS);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message.starts_with("n4 asked at 100 ms"),
            "{}",
            v[0].message
        );
        // Answered in time: nothing. The second stretch is shorter than the span.
        let answers = [(3, 600 * MS), (4, 250 * MS)];
        assert!(client_service(3..5, &invokes, &answers, &stretches, 500 * MS).is_empty());
        // Asking too close to the stretch's end is not judged.
        let late = [(3, 900 * MS)];
        assert!(client_service(3..4, &late, &[], &stretches, 500 * MS).is_empty());
    }
}
