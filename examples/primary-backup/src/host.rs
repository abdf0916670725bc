//! The async host loops on the simulator: a server drives its `Replica` with messages and
//! its own clock's timers; a client sends reads and writes and records what it saw.

use std::sync::{Arc, Mutex};

use dst::{ClientRecorder, Nanos, NodeCtx, Value};
use rand::Rng;

use crate::replica::{Config, Msg, Replica, Role};
use crate::Settings;

/// Who leads now, for `crash-leader` and `isolate-leader` faults.
pub type Leaders = Arc<Mutex<Vec<bool>>>;

pub async fn server(ctx: NodeCtx, cfg: Config, leaders: Leaders) {
    let jitter = ctx.rng().gen_range(0..cfg.election_timeout);
    let fresh = ctx.incarnation() == 0;
    let mut r = Replica::new(ctx.id(), cfg, fresh, ctx.monotonic(), jitter);
    loop {
        let now = ctx.monotonic();
        let wait = r.next_deadline().saturating_sub(now).max(1);
        let out = match ctx.recv_timeout(Nanos(wait)).await {
            Some(m) => match m.get::<Msg>() {
                Some(msg) => r.on_message(ctx.monotonic(), m.from, msg.clone()),
                None => Vec::new(),
            },
            None => r.on_tick(ctx.monotonic()),
        };
        for (to, msg) in out {
            ctx.send(to, msg);
        }
        let mut l = leaders.lock().unwrap_or_else(|e| e.into_inner());
        l[ctx.id()] = matches!(r.role, Role::Primary { .. });
    }
}

pub async fn client(ctx: NodeCtx, servers: usize, s: Settings, rec: ClientRecorder) {
    let mut rng = ctx.rng();
    let (mut guess, mut req) = (0usize, 0u64);
    let unique = ctx.id() as i64 * 1_000_000;
    loop {
        ctx.sleep(Nanos(rng.gen_range(0..=s.think.0))).await;
        req += 1;
        let read = rng.gen_range(0..100) < s.read_percent;
        let (f, value) = if read {
            ("read", Value::Nil)
        } else {
            ("write", Value::Int(unique + req as i64))
        };
        rec.invoke(f, None, value.clone());
        let mut answered = false;
        // A refusal means the operation did not happen: try where the hint points.
        for _ in 0..servers * 2 {
            let msg = match value {
                Value::Int(v) => Msg::Write { req, value: v },
                _ => Msg::Read { req },
            };
            ctx.send(guess, msg);
            let reply = ctx
                .recv_matching(s.client_timeout, |m| {
                    m.get::<Msg>().cloned().filter(|r| match r {
                        Msg::WriteOk { req: q } | Msg::ReadOk { req: q, .. } => *q == req,
                        Msg::NotPrimary { req: q, .. } => *q == req,
                        _ => false,
                    })
                })
                .await;
            answered = true;
            match reply {
                Some(Msg::WriteOk { .. }) => rec.ok(f, None, value.clone()),
                Some(Msg::ReadOk { value: v, .. }) => {
                    rec.ok(f, None, v.map_or(Value::Nil, Value::Int))
                }
                Some(_) => {
                    let hint = match reply {
                        Some(Msg::NotPrimary { hint, .. }) => hint,
                        _ => None,
                    };
                    guess = hint.unwrap_or((guess + 1) % servers);
                    answered = false;
                    ctx.sleep(Nanos::from_millis(10)).await;
                    continue;
                }
                // No answer: it may still take effect.
                None => {
                    guess = (guess + 1) % servers;
                    rec.info(f, None, value.clone());
                }
            }
            break;
        }
        if !answered {
            rec.fail(f, None, value);
        }
    }
}
