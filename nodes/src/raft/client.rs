//! Clients: their own simulated processes that send requests to any server, follow
//! redirects, retry with the same sequence number (so the session applies a write once)
//! and record every operation in the history. A reply is `ok` or `fail`; a client that
//! gives up records `info`, since the operation may still take effect.

use std::sync::{Arc, Mutex};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim::{Nanos, NodeCtx};

use super::msg::{Key, KvOp, RaftMsg, Refusal};
use super::observer::RaftObserver;

/// Client behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Pause between operations, uniform up to this.
    pub think: Nanos,
    /// How long one attempt waits for a reply.
    pub timeout: Nanos,
    /// Attempts before giving up on an operation.
    pub attempts: u32,
    /// Share of operations that are reads, in percent.
    pub read_percent: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            think: Nanos::from_millis(40),
            timeout: Nanos::from_millis(250),
            attempts: 12,
            read_percent: 35,
        }
    }
}

/// Lists are retired after this much simulated time and fresh ones take their place (as
/// Elle's list-append workload bounds writes per key): a read returns the whole list, so
/// lists that grew for the whole run would make the history, and the memory and time to
/// check it, grow with the square of the run's length. No built-in scenario runs this
/// long, so their runs are unchanged.
pub const LIST_EPOCH_NS: u64 = 10_000_000_000;

/// The name of list `l` during the epoch of simulated time `now_ns`: `l0` in the first,
/// `e1.l0` in the second, ...
pub fn list_key(l: &str, now_ns: u64) -> Key {
    match now_ns / LIST_EPOCH_NS {
        0 => Key::from(l),
        epoch => Key::from(format!("e{epoch}.{l}")),
    }
}

/// The next operation: reads, writes and compare-and-sets on three registers, and appends
/// to four lists (spread thin, since concurrent appends are what makes checking hard). Written values are unique per client and sequence number, so a stale or
/// duplicated effect cannot hide behind an equal value.
fn next_op(rng: &mut ChaCha8Rng, client: usize, seq: u64, read_percent: u32, now_ns: u64) -> KvOp {
    let unique = (client as i64) * 1_000_000 + seq as i64;
    const REGISTERS: [&str; 3] = ["r0", "r1", "r2"];
    const LISTS: [&str; 4] = ["l0", "l1", "l2", "l3"];
    // Both draws happen for every operation (as i32: the type decides how a draw
    // consumes the stream); only the key the operation uses is built.
    let (r, l) = (rng.gen_range(0..3i32), rng.gen_range(0..4i32));
    let reg = || Key::from(REGISTERS[r as usize]);
    let list = || list_key(LISTS[l as usize], now_ns);
    if rng.gen_range(0..100) < read_percent {
        // Registers are read more than lists: they are where stale reads show.
        return if rng.gen_range(0..100) < 70 {
            KvOp::Get { key: reg() }
        } else {
            KvOp::Get { key: list() }
        };
    }
    match rng.gen_range(0..100) {
        0..=39 => KvOp::Put {
            key: reg(),
            value: unique,
        },
        40..=64 => {
            let expect = if rng.gen_bool(0.2) {
                None
            } else {
                Some((client as i64) * 1_000_000 + rng.gen_range(1..=seq as i64))
            };
            KvOp::Cas {
                key: reg(),
                expect,
                new: unique,
            }
        }
        _ => KvOp::Append {
            key: list(),
            value: unique,
        },
    }
}

/// Runs one client forever (the scenario's end stops it).
pub async fn run_client(
    ctx: NodeCtx,
    servers: usize,
    config: ClientConfig,
    obs: Arc<Mutex<RaftObserver>>,
) {
    let mut rng = ctx.rng();
    let me = ctx.id();
    let mut target = rng.gen_range(0..servers);
    let mut seq = 0u64;
    loop {
        if config.think.0 > 0 {
            let pause = rng.gen_range(0..=config.think.0);
            ctx.sleep(Nanos(pause)).await;
        }
        seq += 1;
        let op = next_op(&mut rng, me, seq, config.read_percent, ctx.world().now_ns());
        obs.lock().unwrap().invoke(me, &op, ctx.world().now_ns());
        let mut outcome = None;
        for _ in 0..config.attempts {
            ctx.send(
                target,
                RaftMsg::Request {
                    seq,
                    op: op.clone(),
                },
            );
            let reply = ctx
                .recv_matching(config.timeout, |m| match m.get::<RaftMsg>() {
                    Some(RaftMsg::Reply { seq: s, result }) if *s == seq => Some(result.clone()),
                    _ => None,
                })
                .await;
            match reply {
                Some(Ok(result)) => {
                    outcome = Some(result);
                    break;
                }
                Some(Err(Refusal::NotLeader { hint })) => {
                    target = hint
                        .filter(|&h| h < servers)
                        .unwrap_or_else(|| rng.gen_range(0..servers));
                    ctx.sleep(Nanos::from_millis(10)).await;
                }
                None => target = (target + 1) % servers,
            }
        }
        obs.lock()
            .unwrap()
            .complete(me, &op, outcome.as_ref(), ctx.world().now_ns());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_renamed_each_epoch() {
        assert_eq!(&*list_key("l2", 0), "l2");
        assert_eq!(&*list_key("l2", LIST_EPOCH_NS - 1), "l2");
        assert_eq!(&*list_key("l2", LIST_EPOCH_NS), "e1.l2");
        assert_eq!(&*list_key("l2", 7 * LIST_EPOCH_NS + 5), "e7.l2");
    }
}
