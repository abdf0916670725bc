//! The simulated network: directed links with latency, loss and duplication, partitions
//! as sets of cut directed links, and the queue of messages in flight.
//!
//! Model: a message is a datagram. At send time it may be lost (per the link's loss
//! probability) or duplicated (the copy takes its own latency, so it may arrive first);
//! a message sent over a cut link is dropped at once. On arrival it is dropped if the link
//! is cut by then (so in-flight messages do not cross a partition) or if the destination
//! is crashed; a paused destination holds it until it resumes. Reordering is not a knob:
//! it follows from random latency.
//!
//! Not modelled: bandwidth and congestion, message sizes, connection state (TCP resets),
//! corruption of message bytes.

pub mod latency;
pub mod topology;

use std::any::Any;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use latency::Latency;
pub use topology::{CutSet, Topology, TopologyError};

/// One direction of a link between two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    pub latency: Latency,
    /// Probability in [0, 1] that a message is lost.
    pub loss: f64,
    /// Probability in [0, 1] that a message is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::default(),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

impl LinkConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} probability {p} is not in [0, 1]"));
            }
        }
        self.latency.validate()
    }
}

/// A per-link override of the default link settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// The sending node: a name (`"n2"`) or an index, as everywhere in scenario files.
    #[serde(
        deserialize_with = "crate::node_ref::node",
        serialize_with = "crate::node_ref::ser_node"
    )]
    pub from: usize,
    #[serde(
        deserialize_with = "crate::node_ref::node",
        serialize_with = "crate::node_ref::ser_node"
    )]
    pub to: usize,
    #[serde(flatten)]
    pub link: LinkConfig,
}

/// Network settings of a run: a default for every link, plus overrides.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    pub default: LinkConfig,
    pub links: Vec<LinkOverride>,
}

impl NetConfig {
    pub fn validate(&self, n: usize) -> Result<(), String> {
        self.default.validate()?;
        for o in &self.links {
            if o.from >= n || o.to >= n {
                return Err(format!(
                    "link override ({}, {}) names a node outside 0..{n}",
                    o.from, o.to
                ));
            }
            o.link.validate()?;
        }
        Ok(())
    }
}

/// A message on its way, with the sender's vector clock at the send.
#[derive(Clone)]
pub struct Envelope {
    pub id: u64,
    pub from: usize,
    pub to: usize,
    pub what: &'static str,
    pub payload: Arc<dyn Any + Send + Sync>,
    pub vc: crate::trace::VectorClock,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{} {}->{}", self.what, self.id, self.from, self.to)
    }
}

/// Counters a run report shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    pub duplicated: u64,
    pub dropped_loss: u64,
    pub dropped_cut: u64,
    pub dropped_dead: u64,
}

struct InFlight {
    at: u64,
    seq: u64,
    env: Envelope,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    // Reversed: BinaryHeap is a max-heap and we want the earliest arrival on top.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The network's state inside a run.
pub struct Network {
    default: LinkConfig,
    overrides: BTreeMap<(usize, usize), LinkConfig>,
    cut: CutSet,
    /// How many partitions hold each cut link, so ending one partition keeps the links
    /// another still cuts.
    holds: std::collections::BTreeMap<(usize, usize), u32>,
    in_flight: BinaryHeap<InFlight>,
    next_seq: u64,
    next_msg: u64,
    pub stats: NetStats,
}

impl Network {
    pub fn new(config: &NetConfig) -> Self {
        Network {
            default: config.default,
            overrides: config
                .links
                .iter()
                .map(|o| ((o.from, o.to), o.link))
                .collect(),
            cut: CutSet::new(),
            holds: Default::default(),
            in_flight: BinaryHeap::new(),
            next_seq: 0,
            next_msg: 0,
            stats: NetStats::default(),
        }
    }

    pub fn link(&self, from: usize, to: usize) -> &LinkConfig {
        self.overrides.get(&(from, to)).unwrap_or(&self.default)
    }

    pub fn set_link(&mut self, from: usize, to: usize, link: LinkConfig) {
        self.overrides.insert((from, to), link);
    }

    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        self.cut.contains(&(from, to))
    }

    pub fn cut_links(&self) -> &CutSet {
        &self.cut
    }

    /// Adds links to the cut set (partitions compose).
    pub fn cut(&mut self, links: &CutSet) {
        for &l in links {
            *self.holds.entry(l).or_insert(0) += 1;
            self.cut.insert(l);
        }
    }

    /// Restores every link, whatever holds it.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.holds.clear();
    }

    /// Ends one partition: its links come back unless another partition still holds them.
    pub fn uncut(&mut self, links: &[(usize, usize)]) {
        for l in links {
            if let Some(n) = self.holds.get_mut(l) {
                *n -= 1;
                if *n == 0 {
                    self.holds.remove(l);
                    self.cut.remove(l);
                }
            }
        }
    }

    pub fn next_message_id(&mut self) -> u64 {
        self.next_msg += 1;
        self.next_msg
    }

    pub fn schedule(&mut self, at: u64, env: Envelope) {
        self.next_seq += 1;
        self.in_flight.push(InFlight {
            at,
            seq: self.next_seq,
            env,
        });
    }

    /// Arrival time of the earliest message in flight.
    pub fn next_arrival(&self) -> Option<u64> {
        self.in_flight.peek().map(|m| m.at)
    }

    /// Takes the earliest message if it has arrived by `now`.
    pub fn pop_arrived(&mut self, now: u64) -> Option<Envelope> {
        if self.in_flight.peek()?.at <= now {
            self.in_flight.pop().map(|m| m.env)
        } else {
            None
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
