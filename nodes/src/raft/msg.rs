//! What Raft nodes and their clients say to each other.

use std::sync::Arc;

use sim::Message;

/// A key of the store. Shared, not owned: log entries are copied into messages, the
/// disk, the observer and the applied log, and copying a key must not allocate.
pub type Key = Arc<str>;

/// A key-value operation a client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    Get {
        key: Key,
    },
    Put {
        key: Key,
        value: i64,
    },
    Append {
        key: Key,
        value: i64,
    },
    /// Set to `new` if the current value is `expect` (`None`: the key is missing).
    Cas {
        key: Key,
        expect: Option<i64>,
        new: i64,
    },
}

impl KvOp {
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key }
            | KvOp::Put { key, .. }
            | KvOp::Append { key, .. }
            | KvOp::Cas { key, .. } => key,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, KvOp::Get { .. })
    }
}

/// A value in the store: puts and cas write integers, appends build lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvValue {
    Int(i64),
    List(Vec<i64>),
}

/// What an operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvResult {
    Value(Option<KvValue>),
    Written,
    /// Whether a compare-and-set applied.
    Cas(bool),
    /// The operation does not fit the value (append to an integer, say).
    Invalid,
}

/// A log entry's command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// Appended by every new leader, so it can commit entries of earlier terms.
    Noop,
    Kv {
        client: u64,
        seq: u64,
        op: KvOp,
    },
}

/// One log entry. The command is shared: an entry is copied into every follower's log,
/// the messages that carry it and the observer's view, and an hour of simulated Raft
/// holds a few hundred thousand of them, so a copy is a pointer, not the command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub term: u64,
    pub command: Arc<Command>,
}

impl Entry {
    pub fn new(term: u64, command: Command) -> Self {
        Entry {
            term,
            command: Arc::new(command),
        }
    }
}

/// Why a client request got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Ask `hint` instead (if known).
    NotLeader { hint: Option<usize> },
}

/// Messages between Raft nodes, and between clients and nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaftMsg {
    /// RequestVote, or a PreVote when `pre` (which changes no state on the receiver).
    Vote {
        term: u64,
        last_index: u64,
        last_term: u64,
        pre: bool,
    },
    VoteReply {
        term: u64,
        granted: bool,
        pre: bool,
    },
    /// AppendEntries; `probe` numbers the leader's broadcast rounds for ReadIndex and leases.
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
        probe: u64,
    },
    /// On failure, the follower's hint for fast backtracking: the term of its conflicting
    /// entry and the first index it has of that term, or (no term) its log length + 1.
    AppendReply {
        term: u64,
        success: bool,
        match_index: u64,
        conflict_term: Option<u64>,
        conflict_index: u64,
        probe: u64,
    },
    Request {
        seq: u64,
        op: KvOp,
    },
    Reply {
        seq: u64,
        result: Result<KvResult, Refusal>,
    },
}

impl Message for RaftMsg {
    fn name(&self) -> &'static str {
        match self {
            RaftMsg::Vote { pre: true, .. } => "PreVote",
            RaftMsg::Vote { .. } => "RequestVote",
            RaftMsg::VoteReply { pre: true, .. } => "PreVoteReply",
            RaftMsg::VoteReply { .. } => "RequestVoteReply",
            RaftMsg::Append { entries, .. } if entries.is_empty() => "Heartbeat",
            RaftMsg::Append { .. } => "AppendEntries",
            RaftMsg::AppendReply { .. } => "AppendEntriesReply",
            RaftMsg::Request { .. } => "ClientRequest",
            RaftMsg::Reply { .. } => "ClientReply",
        }
    }
}
