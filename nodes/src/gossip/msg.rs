//! What gossip servers and their clients say to each other.

use sim::Message;

use super::store::{Store, Version, WriteId};

/// A member's state as SWIM knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    Alive,
    Suspect,
    Dead,
}

/// One membership fact, disseminated piggybacked on protocol messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    pub node: usize,
    pub state: MemberState,
    pub incarnation: u64,
}

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    Get {
        key: String,
    },
    Put {
        key: String,
        id: WriteId,
        value: i64,
    },
    Delete {
        key: String,
        id: WriteId,
    },
}

impl ClientOp {
    pub fn key(&self) -> &str {
        match self {
            ClientOp::Get { key } | ClientOp::Put { key, .. } | ClientOp::Delete { key, .. } => key,
        }
    }
}

/// A server's answer to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResult {
    /// The live sibling values of a key.
    Values(Vec<i64>),
    /// The write is on enough replicas. `superseded`: the live values the coordinator held
    /// for the key when it took the write, which the write replaced (its causal context, as
    /// a Dynamo-style store returns it): what lets a client-side checker know which values
    /// must not come back.
    Written { superseded: Vec<i64> },
    /// Too few replicas answered in time; the write may or may not survive. If it does, it
    /// superseded `superseded` (taken here, as for `Written`).
    Unsure { superseded: Vec<i64> },
}

#[derive(Debug, Clone)]
pub enum GossipMsg {
    Ping {
        seq: u64,
        updates: Vec<Update>,
    },
    Ack {
        seq: u64,
        updates: Vec<Update>,
    },
    /// Ask the receiver to ping `target` and forward the ack (SWIM's indirect probe).
    PingReq {
        seq: u64,
        target: usize,
        updates: Vec<Update>,
    },
    /// Anti-entropy: the full membership table and replica; `reply` asks for the
    /// receiver's in return (push-pull).
    PushPull {
        members: Vec<Update>,
        store: Store,
        reply: bool,
    },
    /// A coordinator hands a fresh write's versions to a replica before acknowledging it.
    Replicate {
        rid: u64,
        key: String,
        versions: Vec<Version>,
    },
    ReplicateAck {
        rid: u64,
    },
    Request {
        seq: u64,
        op: ClientOp,
    },
    Reply {
        seq: u64,
        result: ClientResult,
    },
}

impl Message for GossipMsg {
    fn name(&self) -> &'static str {
        match self {
            GossipMsg::Ping { .. } => "ping",
            GossipMsg::Ack { .. } => "ack",
            GossipMsg::PingReq { .. } => "ping-req",
            GossipMsg::PushPull { reply: true, .. } => "push-pull",
            GossipMsg::PushPull { reply: false, .. } => "push-pull-reply",
            GossipMsg::Replicate { .. } => "replicate",
            GossipMsg::ReplicateAck { .. } => "replicate-ack",
            GossipMsg::Request { .. } => "request",
            GossipMsg::Reply { .. } => "reply",
        }
    }
}
