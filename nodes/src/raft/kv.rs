//! The replicated key-value state machine, with client sessions so that a retried
//! request is applied once and answered from the session afterwards.
//!
//! Sessions remember each client's last applied sequence number and its result; clients
//! issue one request at a time, so that is enough. Sessions never expire here.

use std::collections::BTreeMap;

use super::msg::{Command, Key, KvOp, KvResult, KvValue};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kv {
    data: BTreeMap<Key, KvValue>,
    sessions: BTreeMap<u64, (u64, KvResult)>,
    dedup: bool,
}

impl Kv {
    /// `dedup: false` is the `no-dedup` bug.
    pub fn new(dedup: bool) -> Self {
        Kv {
            dedup,
            ..Kv::default()
        }
    }

    pub fn read(&self, key: &str) -> KvResult {
        KvResult::Value(self.data.get(key).cloned())
    }

    /// The cached result of a client's request, if it was already applied.
    pub fn session_result(&self, client: u64, seq: u64) -> Option<&KvResult> {
        match self.sessions.get(&client) {
            Some((last, result)) if *last == seq && self.dedup => Some(result),
            _ => None,
        }
    }

    /// The (client, seq) of a command that [`Kv::apply`] would execute rather than answer
    /// from the session: what the checks count to see a request applied twice.
    pub fn executes(&self, command: &Command) -> Option<(u64, u64)> {
        let Command::Kv { client, seq, .. } = command else {
            return None;
        };
        match self.sessions.get(client) {
            Some((last, _)) if self.dedup && *seq <= *last => None,
            _ => Some((*client, *seq)),
        }
    }

    /// Applies a committed command; returns its result.
    pub fn apply(&mut self, command: &Command) -> Option<KvResult> {
        let Command::Kv { client, seq, op } = command else {
            return None;
        };
        if self.dedup {
            if let Some((last, result)) = self.sessions.get(client) {
                if *seq <= *last {
                    return Some(result.clone());
                }
            }
        }
        let result = match op {
            KvOp::Get { key } => self.read(key),
            KvOp::Put { key, value } => {
                self.data.insert(key.clone(), KvValue::Int(*value));
                KvResult::Written
            }
            KvOp::Append { key, value } => match self.data.get_mut(key) {
                None => {
                    self.data.insert(key.clone(), KvValue::List(vec![*value]));
                    KvResult::Written
                }
                Some(KvValue::List(l)) => {
                    l.push(*value);
                    KvResult::Written
                }
                Some(KvValue::Int(_)) => KvResult::Invalid,
            },
            KvOp::Cas { key, expect, new } => {
                let current = match self.data.get(key) {
                    None => Some(None),
                    Some(KvValue::Int(v)) => Some(Some(*v)),
                    Some(KvValue::List(_)) => None,
                };
                if current == Some(*expect) {
                    self.data.insert(key.clone(), KvValue::Int(*new));
                    KvResult::Cas(true)
                } else {
                    KvResult::Cas(false)
                }
            }
        };
        self.sessions.insert(*client, (*seq, result.clone()));
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: u64, seq: u64, op: KvOp) -> Command {
        Command::Kv { client, seq, op }
    }

    #[test]
    fn sessions_apply_a_retried_append_once() {
        let mut kv = Kv::new(true);
        let append = cmd(
            1,
            1,
            KvOp::Append {
                key: "l".into(),
                value: 5,
            },
        );
        assert_eq!(kv.executes(&append), Some((1, 1)));
        kv.apply(&append);
        assert_eq!(kv.executes(&append), None);
        kv.apply(&append);
        assert_eq!(kv.read("l"), KvResult::Value(Some(KvValue::List(vec![5]))));
        assert_eq!(kv.session_result(1, 1), Some(&KvResult::Written));
        // Without dedup the retry lands twice: the no-dedup bug.
        let mut buggy = Kv::new(false);
        buggy.apply(&append);
        assert_eq!(buggy.executes(&append), Some((1, 1)));
        buggy.apply(&append);
        assert_eq!(
            buggy.read("l"),
            KvResult::Value(Some(KvValue::List(vec![5, 5])))
        );
    }

    #[test]
    fn cas_compares_and_sets() {
        let mut kv = Kv::new(true);
        let cas = |seq, expect, new| {
            cmd(
                2,
                seq,
                KvOp::Cas {
                    key: "x".into(),
                    expect,
                    new,
                },
            )
        };
        assert_eq!(kv.apply(&cas(1, Some(1), 2)), Some(KvResult::Cas(false)));
        assert_eq!(kv.apply(&cas(2, None, 3)), Some(KvResult::Cas(true)));
        assert_eq!(kv.apply(&cas(3, Some(3), 4)), Some(KvResult::Cas(true)));
        assert_eq!(kv.read("x"), KvResult::Value(Some(KvValue::Int(4))));
        assert_eq!(kv.apply(&Command::Noop), None);
    }
}
