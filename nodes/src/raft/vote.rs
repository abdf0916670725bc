//! Leader election: randomized timeouts, PreVote (optional), RequestVote with the
//! up-to-date log check, and CheckQuorum's stickiness (optional): a node that heard from a
//! live leader within the minimum election timeout ignores vote requests.

use std::collections::BTreeSet;

use super::bugs::Bug;
use super::machine::{LogPos, Observation, RaftMachine, Role};
use super::msg::{Command, Entry, RaftMsg};

impl RaftMachine {
    /// Whether a candidate whose log ends at (`last_term`, `last_index`) is at least as up
    /// to date as this node's log (Raft section 5.4.1), or as the log it had before its
    /// disk damaged it (the vote floor): a voter that forgot entries it acknowledged must
    /// still refuse candidates that lack them (Protocol-Aware Recovery, FAST'18).
    pub(super) fn log_ok(&self, last_term: u64, last_index: u64) -> bool {
        if self.bugs.has(Bug::VoteWithoutLogCheck) {
            return true;
        }
        let candidate = LogPos {
            term: last_term,
            index: last_index,
        };
        candidate >= self.last_pos().max(self.vote_floor)
    }

    fn in_leader_lease(&self, now: u64) -> bool {
        self.config.check_quorum
            && self
                .leader_contact
                .is_some_and(|t| now < t + self.config.election_min.0)
    }

    pub(super) fn start_election(&mut self, now: u64) {
        self.reset_election_timer(now);
        if self.behind_vote_floor() {
            // Its own vote would not pass its own floor: wait for a leader to repair it.
            return;
        }
        if self.n == 1 {
            self.term += 1;
            self.vote = Some(self.id);
            self.persist_hard_state();
            self.become_leader(now);
            return;
        }
        self.votes = BTreeSet::from([self.id]);
        self.leader = None;
        if self.config.pre_vote {
            self.role = Role::PreCandidate;
        } else {
            self.role = Role::Candidate;
            self.term += 1;
            self.vote = Some(self.id);
            self.persist_hard_state();
        }
        self.request_votes(now);
    }

    /// Sends (or resends, to peers that have not granted) the current vote request.
    /// Unanswered RPCs are retried, as the Raft paper asks: a lost request must not cost
    /// a whole election.
    pub(super) fn request_votes(&mut self, now: u64) {
        let pre = self.role == Role::PreCandidate;
        let term = if pre { self.term + 1 } else { self.term };
        let (last_index, last_term) = (self.last_index(), self.term_at(self.last_index()));
        for peer in self.peers() {
            if !self.votes.contains(&peer) {
                let msg = RaftMsg::Vote {
                    term,
                    last_index,
                    last_term,
                    pre,
                };
                self.send(peer, msg);
            }
        }
        self.heartbeat_deadline = now + self.config.heartbeat.0;
    }

    pub(super) fn on_vote_request(&mut self, now: u64, from: usize, msg: RaftMsg) {
        let RaftMsg::Vote {
            term,
            last_index,
            last_term,
            pre,
        } = msg
        else {
            unreachable!("dispatched by step")
        };
        if self.in_leader_lease(now) && self.leader != Some(from) {
            // A live leader exists: a disruptive candidate gets no answer at all.
            return;
        }
        if pre {
            let granted = term > self.term && self.log_ok(last_term, last_index);
            self.send(
                from,
                RaftMsg::VoteReply {
                    term,
                    granted,
                    pre: true,
                },
            );
            return;
        }
        if term > self.term {
            self.become_follower(now, term, None);
        }
        let free = self.vote.is_none() || self.vote == Some(from);
        let granted = term == self.term && free && self.log_ok(last_term, last_index);
        if granted {
            self.vote = Some(from);
            self.persist_hard_state();
            self.reset_election_timer(now);
        }
        self.send(
            from,
            RaftMsg::VoteReply {
                term: self.term,
                granted,
                pre: false,
            },
        );
    }

    pub(super) fn on_vote_reply(&mut self, now: u64, from: usize, msg: RaftMsg) {
        let RaftMsg::VoteReply { term, granted, pre } = msg else {
            unreachable!("dispatched by step")
        };
        if !pre && term > self.term {
            self.become_follower(now, term, None);
            return;
        }
        let counts = match (self.role, pre) {
            (Role::PreCandidate, true) => term == self.term + 1,
            (Role::Candidate, false) => {
                term == self.term || (self.bugs.has(Bug::AcceptStaleReply) && term < self.term)
            }
            _ => false,
        };
        if !counts || !granted {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() < self.majority() {
            return;
        }
        if self.role == Role::PreCandidate {
            // The pre-vote says we could win: run the real election.
            self.role = Role::Candidate;
            self.term += 1;
            self.vote = Some(self.id);
            self.persist_hard_state();
            self.votes = BTreeSet::from([self.id]);
            self.request_votes(now);
        } else {
            self.become_leader(now);
        }
    }

    pub(super) fn become_leader(&mut self, now: u64) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.ready
            .observations
            .push(Observation::BecameLeader { term: self.term });
        let next = self.last_index() + 1;
        self.next_index = vec![next; self.n];
        self.match_index = vec![0; self.n];
        self.acked_probe = vec![0; self.n];
        self.probe_sent.clear();
        self.lease_until = 0;
        self.heard_since_check.clear();
        self.quorum_check_deadline = now + self.config.election_min.0;
        // A no-op of the new term lets the leader commit (and so learn) everything that
        // earlier leaders committed. A leader that commits old entries by counting
        // replicas (the bug) believes it needs none.
        if !self.bugs.has(Bug::CommitPreviousTerm) {
            self.append_entries(vec![Entry::new(self.term, Command::Noop)]);
        }
        self.match_index[self.id] = self.last_index();
        if self.n == 1 {
            self.advance_commit();
        }
        self.broadcast(now);
    }

    /// CheckQuorum: a leader that has not heard from a majority for a whole minimum
    /// election timeout steps down, so a partitioned leader stops serving.
    pub(super) fn check_quorum(&mut self, now: u64) {
        self.quorum_check_deadline = now + self.config.election_min.0;
        let heard = std::mem::take(&mut self.heard_since_check).len() + 1;
        if self.config.check_quorum && heard < self.majority() {
            let term = self.term;
            self.become_follower(now, term, None);
        }
    }
}
