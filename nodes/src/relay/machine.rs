//! The relay node as a pure state machine: inputs in, messages to send out.

use sim::Message;

/// What relay nodes exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayMsg {
    /// A message started by `origin` with sequence `seq`, to be passed on `hops` more times.
    Relay { origin: usize, seq: u64, hops: u32 },
    /// Acknowledges receipt of `(origin, seq)`.
    Ack { origin: usize, seq: u64 },
}

impl Message for RelayMsg {
    fn name(&self) -> &'static str {
        match self {
            RelayMsg::Relay { .. } => "Relay",
            RelayMsg::Ack { .. } => "Ack",
        }
    }
}

/// One relay node's volatile state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayMachine {
    id: usize,
    n: usize,
    hops: u32,
    next_peer: usize,
    pub seq: u64,
    pub acked: u64,
    pub forwarded: u64,
}

impl RelayMachine {
    pub fn new(id: usize, n: usize, hops: u32) -> Self {
        assert!(n >= 2, "a relay needs at least one peer");
        assert!(id < n);
        RelayMachine {
            id,
            n,
            hops,
            next_peer: (id + 1) % n,
            seq: 0,
            acked: 0,
            forwarded: 0,
        }
    }

    fn take_peer(&mut self) -> usize {
        let p = self.next_peer;
        self.next_peer = (self.next_peer + 1) % self.n;
        if self.next_peer == self.id {
            self.next_peer = (self.next_peer + 1) % self.n;
        }
        debug_assert_ne!(p, self.id, "a node never relays to itself");
        p
    }

    /// A tick of the node's clock: start a new relay.
    pub fn on_tick(&mut self) -> Vec<(usize, RelayMsg)> {
        self.seq += 1;
        let to = self.take_peer();
        vec![(
            to,
            RelayMsg::Relay {
                origin: self.id,
                seq: self.seq,
                hops: self.hops,
            },
        )]
    }

    /// A message from `from`.
    pub fn on_message(&mut self, from: usize, msg: &RelayMsg) -> Vec<(usize, RelayMsg)> {
        match *msg {
            RelayMsg::Relay { origin, seq, hops } => {
                let mut out = vec![(from, RelayMsg::Ack { origin, seq })];
                if hops > 0 {
                    self.forwarded += 1;
                    let to = self.take_peer();
                    out.push((
                        to,
                        RelayMsg::Relay {
                            origin,
                            seq,
                            hops: hops - 1,
                        },
                    ));
                }
                out
            }
            RelayMsg::Ack { .. } => {
                self.acked += 1;
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_visit_every_peer_round_robin() {
        let mut m = RelayMachine::new(1, 4, 0);
        let peers: Vec<usize> = (0..6).map(|_| m.on_tick()[0].0).collect();
        assert_eq!(peers, vec![2, 3, 0, 2, 3, 0]);
        assert_eq!(m.seq, 6);
    }

    #[test]
    fn relay_is_acked_and_forwarded_while_hops_remain() {
        let mut m = RelayMachine::new(0, 3, 1);
        let out = m.on_message(
            2,
            &RelayMsg::Relay {
                origin: 2,
                seq: 5,
                hops: 1,
            },
        );
        assert_eq!(
            out,
            vec![
                (2, RelayMsg::Ack { origin: 2, seq: 5 }),
                (
                    1,
                    RelayMsg::Relay {
                        origin: 2,
                        seq: 5,
                        hops: 0
                    }
                )
            ]
        );
        let out = m.on_message(
            1,
            &RelayMsg::Relay {
                origin: 2,
                seq: 5,
                hops: 0,
            },
        );
        assert_eq!(out, vec![(1, RelayMsg::Ack { origin: 2, seq: 5 })]);
        assert_eq!(m.forwarded, 1);
        m.on_message(1, &RelayMsg::Ack { origin: 0, seq: 1 });
        assert_eq!(m.acked, 1);
    }
}
