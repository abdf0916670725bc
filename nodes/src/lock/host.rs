//! The three kinds of node as async loops on the simulator: the lock server (n1), the
//! storage server (n2) and the clients. Each reports what it did to the [`Observer`] at
//! true simulated time; the nodes themselves only ever read their own clocks.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use rand::Rng;
use sim::digest::StableHasher;
use sim::{Message, Nanos, NodeCtx};

use super::observer::Observer;
use super::{Bug, LockSettings};

/// The lock server is node 0, the storage node 1; clients follow.
pub const LOCK: usize = 0;
pub const STORAGE: usize = 1;

/// What the nodes send each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Acquire {
        req: u64,
    },
    Granted {
        req: u64,
        token: u64,
    },
    Busy {
        req: u64,
    },
    Release {
        token: u64,
    },
    /// The bug `check-before-pause`: the storage validates a token before the work.
    Check {
        req: u64,
        token: u64,
    },
    Write {
        req: u64,
        token: u64,
        value: i64,
    },
    Accepted {
        req: u64,
    },
    Rejected {
        req: u64,
    },
}

impl Message for Msg {
    fn name(&self) -> &'static str {
        match self {
            Msg::Acquire { .. } => "acquire",
            Msg::Granted { .. } => "granted",
            Msg::Busy { .. } => "busy",
            Msg::Release { .. } => "release",
            Msg::Check { .. } => "check",
            Msg::Write { .. } => "write",
            Msg::Accepted { .. } => "accepted",
            Msg::Rejected { .. } => "rejected",
        }
    }
}

pub type Shared = Arc<Mutex<Observer>>;

fn obs(o: &Shared) -> std::sync::MutexGuard<'_, Observer> {
    o.lock().unwrap_or_else(|e| e.into_inner())
}

const TOKEN_FILE: &str = "token";

fn encode_counter(counter: u64) -> Vec<u8> {
    let mut h = StableHasher::new();
    h.write_bytes(&counter.to_le_bytes());
    let mut out = counter.to_le_bytes().to_vec();
    out.extend_from_slice(&h.finish().to_le_bytes());
    out
}

/// The counter a 16-byte record holds, if its checksum matches.
fn decode_counter(bytes: &[u8]) -> Option<u64> {
    let counter = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let sum = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    let mut h = StableHasher::new();
    h.write_bytes(&counter.to_le_bytes());
    (h.finish() == sum).then_some(counter)
}

/// The lock server stops serving (and says why, in the words the `refused-start` check
/// reads) rather than hand out a token it cannot vouch for.
fn refuse(ctx: &NodeCtx, why: &str) {
    ctx.note(format!("refusing to run: {why}"));
}

/// The lock server: one lease at a time, a fresh token per grant. The counter is written
/// and fsynced before a grant leaves (the bug `forget-token` keeps it in memory only,
/// `unsynced-token` skips the fsync, so the write is only in the page cache). A
/// restarted server has forgotten who holds the lease, so it grants nothing for one TTL.
pub async fn lock_server(ctx: NodeCtx, s: LockSettings, bugs: BTreeSet<Bug>, o: Shared) {
    let persist = !bugs.contains(&Bug::ForgetToken);
    let sync_grants = !bugs.contains(&Bug::UnsyncedToken);
    let disk = ctx.disk();
    let mut counter = 0u64;
    if persist {
        let Ok(file) = disk.open_or_create(TOKEN_FILE).await else {
            return refuse(&ctx, "cannot open the token file");
        };
        // A new file must outlive a crash before any token it will hold is handed out.
        if file.sync_all().await.is_err() || disk.sync_dir().await.is_err() {
            return refuse(&ctx, "cannot sync the token file");
        }
        let Ok(bytes) = file.read_at(0, 16).await else {
            return refuse(&ctx, "cannot read the token file");
        };
        if bytes.iter().any(|&b| b != 0) {
            match decode_counter(&bytes) {
                Some(c) => counter = c,
                // A damaged counter could hand out an old token: serve nothing.
                None => return refuse(&ctx, "the token counter is damaged"),
            }
        }
    }
    let ttl = s.ttl.0;
    let mut holder: Option<(usize, u64, u64)> = None;
    let quiet_until = if ctx.incarnation() > 0 {
        ctx.monotonic() + ttl
    } else {
        0
    };
    // Whether the current lease's expiry has been noted (for the picture: the moment the
    // server would hand the lock on, whatever the holder believes).
    let mut expiry_noted = true;
    loop {
        let m = match holder {
            Some((h, token, until)) if !expiry_noted => {
                let left = until.saturating_sub(ctx.monotonic());
                match ctx.recv_timeout(Nanos(left)).await {
                    Some(m) => m,
                    None => {
                        expiry_noted = true;
                        ctx.note(format!("lease of token {token} (n{}) expired", h + 1));
                        continue;
                    }
                }
            }
            _ => ctx.recv().await,
        };
        let Some(msg) = m.get::<Msg>().cloned() else {
            continue;
        };
        let now = ctx.monotonic();
        match msg {
            Msg::Acquire { req } => {
                let free = holder.is_none_or(|(_, _, until)| now >= until);
                if !free || now < quiet_until {
                    ctx.send(m.from, Msg::Busy { req });
                    continue;
                }
                counter += 1;
                if persist {
                    let Ok(file) = disk.open_or_create(TOKEN_FILE).await else {
                        return refuse(&ctx, "persisting failed: cannot open the token file");
                    };
                    if file.write_at(0, &encode_counter(counter)).await.is_err()
                        || (sync_grants && file.sync_data().await.is_err())
                    {
                        return refuse(&ctx, "persisting failed: the token counter");
                    }
                }
                // The clock may have moved while the disk worked.
                holder = Some((m.from, counter, ctx.monotonic() + ttl));
                expiry_noted = false;
                obs(&o).granted(ctx.world().now_ns(), m.from, counter);
                ctx.note(format!("grant token {counter} to n{}", m.from + 1));
                ctx.send(
                    m.from,
                    Msg::Granted {
                        req,
                        token: counter,
                    },
                );
            }
            Msg::Release { token } if holder.is_some_and(|(_, t, _)| t == token) => {
                holder = None;
            }
            _ => {}
        }
    }
}

/// The storage server: one register, written by whoever holds the lock. The correct form
/// accepts a write only if its token is at least the highest it has seen.
pub async fn storage(ctx: NodeCtx, bugs: BTreeSet<Bug>, o: Shared) {
    let mut highest = 0u64;
    let (mut current, mut seen) = (0u64, BTreeSet::new());
    // The token the last check (bug `check-before-pause`) let through, per client.
    let mut checked: Vec<Option<u64>> = vec![None; ctx.cluster_size()];
    loop {
        let m = ctx.recv().await;
        let Some(msg) = m.get::<Msg>().cloned() else {
            continue;
        };
        match msg {
            Msg::Check { req, token } => {
                let ok = token >= highest;
                if ok {
                    highest = token;
                    checked[m.from] = Some(token);
                }
                let reply = if ok {
                    Msg::Accepted { req }
                } else {
                    Msg::Rejected { req }
                };
                ctx.send(m.from, reply);
            }
            Msg::Write { req, token, value } => {
                let token = if bugs.contains(&Bug::CheckBeforePause) {
                    // The token was checked before the work; the write itself is not.
                    checked[m.from].take()
                } else {
                    Some(token)
                };
                let ok = match token {
                    None => false,
                    Some(_) if bugs.contains(&Bug::NoFencing) => true,
                    Some(_) if bugs.contains(&Bug::CheckBeforePause) => true,
                    // Lease ids compared for equality: the current id passes, and an id
                    // never seen is taken as a new holder's, even if it is older.
                    Some(t) if bugs.contains(&Bug::FenceByEquality) => {
                        t == current || !seen.contains(&t)
                    }
                    Some(t) => t >= highest,
                };
                match token {
                    Some(t) if ok => {
                        highest = highest.max(t);
                        current = t;
                        seen.insert(t);
                        obs(&o).accepted(ctx.world().now_ns(), m.from, t, value);
                        ctx.note(format!("accept write {value} with token {t}"));
                        ctx.send(m.from, Msg::Accepted { req });
                    }
                    _ => {
                        ctx.note(format!("reject write {value} (token {token:?})"));
                        ctx.send(m.from, Msg::Rejected { req });
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a lease that started at `start` (on the clock the lease is judged on) is still
/// valid at `now` on that clock.
fn valid(start: i64, now: i64, ttl: u64, margin: u64) -> bool {
    now < start + ttl as i64 - margin as i64
}

/// A client: acquire the lock, then up to `writes_per_lease` times check the lease, do
/// some work and write through the storage with the token; release at the end.
pub async fn client(ctx: NodeCtx, s: LockSettings, bugs: BTreeSet<Bug>, o: Shared) {
    let mut rng = ctx.rng();
    let me = ctx.id();
    let wall = bugs.contains(&Bug::HolderWallClock);
    let mut req = 0u64;
    let clock = |ctx: &NodeCtx| {
        if wall {
            ctx.now()
        } else {
            ctx.monotonic() as i64
        }
    };
    loop {
        ctx.sleep(Nanos(rng.gen_range(0..=s.think.0))).await;
        req += 1;
        // The lease is measured from before the request left: never longer than the
        // server's.
        let start = clock(&ctx);
        ctx.send(LOCK, Msg::Acquire { req });
        let reply = ctx
            .recv_matching(s.client_timeout, |m| {
                m.get::<Msg>().cloned().filter(|r| match r {
                    Msg::Granted { req: q, .. } | Msg::Busy { req: q } => *q == req,
                    _ => false,
                })
            })
            .await;
        let Some(Msg::Granted { token, .. }) = reply else {
            continue;
        };
        obs(&o).holding(me, true);
        for _ in 0..s.writes_per_lease {
            if !valid(start, clock(&ctx), s.ttl.0, s.margin.0) {
                break;
            }
            obs(&o).checked(ctx.world().now_ns(), me, token);
            if bugs.contains(&Bug::CheckBeforePause) {
                req += 1;
                ctx.send(STORAGE, Msg::Check { req, token });
                let r = reply_to(&ctx, req, s.client_timeout).await;
                if r != Some(true) {
                    break;
                }
            }
            ctx.sleep(Nanos(rng.gen_range(0..=s.work.0))).await;
            req += 1;
            let value = (me as i64) * 1_000_000 + req as i64;
            ctx.send(STORAGE, Msg::Write { req, token, value });
            match reply_to(&ctx, req, s.client_timeout).await {
                Some(true) => obs(&o).acked(ctx.world().now_ns(), me, token, value),
                // Fenced off: the lease is gone.
                Some(false) => break,
                None => {}
            }
        }
        obs(&o).holding(me, false);
        ctx.send(LOCK, Msg::Release { token });
    }
}

/// The storage's answer to request `req`: accepted, rejected, or nothing in time.
async fn reply_to(ctx: &NodeCtx, req: u64, timeout: Nanos) -> Option<bool> {
    ctx.recv_matching(timeout, |m| match m.get::<Msg>() {
        Some(Msg::Accepted { req: q }) if *q == req => Some(true),
        Some(Msg::Rejected { req: q }) if *q == req => Some(false),
        _ => None,
    })
    .await
}
