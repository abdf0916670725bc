//! What node code sees of the world: its identity, a datagram socket, its own clock,
//! timers on that clock, a private random stream, and a way to annotate the trace.
//!
//! Node logic should be a plain state machine driven by a thin async loop over this
//! context, so it can be unit-tested without the simulator. Everything here is
//! deterministic for a given run seed; nothing reads the host's clock or randomness.

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rand_chacha::ChaCha8Rng;

use crate::duration::Nanos;
use crate::rng::stream;
use crate::world::World;

/// A message type nodes exchange. `name` is what the trace records for each send.
pub trait Message: Any + Send + Sync + Debug {
    fn name(&self) -> &'static str;
}

/// A message handed to a node.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub from: usize,
    pub id: u64,
    pub what: &'static str,
    payload: Arc<dyn Any + Send + Sync>,
}

impl Incoming {
    /// The payload, if it is an `M`.
    pub fn get<M: Message>(&self) -> Option<&M> {
        self.payload.downcast_ref::<M>()
    }

    /// The payload by value, if it is an `M`: moved out when this is the only copy (no
    /// duplicate still in flight), cloned otherwise.
    pub fn take<M: Message + Clone>(self) -> Option<M> {
        let typed = self.payload.downcast::<M>().ok()?;
        Some(std::sync::Arc::try_unwrap(typed).unwrap_or_else(|shared| (*shared).clone()))
    }
}

/// A node's handle on the world, valid for one incarnation.
#[derive(Clone)]
pub struct NodeCtx {
    world: Arc<World>,
    id: usize,
    incarnation: u64,
}

impl NodeCtx {
    pub(crate) fn new(world: Arc<World>, id: usize) -> Self {
        let incarnation = world.incarnation(id);
        NodeCtx {
            world,
            id,
            incarnation,
        }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.world.names()[self.id]
    }

    /// How many times this node has been restarted.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn cluster_size(&self) -> usize {
        self.world.len()
    }

    /// Every other node, in node order.
    pub fn peers(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.world.len()).filter(move |&p| p != self.id)
    }

    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// This node's disk. Handles stop working when this incarnation crashes.
    pub fn disk(&self) -> crate::disk::Disk {
        crate::disk::Disk::new(self.world.clone(), self.id, self.incarnation)
    }

    /// Sends a datagram; returns the message id the trace knows it by.
    pub fn send<M: Message>(&self, to: usize, msg: M) -> u64 {
        let what = msg.name();
        self.world.send(self.id, to, what, Arc::new(msg))
    }

    /// Waits for the next message.
    pub fn recv(&self) -> Recv<'_> {
        Recv { ctx: self }
    }

    /// Waits for the next message for at most `timeout` on this node's clock.
    pub async fn recv_timeout(&self, timeout: Nanos) -> Option<Incoming> {
        RecvTimeout {
            ctx: self,
            deadline: self.deadline_after(timeout),
            local_ns: timeout.0,
        }
        .await
    }

    /// Waits up to `timeout` (this node's clock) for a message `pick` accepts, discarding
    /// the others (late replies to earlier requests): a client waiting for its reply.
    pub async fn recv_matching<T>(
        &self,
        timeout: Nanos,
        mut pick: impl FnMut(Incoming) -> Option<T>,
    ) -> Option<T> {
        let deadline = self.monotonic() + timeout.0;
        loop {
            let now = self.monotonic();
            if now >= deadline {
                return None;
            }
            let m = self.recv_timeout(Nanos(deadline - now)).await?;
            if let Some(t) = pick(m) {
                return Some(t);
            }
        }
    }

    /// Sleeps for `d` as measured by this node's own (possibly drifting) clock.
    pub async fn sleep(&self, d: Nanos) {
        let deadline = self.deadline_after(d);
        std::future::poll_fn(|cx| {
            if self.world.arm_timer(self.id, deadline, cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        self.world.record_timer(self.id, d.0);
    }

    /// The true time at which `d` on this node's clock will have passed.
    fn deadline_after(&self, d: Nanos) -> u64 {
        self.world.timer_deadline(self.id, d.0)
    }

    /// This node's wall clock, in nanoseconds since the simulation epoch. Offsets, drift,
    /// bumps and strobes all show here.
    pub fn now(&self) -> i64 {
        self.world.wall_clock(self.id)
    }

    /// This node's monotonic clock: drift shows, bumps and strobes do not.
    pub fn monotonic(&self) -> u64 {
        self.world.monotonic_clock(self.id)
    }

    /// A random stream private to this node and incarnation.
    pub fn rng(&self) -> ChaCha8Rng {
        stream(
            self.world.seed(),
            &format!("node:{}:{}", self.name(), self.incarnation),
        )
    }

    /// Adds an annotation to the trace, stamped with this node's vector clock.
    pub fn note(&self, text: impl Into<String>) {
        self.world.note(self.id, text.into());
    }
}

fn to_incoming(env: crate::net::Envelope) -> Incoming {
    Incoming {
        from: env.from,
        id: env.id,
        what: env.what,
        payload: env.payload,
    }
}

/// Future of [`NodeCtx::recv`].
pub struct Recv<'a> {
    ctx: &'a NodeCtx,
}

impl Future for Recv<'_> {
    type Output = Incoming;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Incoming> {
        let ctx = self.ctx;
        ctx.world
            .poll_recv(ctx.id, ctx.incarnation, cx)
            .map(to_incoming)
    }
}

struct RecvTimeout<'a> {
    ctx: &'a NodeCtx,
    /// True time at which the wait ends.
    deadline: u64,
    local_ns: u64,
}

impl Future for RecvTimeout<'_> {
    type Output = Option<Incoming>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        let ctx = self.ctx;
        if let Poll::Ready(env) = ctx.world.poll_recv(ctx.id, ctx.incarnation, cx) {
            return Poll::Ready(Some(to_incoming(env)));
        }
        if ctx.world.arm_timer(ctx.id, self.deadline, cx) {
            ctx.world.record_timer(ctx.id, self.local_ns);
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}
