//! Checks every system gets, whatever its protocol:
//!
//! - `client-progress`: once the last fault is over, every client gets an answer the system
//!   decided (an `ok`, or a `fail` the system chose, like a CAS refused on its compare)
//!   within a bound (a system that is safe but stuck, or that starves one client, fails
//!   it). Which completions count is the caller's: a system whose `fail` means "not now"
//!   passes only its `ok`s;
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
}
