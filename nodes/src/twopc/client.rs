//! Clients: their own simulated processes, each running one transaction at a time through
//! the coordinator and recording it in the history. Three kinds: list-append transactions
//! over a few lists (for the serializability checker, `f = "txn"`), bank transfers between
//! two accounts (`f = "transfer"`), and committed reads of every account (`f = "audit"`),
//! whose sum must be the bank total. A commit is `ok`, an abort `fail`, and no answer
//! within the timeout `info`: the transaction may still commit. A client never resubmits
//! a transaction, so appended values stay unique.

use std::sync::{Arc, Mutex};

use checkers::history::EventKind as HistKind;
use checkers::Value;
use rand::seq::SliceRandom;
use rand::Rng;
use sim::{Nanos, NodeCtx};

use super::msg::{Op, ReadValue, TwopcMsg};
use super::observer::Observer;
use super::participant::COORDINATOR;
use super::TwopcSystem;

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

/// The micro-ops of a transaction as the history shows them, with what reads observed.
fn mops(ops: &[Op], reads: Option<&[(String, ReadValue)]>) -> Value {
    let read = |key: &str| -> Value {
        match reads.and_then(|r| r.iter().find(|(k, _)| k == key)) {
            Some((_, ReadValue::List(l))) => {
                Value::List(l.iter().map(|&v| Value::Int(v)).collect())
            }
            Some((_, ReadValue::Balance(b))) => Value::Int(*b),
            None => Value::Nil,
        }
    };
    Value::List(
        ops.iter()
            .map(|op| match op {
                Op::Read { key } => Value::List(vec![s("r"), s(key), read(key)]),
                Op::Balance { key } => Value::List(vec![s("r"), s(key), read(key)]),
                Op::Append { key, value } => {
                    Value::List(vec![s("append"), s(key), Value::Int(*value)])
                }
                Op::Add { key, delta } => Value::List(vec![s("add"), s(key), Value::Int(*delta)]),
            })
            .collect(),
    )
}

/// Lists are retired after this much simulated time and fresh ones take their place (as
/// Elle's list-append workload bounds writes per key): reads return whole lists, so lists
/// that grew for the whole run would make the history, and the memory and time to check
/// it, grow with the square of the run's length. No built-in scenario runs this long.
pub const LIST_EPOCH_NS: u64 = 10_000_000_000;

/// The name of list `l` during the epoch of simulated time `now_ns`: `l0` in the first,
/// `e1.l0` in the second, ...
pub fn list_key(l: &str, now_ns: u64) -> String {
    match now_ns / LIST_EPOCH_NS {
        0 => l.to_string(),
        epoch => format!("e{epoch}.{l}"),
    }
}

/// Runs one client forever (the scenario's end stops it).
pub async fn run_client(ctx: NodeCtx, system: TwopcSystem, obs: Arc<Mutex<Observer>>) {
    let mut rng = ctx.rng();
    let me = ctx.id();
    let mut seq = 0u64;
    let accounts: Vec<String> = (0..system.accounts).map(|i| format!("a{i}")).collect();
    let lists: Vec<String> = (0..system.lists).map(|i| format!("l{i}")).collect();
    loop {
        if system.think.0 > 0 {
            let pause = rng.gen_range(0..=system.think.0);
            ctx.sleep(Nanos(pause)).await;
        }
        seq += 1;
        let txid = me as u64 * 1_000_000 + seq;
        let roll = rng.gen_range(0..100);
        let (f, ops) = if roll < 45 {
            let n = rng.gen_range(1..=3);
            let keys: Vec<&String> = lists.choose_multiple(&mut rng, n).collect();
            let now = ctx.world().now_ns();
            let ops = keys
                .into_iter()
                .map(|k| {
                    let k = &list_key(k, now);
                    if rng.gen_bool(0.5) {
                        Op::Read { key: k.clone() }
                    } else {
                        Op::Append {
                            key: k.clone(),
                            value: txid as i64,
                        }
                    }
                })
                .collect();
            ("txn", ops)
        } else if roll < 80 {
            let pair: Vec<&String> = accounts.choose_multiple(&mut rng, 2).collect();
            let amount = rng.gen_range(1..=30);
            let ops = vec![
                Op::Add {
                    key: pair[0].clone(),
                    delta: -amount,
                },
                Op::Add {
                    key: pair[1].clone(),
                    delta: amount,
                },
            ];
            ("transfer", ops)
        } else {
            let ops = accounts
                .iter()
                .map(|k| Op::Balance { key: k.clone() })
                .collect();
            ("audit", ops)
        };
        obs.lock()
            .unwrap()
            .invoke(me, f, mops(&ops, None), ctx.world().now_ns());
        ctx.send(
            COORDINATOR,
            TwopcMsg::Begin {
                txid,
                ops: ops.clone(),
            },
        );
        let outcome = ctx
            .recv_matching(system.client_timeout, |m| match m.take::<TwopcMsg>() {
                Some(TwopcMsg::Outcome { txid: t, reads }) if t == txid => Some(reads),
                _ => None,
            })
            .await;
        let now = ctx.world().now_ns();
        let mut o = obs.lock().unwrap();
        match outcome {
            None => o.complete(me, HistKind::Info, f, mops(&ops, None), now),
            Some(None) => o.complete(me, HistKind::Fail, f, mops(&ops, None), now),
            Some(Some(reads)) => {
                if f == "audit" {
                    let balances: Vec<(String, i64)> = reads
                        .iter()
                        .filter_map(|(k, v)| match v {
                            ReadValue::Balance(b) => Some((k.clone(), *b)),
                            ReadValue::List(_) => None,
                        })
                        .collect();
                    o.audit_read(txid, &balances);
                }
                o.complete(me, HistKind::Ok, f, mops(&ops, Some(&reads)), now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::msg::owner;
    use super::*;

    #[test]
    fn lists_are_renamed_each_epoch_and_stay_with_their_participant() {
        assert_eq!(list_key("l4", LIST_EPOCH_NS - 1), "l4");
        assert_eq!(list_key("l4", 3 * LIST_EPOCH_NS), "e3.l4");
        for servers in [3, 4, 5] {
            for epoch in 0..12 {
                let k = list_key("l4", epoch * LIST_EPOCH_NS);
                assert_eq!(owner(&k, servers), owner("l4", servers), "{k}");
            }
            assert_eq!(owner("a10", servers), 1 + 10 % (servers - 1));
        }
    }
}
