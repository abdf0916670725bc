//! The thin async hosts that run a [`Coordinator`] or a [`Participant`] on the simulator:
//! recover from the log, then loop: feed ticks and messages in, persist each batch of
//! records (fsynced, then vouched for by a fsynced sync marker), report to the observer,
//! then send. A node whose disk fails or holds
//! damage it cannot repair stays down rather than forget what it promised.

use std::sync::{Arc, Mutex};

use sim::{Nanos, NodeCtx};

use super::bugs::{Bug, Bugs};
use super::coordinator::{CRecord, Coordinator, CoordinatorConfig};
use super::msg::TwopcMsg;
use super::observer::{Observer, ServerState};
use super::participant::{PEvent, PRecord, Participant, ParticipantConfig};
use super::storage::{self, Log, Recovered};

/// How often the machines' timers are looked at.
const TICK: u64 = 10_000_000;

async fn recover<R: storage::Record>(
    ctx: &NodeCtx,
    obs: &Arc<Mutex<Observer>>,
    name: &str,
    bugs: &Bugs,
) -> Option<(Log, Vec<R>)> {
    let verify = !bugs.has(Bug::NoRecordChecksum);
    let (log, recovered) = match Log::open::<R>(ctx.disk(), name, verify).await {
        Ok(x) => x,
        Err(e) => {
            stay_down(ctx, obs, format!("I/O error during recovery: {e}")).await;
            return None;
        }
    };
    match recovered {
        Recovered::Refuse(why) => {
            stay_down(ctx, obs, why).await;
            None
        }
        Recovered::Ok { torn_tail, .. } if torn_tail && bugs.has(Bug::RefuseTornTail) => {
            let why = format!("{name} ends in a frame that fails its checksum");
            stay_down(ctx, obs, why).await;
            None
        }
        Recovered::Ok { records, torn_tail } => {
            if torn_tail {
                ctx.note(format!(
                    "recovery cut a tail no sync marker vouched for, after record {}",
                    records.len()
                ));
            }
            ctx.note(format!("recovered {} log records", records.len()));
            Some((log, records))
        }
    }
}

/// Waits for the next message or tick; returns the message, if one came.
async fn next(ctx: &NodeCtx, next_tick: &mut u64) -> Option<sim::Incoming> {
    let now = ctx.monotonic();
    if now >= *next_tick {
        *next_tick = now + TICK;
        return None;
    }
    ctx.recv_timeout(Nanos(*next_tick - now)).await
}

pub async fn run_coordinator(
    ctx: NodeCtx,
    servers: usize,
    config: CoordinatorConfig,
    bugs: Bugs,
    obs: Arc<Mutex<Observer>>,
) {
    let Some((mut log, records)) = recover::<CRecord>(&ctx, &obs, "coordinator.log", &bugs).await
    else {
        return;
    };
    {
        // A decision on disk is a decision made, even if the crash came before any was sent.
        let now = ctx.world().now_ns();
        let mut o = obs.lock().unwrap();
        for r in &records {
            o.decided(0, r.txid, r.commit, "log", now);
        }
    }
    let mut m = Coordinator::recover(servers, config, bugs, records);
    let mut next_tick = ctx.monotonic() + TICK;
    loop {
        match next(&ctx, &mut next_tick).await {
            None => m.tick(ctx.monotonic()),
            Some(msg) => {
                let from = msg.from;
                if let Some(msg) = msg.take::<TwopcMsg>() {
                    m.step(ctx.monotonic(), from, msg);
                }
            }
        }
        let ready = m.take_ready();
        let records: Vec<Vec<u8>> = ready.log.iter().map(storage::encode).collect();
        if let Err(e) = log.append(&records, true).await {
            return stay_down(&ctx, &obs, format!("logging failed: {e}")).await;
        }
        {
            let now = ctx.world().now_ns();
            let mut o = obs.lock().unwrap();
            for e in &ready.events {
                let how = if e.presumed { "presumed" } else { "votes" };
                o.decided(0, e.txid, e.commit, how, now);
            }
        }
        for (to, msg) in ready.messages {
            ctx.send(to, msg);
        }
    }
}

pub async fn run_participant(
    ctx: NodeCtx,
    config: ParticipantConfig,
    bugs: Bugs,
    obs: Arc<Mutex<Observer>>,
) {
    let me = ctx.id();
    let Some((mut log, records)) = recover::<PRecord>(&ctx, &obs, "participant.log", &bugs).await
    else {
        return;
    };
    {
        // A decision on disk counts even if the crash came before it was reported.
        let now = ctx.world().now_ns();
        let mut o = obs.lock().unwrap();
        for r in &records {
            if let PRecord::Decided { txid, commit } = *r {
                o.decided(me, txid, commit, "log", now);
            }
        }
    }
    let mut m = Participant::recover(config, bugs, records, ctx.monotonic());
    report_state(&obs, me, &m);
    let mut next_tick = ctx.monotonic() + TICK;
    loop {
        match next(&ctx, &mut next_tick).await {
            None => m.tick(ctx.monotonic()),
            Some(msg) => {
                let from = msg.from;
                if let Some(msg) = msg.take::<TwopcMsg>() {
                    m.step(ctx.monotonic(), from, msg);
                }
            }
        }
        let ready = m.take_ready();
        let records: Vec<Vec<u8>> = ready.log.iter().map(storage::encode).collect();
        if let Err(e) = log.append(&records, true).await {
            return stay_down(&ctx, &obs, format!("logging failed: {e}")).await;
        }
        if !ready.events.is_empty() {
            let now = ctx.world().now_ns();
            let mut o = obs.lock().unwrap();
            for e in &ready.events {
                match *e {
                    PEvent::VotedYes { txid } => o.voted_yes(me, txid, now),
                    PEvent::Decided { txid, commit, how } => o.decided(me, txid, commit, how, now),
                }
            }
            drop(o);
            report_state(&obs, me, &m);
        }
        for (to, msg) in ready.messages {
            ctx.send(to, msg);
        }
    }
}

fn report_state(obs: &Arc<Mutex<Observer>>, me: usize, m: &Participant) {
    obs.lock().unwrap().states[me] = ServerState {
        balances: m.balances().clone(),
        in_doubt: m.in_doubt(),
        locks: m.locks().clone(),
    };
}

async fn stay_down(ctx: &NodeCtx, obs: &Arc<Mutex<Observer>>, why: String) {
    ctx.note(format!("{}{why}", crate::universal::REFUSAL_NOTE));
    obs.lock().unwrap().refused.push((ctx.id(), why));
    std::future::pending::<()>().await;
}
