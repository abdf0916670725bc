//! What the lock server, the storage and the clients report, at true simulated time, and
//! the checks that judge a finished run from it. The nodes never read the observer.

use sim::audit::Violation;

#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub t: u64,
    pub client: usize,
    pub token: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub t: u64,
    pub client: usize,
    pub token: u64,
    pub value: i64,
}

#[derive(Debug, Default)]
pub struct Observer {
    pub grants: Vec<Grant>,
    /// Writes the storage accepted, in the order it accepted them.
    pub accepted: Vec<Write>,
    /// Writes whose client was told they were accepted.
    pub acked: Vec<Write>,
    /// A client found its lease valid and went on to work and write (time, client, token).
    pub checks: Vec<Grant>,
    /// Who believes it holds the lock now, per node.
    pub holding: Vec<bool>,
}

fn n(node: usize) -> String {
    format!("n{}", node + 1)
}

impl Observer {
    pub fn new(nodes: usize) -> Self {
        Observer {
            holding: vec![false; nodes],
            ..Observer::default()
        }
    }

    pub fn granted(&mut self, t: u64, client: usize, token: u64) {
        self.grants.push(Grant { t, client, token });
    }

    pub fn accepted(&mut self, t: u64, client: usize, token: u64, value: i64) {
        self.accepted.push(Write {
            t,
            client,
            token,
            value,
        });
    }

    pub fn acked(&mut self, t: u64, client: usize, token: u64, value: i64) {
        self.acked.push(Write {
            t,
            client,
            token,
            value,
        });
    }

    pub fn checked(&mut self, t: u64, client: usize, token: u64) {
        self.checks.push(Grant { t, client, token });
    }

    pub fn holding(&mut self, node: usize, holds: bool) {
        if let Some(h) = self.holding.get_mut(node) {
            *h = holds;
        }
    }

    /// The node that believes it holds the lock (the lowest, if several do).
    pub fn holder(&self) -> Option<usize> {
        self.holding.iter().position(|&h| h)
    }

    /// Every check on the run; `liveness` is (last fault, bound, end of run).
    pub fn judge(&self, liveness: Option<(u64, u64, u64)>) -> Vec<Violation> {
        let mut out = Vec::new();
        // Mutual exclusion as the storage saw it: accepted tokens never go down, so no
        // holder's write lands after a later holder's.
        let mut top: Option<Write> = None;
        for w in &self.accepted {
            match top {
                Some(p) if w.token < p.token => {
                    out.push(
                        Violation::new(
                            "mutual-exclusion",
                            format!(
                                "the storage accepted {}'s write {} with token {} after {}'s write {} with the later token {}: two holders wrote",
                                n(w.client), w.value, w.token, n(p.client), p.value, p.token
                            ),
                            None,
                        )
                        .at_time(w.t),
                    );
                    break;
                }
                _ => top = Some(*w),
            }
        }
        // Lost writes: an acknowledged write is in the storage and no older holder's
        // write replaced it afterwards.
        'acked: for a in &self.acked {
            // The last acceptance before the acknowledgement: a client that restarts
            // numbers its writes afresh, so one value can be written in two incarnations.
            let Some(i) = self
                .accepted
                .iter()
                .rposition(|w| w.value == a.value && w.client == a.client && w.t <= a.t)
            else {
                out.push(
                    Violation::new(
                        "lost-writes",
                        format!(
                            "{}'s write {} was acknowledged but the storage never accepted it",
                            n(a.client),
                            a.value
                        ),
                        None,
                    )
                    .at_time(a.t),
                );
                break;
            };
            if let Some(w) = self.accepted[i + 1..].iter().find(|w| w.token < a.token) {
                out.push(
                    Violation::new(
                        "lost-writes",
                        format!(
                            "{}'s acknowledged write {} (token {}) was overwritten by {}'s write {} under the older token {}",
                            n(a.client), a.value, a.token, n(w.client), w.value, w.token
                        ),
                        None,
                    )
                    .at_time(w.t),
                );
                break 'acked;
            }
        }
        // Grants: every grant's token is above every earlier grant's.
        for pair in self.grants.windows(2) {
            if pair[1].token <= pair[0].token {
                out.push(
                    Violation::new(
                        "fencing-tokens",
                        format!(
                            "the lock server granted token {} to {} after token {} to {}: tokens must only grow",
                            pair[1].token,
                            n(pair[1].client),
                            pair[0].token,
                            n(pair[0].client)
                        ),
                        None,
                    )
                    .at_time(pair[1].t),
                );
                break;
            }
        }
        // Lease overlap: a client that judged its lease valid after the lock server had
        // already granted the lock to someone else.
        for c in &self.checks {
            let latest = self.grants.iter().rfind(|g| g.t <= c.t);
            if let Some(g) = latest.filter(|g| g.client != c.client || g.token != c.token) {
                out.push(
                    Violation::new(
                        "lease-overlap",
                        format!(
                            "{} judged its lease (token {}) still valid after the lock had gone to {} (token {}) at {} ms",
                            n(c.client),
                            c.token,
                            n(g.client),
                            g.token,
                            g.t / 1_000_000
                        ),
                        None,
                    )
                    .at_time(c.t),
                );
                break;
            }
        }
        if let Some((from, bound, end)) = liveness {
            let until = from + bound;
            let progressed = self.accepted.iter().any(|w| w.t > from && w.t <= until);
            if end >= until && !progressed {
                out.push(
                    Violation::new(
                        "liveness",
                        format!(
                            "no write was accepted within {} ms after the last fault",
                            bound / 1_000_000
                        ),
                        None,
                    )
                    .at_time(until),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(o: &Observer) -> Vec<String> {
        o.judge(None).into_iter().map(|v| v.check).collect()
    }

    #[test]
    fn a_stale_holder_after_a_later_one_breaks_mutual_exclusion_and_loses_a_write() {
        let mut o = Observer::new(4);
        o.granted(1, 2, 1);
        o.granted(5, 3, 2);
        o.accepted(6, 3, 2, 10);
        o.acked(7, 3, 2, 10);
        o.accepted(8, 2, 1, 20);
        assert_eq!(checks(&o), ["mutual-exclusion", "lost-writes"]);
    }

    #[test]
    fn a_value_written_again_by_a_restarted_client_is_judged_by_its_own_acceptance() {
        // n3 writes 10 and 11 under token 1, crashes, restarts, numbers its writes afresh
        // and writes 10 and 11 again under token 5: nothing was lost.
        let mut o = Observer::new(4);
        o.granted(1, 2, 1);
        o.accepted(2, 2, 1, 10);
        o.acked(3, 2, 1, 10);
        o.accepted(4, 2, 1, 11);
        o.granted(10, 2, 5);
        o.accepted(11, 2, 5, 10);
        o.acked(12, 2, 5, 10);
        o.accepted(13, 2, 5, 11);
        assert!(checks(&o).is_empty(), "{:?}", checks(&o));
        // An older holder's write after the second acknowledgement still loses it.
        o.accepted(14, 3, 2, 30);
        assert_eq!(checks(&o), ["mutual-exclusion", "lost-writes"]);
    }

    #[test]
    fn reused_tokens_and_late_checks_are_caught() {
        let mut o = Observer::new(4);
        o.granted(1, 2, 1);
        o.checked(2, 2, 1);
        o.granted(5, 3, 1);
        o.checked(6, 2, 1);
        assert_eq!(checks(&o), ["fencing-tokens", "lease-overlap"]);
    }

    #[test]
    fn an_orderly_run_passes_and_silence_after_the_last_fault_does_not() {
        let mut o = Observer::new(4);
        o.granted(1, 2, 1);
        o.checked(2, 2, 1);
        o.accepted(3, 2, 1, 5);
        o.acked(4, 2, 1, 5);
        o.granted(5, 3, 2);
        o.accepted(6, 3, 2, 6);
        assert!(o.judge(Some((5, 10, 20))).is_empty());
        let v = o.judge(Some((6, 10, 20)));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].check, "liveness");
    }
}
