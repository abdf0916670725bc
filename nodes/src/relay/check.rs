//! Relay checks over a finished trace: once the last fault is over, traffic flows again on
//! every link between nodes that are up.

use sim::audit::Violation;
use sim::{EventKind, Status, TraceEvent};

/// After `quiet_from_ns` (the last fault), every ordered pair of nodes that are up at the
/// end must see at least one delivery.
pub fn check_traffic_resumes(
    events: &[TraceEvent],
    names: &[String],
    statuses: &[Status],
    quiet_from_ns: u64,
) -> Vec<Violation> {
    let n = names.len();
    let mut seen = vec![vec![false; n]; n];
    for ev in events.iter().filter(|e| e.time_ns > quiet_from_ns) {
        if let (Some(to), EventKind::Deliver { from, .. }) = (ev.node, &ev.kind) {
            seen[*from][to] = true;
        }
    }
    let mut out = Vec::new();
    for a in 0..n {
        for b in 0..n {
            let up = statuses[a] == Status::Up && statuses[b] == Status::Up;
            if a != b && up && !seen[a][b] {
                out.push(Violation::new(
                    "traffic-resumes",
                    format!(
                        "no message from {} reached {} after the last fault at {} ns",
                        names[a], names[b], quiet_from_ns
                    ),
                    None,
                ));
            }
        }
    }
    out
}
