//! The thin async host that runs a [`RaftMachine`] on the simulator: recover from disk,
//! then loop: feed ticks and messages in, persist (and fsync) each batch, then send.

use std::sync::{Arc, Mutex};

use sim::{Nanos, NodeCtx};

use super::bugs::{Bug, Bugs};
use super::machine::{DurableState, Observation, RaftConfig, RaftMachine};
use super::msg::RaftMsg;
use super::observer::RaftObserver;
use super::storage::{Cut, Recovered, Storage};

/// Runs server `ctx.id()` of `servers` until the node crashes.
pub async fn run_server(
    ctx: NodeCtx,
    servers: usize,
    config: RaftConfig,
    bugs: Bugs,
    obs: Arc<Mutex<RaftObserver>>,
) {
    let me = ctx.id();
    // The timers-wall-clock bug: deadlines and leases on the clock `settimeofday` steps.
    let wall = bugs.has(Bug::TimersWallClock);
    let clock = move |ctx: &NodeCtx| {
        if wall {
            ctx.now().max(0) as u64
        } else {
            ctx.monotonic()
        }
    };
    let (mut storage, recovered) = match Storage::open(ctx.disk(), bugs.clone()).await {
        Ok(x) => x,
        Err(e) => return stay_down(&ctx, &obs, format!("I/O error during recovery: {e}")).await,
    };
    let (hard_state, log, vote_floor) = match recovered {
        Recovered::Refuse(why) => return stay_down(&ctx, &obs, why).await,
        Recovered::Ok {
            hard_state,
            log,
            floor,
            cut,
        } => {
            match cut {
                Some(Cut::TornTail { .. }) => ctx.note(format!(
                    "recovery cut a torn log tail after entry {}",
                    log.len()
                )),
                Some(Cut::Damaged { vouched, .. }) => ctx.note(format!(
                    "recovery cut damaged synced entries after entry {}; a sync marker \
                     vouched for entry {} of term {}, so votes keep that floor",
                    log.len(),
                    vouched.index,
                    vouched.term
                )),
                None => {}
            }
            (hard_state, log, floor)
        }
    };
    ctx.note(format!(
        "recovered term {} vote {:?} and {} log entries",
        hard_state.term,
        hard_state.vote,
        log.len()
    ));
    obs.lock().unwrap().logs[me] = log.clone();
    let mut m = RaftMachine::new(
        me,
        servers,
        config,
        bugs,
        ctx.rng(),
        DurableState {
            hard_state,
            log,
            vote_floor,
        },
        clock(&ctx),
    );
    loop {
        let now = clock(&ctx);
        let deadline = m.next_deadline();
        if now >= deadline {
            m.tick(now);
        } else if let Some(msg) = ctx.recv_timeout(Nanos(deadline - now)).await {
            let from = msg.from;
            if let Some(raft) = msg.take::<RaftMsg>() {
                m.step(clock(&ctx), from, raft);
            }
        }
        let ready = m.take_ready();
        if ready.needs_persist() {
            if let Err(e) = storage.persist(&ready).await {
                // After a failed fsync the page cache can no longer be trusted (the Linux
                // behaviour PostgreSQL learned about in 2018): stop, as PostgreSQL now does.
                return stay_down(&ctx, &obs, format!("persisting failed: {e}")).await;
            }
        }
        {
            let now_true = ctx.world().now_ns();
            let mut o = obs.lock().unwrap();
            if let Some(from) = ready.truncate_from {
                o.logs[me].truncate(from as usize - 1);
            }
            if !ready.append.is_empty() {
                let log = &mut o.logs[me];
                log.truncate(ready.append_at as usize - 1);
                log.extend(ready.append.iter().cloned());
            }
            for ob in &ready.observations {
                match ob {
                    Observation::BecameLeader { term } => {
                        ctx.note(format!("became leader of term {term}"));
                        o.became_leader(me, *term, now_true);
                    }
                    Observation::Committed { index, term } => {
                        o.committed(me, ctx.incarnation(), *index, *term, now_true)
                    }
                    Observation::Applied { index, entry } => o.applied(me, *index, entry),
                    Observation::Executed { index, client, seq } => {
                        o.executed(me, ctx.incarnation(), *index, *client, *seq)
                    }
                    Observation::TruncatedCommitted { index, commit } => {
                        o.truncated_committed(me, *index, *commit)
                    }
                }
            }
        }
        for (to, msg) in ready.messages {
            ctx.send(to, msg);
        }
    }
}

async fn stay_down(ctx: &NodeCtx, obs: &Arc<Mutex<RaftObserver>>, why: String) {
    ctx.note(format!("{}{why}", crate::universal::REFUSAL_NOTE));
    obs.lock().unwrap().refused.push((ctx.id(), why));
    std::future::pending::<()>().await;
}
