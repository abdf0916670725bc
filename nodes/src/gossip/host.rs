//! The thin async host that runs a [`GossipMachine`] on the simulator: load the snapshot,
//! then loop: feed timer ticks and messages in, persist the replica and incarnation if they
//! changed, report what happened to the observer and the trace, and only then send what
//! the machine emitted. So a replica's ack and a coordinator's reply to a client both mean
//! "on this server's disk". A server whose snapshot is damaged starts empty and rebuilds
//! from its peers; a persist that fails drops the step's messages (nothing is acknowledged
//! on state that is not durable) and is retried with the next step.

use std::sync::{Arc, Mutex};

use sim::{Nanos, NodeCtx, Status};

use super::bugs::{Bug, Bugs};
use super::machine::{GossipConfig, GossipMachine, Observation};
use super::msg::GossipMsg;
use super::observer::Observer;
use super::persist::{self, Loaded};

/// How often the ack-before-fsync bug's background sync runs.
const LAZY_SYNC_NS: u64 = 1_000_000_000;

pub async fn run_server(
    ctx: NodeCtx,
    servers: usize,
    config: GossipConfig,
    bugs: Bugs,
    obs: Arc<Mutex<Observer>>,
) {
    let me = ctx.id();
    obs.lock().unwrap().restarted(me, ctx.world().now_ns());
    let disk = ctx.disk();
    let restored = match persist::load(&disk, !bugs.has(Bug::NoSnapshotChecksum)).await {
        Ok(Loaded::Nothing) => None,
        Ok(Loaded::Restored(s)) => {
            ctx.note(format!(
                "restored snapshot: {} keys, incarnation {}",
                s.store.keys.len(),
                s.incarnation
            ));
            obs.lock().unwrap().snapshots_restored += 1;
            Some(s)
        }
        Ok(Loaded::Discarded(why)) => {
            ctx.note(format!(
                "discarded damaged snapshot ({why}); rebuilding from peers"
            ));
            obs.lock().unwrap().snapshots_discarded += 1;
            None
        }
        Err(e) => {
            ctx.note(format!(
                "cannot read the snapshot ({e}); rebuilding from peers"
            ));
            obs.lock().unwrap().snapshots_discarded += 1;
            None
        }
    };
    let mut m = GossipMachine::new(
        me,
        servers,
        ctx.incarnation(),
        restored,
        config,
        bugs.clone(),
        ctx.rng(),
        ctx.monotonic(),
    );
    obs.lock()
        .unwrap()
        .store(me, m.store().summary(), ctx.world().now_ns());
    let lazy = bugs.has(Bug::AckBeforeFsync);
    let mut saved_incarnation = m.incarnation();
    let mut dirty = false;
    let mut next_lazy_sync = ctx.monotonic() + LAZY_SYNC_NS;
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
        dirty |= ready.store_changed || m.incarnation() != saved_incarnation;
        {
            let now_true = ctx.world().now_ns();
            let mut o = obs.lock().unwrap();
            // The replica first: an ack observed below is counted against it.
            if ready.store_changed {
                o.store(me, m.store().summary(), now_true);
            }
            for ob in ready.observations {
                match ob {
                    Observation::Wrote {
                        id,
                        key,
                        vv,
                        value,
                        superseded,
                    } => {
                        // The note stamps the write with its vector clock in the trace.
                        ctx.note(format!("gossip-write {id} {key}"));
                        let rec = super::observer::WriteRec {
                            key,
                            node: me,
                            vv,
                            value,
                            delete: value.is_none(),
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
                    Observation::Acked { id } => {
                        o.acked_write(id, config.copies.min(servers), now_true)
                    }
                    Observation::Refuted { incarnation } => {
                        ctx.note(format!("refuted suspicion with incarnation {incarnation}"));
                        o.refutations += 1;
                    }
                }
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
        // Persist before sending: the messages may acknowledge what is being saved.
        if dirty {
            let snap = m.snapshot();
            match persist::save(&disk, &snap, !lazy).await {
                Ok(()) => {
                    dirty = false;
                    saved_incarnation = snap.incarnation;
                }
                Err(e) => {
                    ctx.note(format!(
                        "snapshot failed ({e}); dropping this step's messages"
                    ));
                    continue;
                }
            }
        }
        if lazy && ctx.monotonic() >= next_lazy_sync {
            next_lazy_sync = ctx.monotonic() + LAZY_SYNC_NS;
            if let Err(e) = persist::sync(&disk).await {
                ctx.note(format!("background sync failed ({e})"));
            }
        }
        for (to, msg) in ready.messages {
            ctx.send(to, msg);
        }
    }
}
