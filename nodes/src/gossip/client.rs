//! Clients: simulated processes that put, delete and read a few keys at random servers
//! and record what they were told. A write the server confirms is "acknowledged" and must
//! never be lost; one that timed out or came back unsure is indeterminate (`info`). The
//! server's answer to a write names the values it superseded, recorded as `supersedes`, so
//! a checker reading only the history knows which values must not come back.
//! Clients stop after the workload period, so the run ends with a quiet convergence phase.

use std::sync::{Arc, Mutex};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sim::{Nanos, NodeCtx};

use super::msg::{ClientOp, ClientResult, GossipMsg};
use super::observer::{Acked, Observer};
use super::store::WriteId;

/// Client behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Pause between operations, uniform up to this.
    pub think: Nanos,
    /// How long one operation waits for its reply.
    pub timeout: Nanos,
    /// Keys `k0..`: few, so writes collide.
    pub keys: usize,
    pub read_percent: u32,
    pub delete_percent: u32,
    /// Clients stop issuing operations at this simulated time.
    pub until: Nanos,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            think: Nanos::from_millis(40),
            timeout: Nanos::from_millis(400),
            keys: 4,
            read_percent: 30,
            delete_percent: 20,
            until: Nanos::from_secs(3),
        }
    }
}

pub async fn run_client(
    ctx: NodeCtx,
    servers: usize,
    config: ClientConfig,
    obs: Arc<Mutex<Observer>>,
) {
    let mut rng = ctx.rng();
    let me = ctx.id();
    let mut seq = 0u64;
    loop {
        if config.think.0 > 0 {
            ctx.sleep(Nanos(rng.gen_range(0..=config.think.0))).await;
        }
        if ctx.world().now_ns() >= config.until.0 {
            std::future::pending::<()>().await;
        }
        seq += 1;
        let key = format!("k{}", rng.gen_range(0..config.keys.max(1)));
        let id = WriteId::new(me, seq);
        let roll = rng.gen_range(0..100);
        let op = if roll < config.read_percent {
            ClientOp::Get { key }
        } else if roll < config.read_percent + config.delete_percent {
            ClientOp::Delete { key, id }
        } else {
            ClientOp::Put {
                key,
                id,
                value: id.0 as i64,
            }
        };
        let (f, value) = match &op {
            ClientOp::Get { .. } => ("read", serde_json::Value::Null),
            ClientOp::Put { value, .. } => ("put", json!(value)),
            ClientOp::Delete { .. } => ("delete", serde_json::Value::Null),
        };
        let target = rng.gen_range(0..servers);
        let invoke_line = {
            let mut o = obs.lock().unwrap();
            o.record(json!({
                "process": me, "type": "invoke", "f": f, "key": op.key(), "value": value,
                "time": ctx.world().now_ns(),
            }));
            o.history.len()
        };
        ctx.send(
            target,
            GossipMsg::Request {
                seq,
                op: op.clone(),
            },
        );
        let reply = ctx
            .recv_matching(config.timeout, |m| match m.get::<GossipMsg>() {
                Some(GossipMsg::Reply { seq: s, result }) if *s == seq => Some(result.clone()),
                _ => None,
            })
            .await;
        let now = ctx.world().now_ns();
        let mut o = obs.lock().unwrap();
        let mut supersedes = None;
        let (kind, value) = match &reply {
            Some(ClientResult::Values(vs)) => ("ok", json!(vs)),
            Some(ClientResult::Written { superseded }) => {
                supersedes = Some(superseded.clone());
                if let ClientOp::Put { key, id, .. } | ClientOp::Delete { key, id } = &op {
                    let delete = matches!(op, ClientOp::Delete { .. });
                    o.acked.insert(
                        *id,
                        Acked {
                            key: key.clone(),
                            delete,
                            at: now,
                            line: invoke_line,
                        },
                    );
                }
                ("ok", value)
            }
            Some(ClientResult::Unsure { superseded }) => {
                supersedes = Some(superseded.clone());
                ("info", value)
            }
            None => ("info", value),
        };
        let mut line = json!({
            "process": me, "type": kind, "f": f, "key": op.key(), "value": value, "time": now,
        });
        if let Some(s) = supersedes {
            line["supersedes"] = json!(s);
        }
        o.record(line);
        o.workload_end = o.workload_end.max(now);
    }
}
