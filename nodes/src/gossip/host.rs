//! The thin async host that runs a [`GossipMachine`] on the simulator: feed timer ticks and
//! messages in, report what happened to the observer and the trace, send what it emits.
//! A restarted server starts empty (nothing is kept on disk) and rebuilds from its peers.

use std::sync::{Arc, Mutex};

use sim::{Nanos, NodeCtx, Status};

use super::bugs::Bugs;
use super::machine::{GossipConfig, GossipMachine, Observation};
use super::msg::GossipMsg;
use super::observer::Observer;

pub async fn run_server(
    ctx: NodeCtx,
    servers: usize,
    config: GossipConfig,
    bugs: Bugs,
    obs: Arc<Mutex<Observer>>,
) {
    let me = ctx.id();
    obs.lock().unwrap().restarted(me, ctx.world().now_ns());
    let mut m = GossipMachine::new(
        me,
        servers,
        ctx.incarnation(),
        config,
        bugs,
        ctx.rng(),
        ctx.monotonic(),
    );
    loop {
        let now = ctx.monotonic();
        let deadline = m.next_deadline();
        if now >= deadline {
            m.tick(now);
        } else if let Some(msg) = ctx.recv_timeout(Nanos(deadline - now)).await {
            let from = msg.from;
            if let Some(g) = msg.take::<GossipMsg>() {
                m.step(ctx.monotonic(), ctx.now(), from, g);
            }
        }
        let ready = m.take_ready();
        {
            let now_true = ctx.world().now_ns();
            let mut o = obs.lock().unwrap();
            for ob in ready.observations {
                match ob {
                    Observation::Wrote {
                        id,
                        key,
                        vv,
                        delete,
                        superseded,
                    } => {
                        // The note stamps the write with its vector clock in the trace.
                        ctx.note(format!("gossip-write {id} {key}"));
                        let rec = super::observer::WriteRec {
                            key,
                            node: me,
                            vv,
                            delete,
                            superseded,
                        };
                        o.writes.insert(id, rec);
                    }
                    Observation::Suspected { node, incarnation } => {
                        o.suspicions.insert((node, incarnation));
                        if ctx.world().status(node) == Status::Up {
                            o.false_suspicions.insert((node, incarnation));
                        }
                    }
                    Observation::DeclaredDead { node, incarnation } => {
                        ctx.note(format!(
                            "declared n{} dead (incarnation {incarnation})",
                            node + 1
                        ));
                        if ctx.world().status(node) == Status::Up {
                            o.live_declared_dead.insert((node, incarnation));
                        }
                    }
                    Observation::Refuted { incarnation } => {
                        ctx.note(format!("refuted suspicion with incarnation {incarnation}"));
                        o.refutations += 1;
                    }
                }
            }
            if ready.store_changed {
                o.store(me, m.store().summary(), now_true);
            }
            if ready.members_changed {
                let view = m
                    .members()
                    .iter()
                    .map(|(&n, mem)| (n, (mem.state, mem.incarnation)))
                    .collect();
                o.view(me, m.incarnation(), view, now_true);
            }
        }
        for (to, msg) in ready.messages {
            ctx.send(to, msg);
        }
    }
}
