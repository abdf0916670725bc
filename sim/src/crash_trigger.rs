//! Crash triggers: crash a node, or a set of nodes (a power loss), at a moment defined by
//! what a node does rather than by the clock. Faults scheduled at round instants almost
//! never land between a write and its fsync; these land exactly in the windows where
//! durability bugs live:
//!
//! - after the Nth fsync (file or directory) or the Nth message send, counted from when
//!   the trigger was armed (crash points, like crash-after-disk-ops);
//! - right after a rename, before a directory sync can make it durable;
//! - right after a write (or length change, create, rename, remove) that leaves the disk
//!   with unsynced data;
//! - right after a send made while the disk holds unsynced data: whatever the message
//!   promised may rest on data the crash now loses.
//!
//! A trigger watches one or more nodes; the first of them to do the thing fires it, the
//! trigger crashes its victims and is gone. A trigger that never fires does nothing.
//! This module is pure bookkeeping; the world applies it (`world`, `disk::api`).

use serde::{Deserialize, Serialize};

/// When a trigger fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrashWhen {
    /// After this many more completed fsyncs (file or directory) of the watched node.
    Syncs(u64),
    /// After this many more messages the watched node sends.
    Sends(u64),
    /// Right after the watched node's next rename.
    Rename,
    /// Right after the Nth mutating disk operation (from arming) that leaves the watched
    /// node's disk unsynced.
    UnsyncedWrite(u64),
    /// Right after the Nth send (from arming) made while the watched node's disk holds
    /// unsynced data.
    UnsyncedSend(u64),
}

impl CrashWhen {
    pub fn name(&self) -> &'static str {
        match self {
            CrashWhen::Syncs(_) => "syncs",
            CrashWhen::Sends(_) => "sends",
            CrashWhen::Rename => "rename",
            CrashWhen::UnsyncedWrite(_) => "unsynced-write",
            CrashWhen::UnsyncedSend(_) => "unsynced-send",
        }
    }
}

/// What a node just did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// A write, length change, create or remove.
    Mutate,
    Rename,
    Sync,
    Send,
}

#[derive(Debug, Clone)]
struct Armed {
    id: u64,
    when: CrashWhen,
    watched: Vec<usize>,
    /// For counted triggers: the count each watched node must reach (for the unsynced
    /// ones, how many qualifying acts are still to come).
    targets: Vec<u64>,
    victims: Vec<usize>,
}

/// Every armed trigger and the per-node counts they need.
#[derive(Debug, Clone, Default)]
pub struct CrashTriggers {
    armed: Vec<Armed>,
    next_id: u64,
    syncs: Vec<u64>,
    sends: Vec<u64>,
}

/// A trigger that fired: what it was and whom to crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub what: &'static str,
    pub victims: Vec<usize>,
}

impl CrashTriggers {
    pub fn new(nodes: usize) -> Self {
        CrashTriggers {
            armed: Vec::new(),
            next_id: 0,
            syncs: vec![0; nodes],
            sends: vec![0; nodes],
        }
    }

    /// Arms a trigger on `watched`; when it fires it crashes `victims`, or the node that
    /// fired it when `victims` is empty. Returns its id, for [`CrashTriggers::disarm`].
    pub fn arm(&mut self, when: CrashWhen, watched: Vec<usize>, victims: Vec<usize>) -> u64 {
        let targets = watched
            .iter()
            .map(|&n| match when {
                CrashWhen::Syncs(k) => self.syncs[n] + k.max(1),
                CrashWhen::Sends(k) => self.sends[n] + k.max(1),
                CrashWhen::UnsyncedWrite(k) | CrashWhen::UnsyncedSend(k) => k.max(1),
                CrashWhen::Rename => 0,
            })
            .collect();
        self.next_id += 1;
        self.armed.push(Armed {
            id: self.next_id,
            when,
            watched,
            targets,
            victims,
        });
        self.next_id
    }

    /// Removes trigger `id` if it has not fired.
    pub fn disarm(&mut self, id: u64) {
        self.armed.retain(|a| a.id != id);
    }

    /// Whether any trigger watches `node` (so callers can skip costly state queries).
    pub fn watches(&self, node: usize) -> bool {
        self.armed.iter().any(|a| a.watched.contains(&node))
    }

    /// `node` did `act`; `unsynced` says whether its disk now holds unsynced data. Returns
    /// the first trigger this fires (removing it).
    pub fn observe(&mut self, node: usize, act: Act, unsynced: impl Fn() -> bool) -> Option<Fired> {
        match act {
            Act::Sync => self.syncs[node] += 1,
            Act::Send => self.sends[node] += 1,
            Act::Mutate | Act::Rename => {}
        }
        let (syncs, sends) = (self.syncs[node], self.sends[node]);
        let mut unsynced_now = None;
        let mut unsynced = || *unsynced_now.get_or_insert_with(&unsynced);
        let mut hit = None;
        for (i, a) in self.armed.iter_mut().enumerate() {
            let Some(slot) = a.watched.iter().position(|&w| w == node) else {
                continue;
            };
            let fires = match (a.when, act) {
                (CrashWhen::Syncs(_), Act::Sync) => syncs >= a.targets[slot],
                (CrashWhen::Sends(_), Act::Send) => sends >= a.targets[slot],
                (CrashWhen::Rename, Act::Rename) => true,
                (CrashWhen::UnsyncedWrite(_), Act::Mutate | Act::Rename)
                | (CrashWhen::UnsyncedSend(_), Act::Send) => {
                    unsynced() && {
                        a.targets[slot] -= 1;
                        a.targets[slot] == 0
                    }
                }
                _ => false,
            };
            if fires {
                hit = Some(i);
                break;
            }
        }
        let hit = hit?;
        let a = self.armed.remove(hit);
        let victims = if a.victims.is_empty() {
            vec![node]
        } else {
            a.victims
        };
        Some(Fired {
            what: a.when.name(),
            victims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_triggers_fire_at_the_nth_act_from_arming() {
        let mut t = CrashTriggers::new(2);
        t.observe(0, Act::Sync, || false);
        t.arm(CrashWhen::Syncs(2), vec![0], vec![]);
        assert_eq!(t.observe(0, Act::Sync, || false), None);
        assert_eq!(
            t.observe(1, Act::Sync, || false),
            None,
            "another node's sync"
        );
        assert_eq!(t.observe(0, Act::Send, || false), None, "a send is no sync");
        let fired = t.observe(0, Act::Sync, || false).unwrap();
        assert_eq!(fired.victims, vec![0]);
        assert_eq!(t.observe(0, Act::Sync, || false), None, "one shot");
    }

    #[test]
    fn the_nth_unsynced_act_fires() {
        let mut t = CrashTriggers::new(1);
        t.arm(CrashWhen::UnsyncedWrite(3), vec![0], vec![]);
        assert_eq!(t.observe(0, Act::Mutate, || true), None);
        assert_eq!(
            t.observe(0, Act::Mutate, || false),
            None,
            "synced: no count"
        );
        assert_eq!(t.observe(0, Act::Mutate, || true), None);
        assert!(t.observe(0, Act::Mutate, || true).is_some());
    }

    #[test]
    fn unsynced_triggers_need_unsynced_data_and_the_first_watched_node_fires() {
        let mut t = CrashTriggers::new(3);
        t.arm(CrashWhen::UnsyncedSend(1), vec![0, 1, 2], vec![0, 1, 2]);
        assert_eq!(t.observe(1, Act::Send, || false), None);
        assert_eq!(t.observe(1, Act::Mutate, || true), None, "not a send");
        let fired = t.observe(2, Act::Send, || true).unwrap();
        assert_eq!(fired.what, "unsynced-send");
        assert_eq!(fired.victims, vec![0, 1, 2], "a power loss");
        assert!(!t.watches(0));
        let id = t.arm(CrashWhen::Rename, vec![1], vec![]);
        t.disarm(id);
        assert_eq!(t.observe(1, Act::Rename, || false), None, "disarmed");
        t.arm(CrashWhen::Rename, vec![1], vec![]);
        assert_eq!(t.observe(1, Act::Mutate, || true), None);
        assert_eq!(t.observe(1, Act::Rename, || false).unwrap().what, "rename");
    }
}
