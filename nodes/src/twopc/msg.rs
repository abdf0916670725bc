//! What two-phase commit nodes and clients say to each other, and the transaction data
//! model: micro-operations over integer accounts (the bank) and append-only lists.
//!
//! Not modelled: range or predicate reads, shared (read) locks, transactions whose keys
//! are not known up front.

use serde::{Deserialize, Serialize};

/// A transaction id, unique per client invocation: `client * 1_000_000 + seq`.
pub type TxId = u64;

/// One micro-operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read a list.
    Read { key: String },
    /// Append a value (unique per key) to a list.
    Append { key: String, value: i64 },
    /// Read an account balance.
    Balance { key: String },
    /// Add to an account; the participant votes no if the balance would go negative.
    Add { key: String, delta: i64 },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Read { key }
            | Op::Append { key, .. }
            | Op::Balance { key }
            | Op::Add { key, .. } => key,
        }
    }
}

/// A write staged at prepare time and applied on commit. Balances are staged as absolute
/// values (read-modify-write under the lock), so a lock released early shows as a lost update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Write {
    SetBalance { key: String, value: i64 },
    Append { key: String, value: i64 },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::SetBalance { key, .. } | Write::Append { key, .. } => key,
        }
    }
}

/// What a read observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadValue {
    List(Vec<i64>),
    Balance(i64),
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwopcMsg {
    /// Client -> coordinator: run this transaction.
    Begin { txid: TxId, ops: Vec<Op> },
    /// Coordinator -> client: `Some(reads)` committed, `None` aborted.
    Outcome {
        txid: TxId,
        reads: Option<Vec<(String, ReadValue)>>,
    },
    /// Coordinator -> participant: lock, execute and vote on these operations.
    Prepare { txid: TxId, ops: Vec<Op> },
    /// Participant -> coordinator. A yes vote carries the reads.
    Vote {
        txid: TxId,
        yes: bool,
        reads: Vec<(String, ReadValue)>,
    },
    /// Coordinator -> participant.
    Decision { txid: TxId, commit: bool },
    /// Participant -> coordinator: the decision is durable here.
    Ack { txid: TxId },
    /// In-doubt participant -> coordinator: what happened to this transaction?
    Query { txid: TxId },
}

impl sim::Message for TwopcMsg {
    fn name(&self) -> &'static str {
        match self {
            TwopcMsg::Begin { .. } => "begin",
            TwopcMsg::Outcome { .. } => "outcome",
            TwopcMsg::Prepare { .. } => "prepare",
            TwopcMsg::Vote { .. } => "vote",
            TwopcMsg::Decision { .. } => "decision",
            TwopcMsg::Ack { .. } => "ack",
            TwopcMsg::Query { .. } => "query",
        }
    }
}

/// The participant (server node) that holds `key`: keys end in a number, spread round-robin
/// over participants `1..servers` (`a3`, `l3` and a later epoch's `e2.l3` by their 3).
pub fn owner(key: &str, servers: usize) -> usize {
    let n: usize = key
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("")
        .parse()
        .unwrap_or(0);
    1 + n % (servers - 1)
}
