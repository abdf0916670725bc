//! Membership changes for the raft-rs host: the scenario lists the changes (when, which
//! servers to add and remove as voters, joint or single-step); the leader proposes the next
//! one as a `ConfChangeV2` once its time has come, and a later leader proposes it again
//! until it is applied. A change carries its number in the entry's context, so a change
//! committed twice (proposed by two leaders) is applied once: the host rejects the second,
//! as raft-rs allows. Joint changes use `ConfChangeTransition::Implicit` (raft-rs's leader
//! proposes the leave); the host proposes the leave itself when a new leader finds the
//! configuration still joint (raft-rs leaves that to the application).
//!
//! Not modelled: learners, demotions, leadership transfer other than a removed leader
//! handing over.

use raft::eraftpb::{ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2};
use serde::{Deserialize, Serialize};
use sim::Nanos;

/// One membership change the leader is asked to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// When the leader is first asked (simulated time).
    pub at: Nanos,
    /// Servers to make voters.
    #[serde(
        default,
        serialize_with = "sim::node_ref::ser_nodes",
        deserialize_with = "sim::node_ref::nodes"
    )]
    pub add: Vec<usize>,
    /// Voters to remove.
    #[serde(
        default,
        serialize_with = "sim::node_ref::ser_nodes",
        deserialize_with = "sim::node_ref::nodes"
    )]
    pub remove: Vec<usize>,
    /// Through a joint configuration (left automatically); else a single-step change of
    /// at most one voter.
    #[serde(default)]
    pub joint: bool,
}

pub fn raft_id(node: usize) -> u64 {
    node as u64 + 1
}

/// The `ConfChangeV2` of a change.
pub fn conf_change(c: &Change) -> ConfChangeV2 {
    let mut cc = ConfChangeV2::default();
    let single = |ty, node| {
        let mut s = ConfChangeSingle::default();
        s.set_change_type(ty);
        s.node_id = raft_id(node);
        s
    };
    let mut changes: Vec<ConfChangeSingle> = c
        .add
        .iter()
        .map(|&n| single(ConfChangeType::AddNode, n))
        .collect();
    changes.extend(
        c.remove
            .iter()
            .map(|&n| single(ConfChangeType::RemoveNode, n)),
    );
    cc.set_changes(changes.into());
    cc.set_transition(if c.joint {
        ConfChangeTransition::Implicit
    } else {
        ConfChangeTransition::Auto
    });
    cc
}

/// The voters after each change, starting from `initial`; an error names the first change
/// that cannot be made (unknown server, adding a voter, removing a non-voter, more than one
/// voter in a single step, no voter left, out of time order).
pub fn voters_after(
    initial: &[usize],
    changes: &[Change],
    servers: usize,
) -> Result<Vec<usize>, String> {
    let mut voters: Vec<usize> = initial.to_vec();
    let mut last = Nanos(0);
    for (i, c) in changes.iter().enumerate() {
        let at = format!("membership[{i}]");
        if c.at < last {
            return Err(format!("{at}: changes must be in time order"));
        }
        last = c.at;
        if c.add.is_empty() && c.remove.is_empty() {
            return Err(format!("{at}: adds and removes nothing"));
        }
        if !c.joint && c.add.len() + c.remove.len() > 1 {
            return Err(format!(
                "{at}: a single-step change may change one voter; set joint = true"
            ));
        }
        for &n in c.add.iter().chain(&c.remove) {
            if n >= servers {
                return Err(format!(
                    "{at}: there is no server {}",
                    sim::node_ref::name(n)
                ));
            }
        }
        for &n in &c.add {
            if voters.contains(&n) {
                return Err(format!(
                    "{at}: {} is a voter already",
                    sim::node_ref::name(n)
                ));
            }
            voters.push(n);
        }
        for &n in &c.remove {
            let Some(p) = voters.iter().position(|&v| v == n) else {
                return Err(format!("{at}: {} is not a voter", sim::node_ref::name(n)));
            };
            voters.remove(p);
        }
        if voters.is_empty() {
            return Err(format!("{at}: leaves no voter"));
        }
        voters.sort_unstable();
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(add: &[usize], remove: &[usize], joint: bool) -> Change {
        Change {
            at: Nanos::from_secs(1),
            add: add.to_vec(),
            remove: remove.to_vec(),
            joint,
        }
    }

    #[test]
    fn voters_follow_the_changes_and_bad_changes_are_named() {
        let cs = [change(&[3], &[], false), change(&[4], &[0], true)];
        assert_eq!(voters_after(&[0, 1, 2], &cs, 5).unwrap(), vec![1, 2, 3, 4]);
        let e = voters_after(&[0, 1, 2], &[change(&[3], &[0], false)], 5).unwrap_err();
        assert!(e.contains("joint = true"), "{e}");
        let e = voters_after(&[0, 1, 2], &[change(&[1], &[], false)], 5).unwrap_err();
        assert!(e.contains("n2 is a voter already"), "{e}");
        let e = voters_after(&[0], &[change(&[], &[0], false)], 5).unwrap_err();
        assert!(e.contains("no voter"), "{e}");
        let e = voters_after(&[0], &[change(&[7], &[], false)], 5).unwrap_err();
        assert!(e.contains("no server n8"), "{e}");
    }

    #[test]
    fn a_joint_change_is_implicit_and_a_single_step_is_auto() {
        let cc = conf_change(&change(&[3], &[0], true));
        assert_eq!(cc.get_transition(), ConfChangeTransition::Implicit);
        assert_eq!(cc.get_changes().len(), 2);
        assert!(cc.enter_joint().is_some());
        let cc = conf_change(&change(&[3], &[], false));
        assert!(cc.enter_joint().is_none());
    }
}
