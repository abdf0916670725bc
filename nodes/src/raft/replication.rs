//! Log replication: AppendEntries with fast backtracking of `next_index` (the follower
//! names its conflicting term and where that term starts), truncation of conflicting
//! suffixes, and commitment of entries only from the leader's current term (Raft
//! Figure 8); earlier entries commit with them.

use super::bugs::Bug;
use super::machine::{kth_largest, Observation, RaftMachine, Role};
use super::msg::RaftMsg;

impl RaftMachine {
    /// Sends every follower what it is missing (or a heartbeat), as one numbered round.
    pub(super) fn broadcast(&mut self, now: u64) {
        self.heartbeat_deadline = now + self.config.heartbeat.0;
        self.probe += 1;
        self.probe_sent.insert(self.probe, now);
        // Keep only rounds that could still extend a lease.
        let oldest = self.probe.saturating_sub(64);
        self.probe_sent.retain(|&p, _| p > oldest);
        let me = self.id;
        for peer in (0..self.n).filter(|&p| p != me) {
            self.send_append(peer);
        }
    }

    pub(super) fn send_append(&mut self, peer: usize) {
        let next = self.next_index[peer].clamp(1, self.last_index() + 1);
        let prev_index = next - 1;
        let end = (prev_index as usize + self.config.max_batch).min(self.log.len());
        let entries = self.log[prev_index as usize..end].to_vec();
        let msg = RaftMsg::Append {
            term: self.term,
            prev_index,
            prev_term: self.term_at(prev_index),
            entries,
            commit: self.commit,
            probe: self.probe,
        };
        self.send(peer, msg);
        if self.bugs.has(Bug::OptimisticMatchIndex) && end as u64 > self.match_index[peer] {
            self.match_index[peer] = end as u64;
            self.advance_commit();
        }
    }

    pub(super) fn on_append(&mut self, now: u64, from: usize, msg: RaftMsg) {
        let RaftMsg::Append {
            term,
            prev_index,
            prev_term,
            entries,
            commit,
            probe,
        } = msg
        else {
            unreachable!("dispatched by step")
        };
        let reply = |m: &Self,
                     success: bool,
                     match_index: u64,
                     conflict_term: Option<u64>,
                     conflict_index: u64| {
            RaftMsg::AppendReply {
                term: m.term,
                success,
                match_index,
                conflict_term,
                conflict_index,
                probe,
            }
        };
        if term < self.term {
            let r = reply(self, false, 0, None, 0);
            self.send(from, r);
            return;
        }
        // Two leaders in one term can only come from a bug; the election-safety check
        // reports it from the observations, so step down rather than stop here.
        self.become_follower(now, term, Some(from));
        self.leader_contact = Some(now);
        self.reset_election_timer(now);
        if prev_index > self.last_index() {
            let r = reply(self, false, 0, None, self.last_index() + 1);
            self.send(from, r);
            return;
        }
        if self.term_at(prev_index) != prev_term {
            let conflict = self.term_at(prev_index);
            let mut first = prev_index;
            if self.bugs.has(Bug::ConflictHintPastTerm) {
                while first < self.last_index() && self.term_at(first + 1) == conflict {
                    first += 1;
                }
                first += 1;
            } else {
                while first > 1 && self.term_at(first - 1) == conflict {
                    first -= 1;
                }
            }
            let r = reply(self, false, 0, Some(conflict), first);
            self.send(from, r);
            return;
        }
        let mut index = prev_index;
        let mut new = Vec::new();
        for entry in entries {
            index += 1;
            if index <= self.last_index() {
                if self.term_at(index) == entry.term {
                    continue;
                }
                if self.bugs.has(Bug::NoTruncateConflict) {
                    // Keeps its own entry and carries on as if the logs matched.
                    continue;
                }
                self.truncate_log(index);
            }
            new.push(entry);
        }
        self.append_entries(new);
        let match_index = index;
        // Only what this message proved we share with the leader may commit; a heartbeat
        // whose prev_index lags our commit index proves less, and changes nothing.
        let new_commit = commit.min(match_index);
        if new_commit > self.commit {
            self.set_commit(new_commit);
        }
        let r = reply(self, true, match_index, None, 0);
        self.send(from, r);
    }

    pub(super) fn on_append_reply(&mut self, now: u64, from: usize, msg: RaftMsg) {
        let RaftMsg::AppendReply {
            term,
            success,
            match_index,
            conflict_term,
            conflict_index,
            probe,
        } = msg
        else {
            unreachable!("dispatched by step")
        };
        if term > self.term {
            self.become_follower(now, term, None);
            return;
        }
        if self.role != Role::Leader || (term < self.term && !self.bugs.has(Bug::AcceptStaleReply))
        {
            return;
        }
        self.heard_since_check.insert(from);
        if probe > self.acked_probe[from] {
            self.acked_probe[from] = probe;
            self.extend_lease();
        }
        if success {
            if match_index > self.match_index[from] {
                self.match_index[from] = match_index;
            }
            self.next_index[from] = self.match_index[from] + 1;
            self.advance_commit();
            if self.next_index[from] <= self.last_index() {
                self.send_append(from);
            }
        } else if conflict_index > 0 {
            // Fast backtracking: skip the follower's whole conflicting term at once.
            let next = match conflict_term {
                Some(t) => match (1..=self.last_index())
                    .rev()
                    .find(|&i| self.term_at(i) == t)
                {
                    Some(last_of_term) => last_of_term + 1,
                    None => conflict_index,
                },
                None => conflict_index,
            };
            self.next_index[from] = next.max(1).min(self.last_index() + 1);
            self.send_append(from);
        }
        self.serve_reads();
    }

    /// A lease lasts from the send time of the newest round a majority acknowledged, for
    /// the minimum election timeout less the skew margin: until then no other node can
    /// have timed out and won an election, if clocks agree to within the margin.
    fn extend_lease(&mut self) {
        let confirmed = self.confirmed_probe();
        let Some(&sent) = self.probe_sent.get(&confirmed) else {
            return;
        };
        let margin = if self.bugs.has(Bug::LeaseWithoutSkewMargin) {
            0
        } else {
            self.config.lease_margin.0
        };
        let until = sent + self.config.election_min.0.saturating_sub(margin);
        self.lease_until = self.lease_until.max(until);
    }

    /// Commits the highest index a majority holds, if it is of the current term.
    pub(super) fn advance_commit(&mut self) {
        let last = self.last_index();
        let candidate = kth_largest(self.n, self.majority(), |p| {
            if p == self.id {
                last
            } else {
                self.match_index[p]
            }
        });
        if candidate > self.commit
            && (self.term_at(candidate) == self.term || self.bugs.has(Bug::CommitPreviousTerm))
        {
            self.set_commit(candidate);
        }
    }

    pub(super) fn set_commit(&mut self, index: u64) {
        assert!(index >= self.commit, "the commit index never decreases");
        assert!(index <= self.last_index(), "cannot commit past the log");
        if index == self.commit {
            return;
        }
        self.commit = index;
        let term = self.term;
        self.ready
            .observations
            .push(Observation::Committed { index, term });
        self.fix_read_indices();
        self.apply_committed();
    }
}
