//! The world of one run: every node's lifecycle, clock, vector clock and inbox, the
//! network, and the trace, behind one lock, inside one madsim runtime.
//!
//! madsim provides the executor, simulated time and the node lifecycle (kill, restart,
//! pause); this module layers what madsim lacks on top: our own datagram network with
//! per-link faults and directed cuts, per-node clocks, a vector clock the simulator keeps
//! itself, hooks that decide what survives a crash, and the trace. Message arrivals are
//! driven by one delivery task on madsim's supervisor node, which is never killed, so a
//! message in flight outlives its sender.
//!
//! Everything runs on one thread; the lock only exists because madsim's init functions
//! must be `Send + Sync`. It is never held across an `.await` or a call into madsim that can
//! run our code again (reading madsim's clock, held in the state, is fine).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::clock::NodeClock;
use crate::disk::DiskSet;
use crate::net::{Envelope, NetStats, Network, Topology, TopologyError};
use crate::process::{LifecycleError, ProcessHook, Status};
use crate::rng::stream;
use crate::trace::{ClockChange, DropReason, EventKind, Trace, VectorClock};

/// Switches that deliberately break the world's own guarantees. They exist so tests can
/// prove that the trace checks catch a world that misbehaves; no scenario should set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldFaults {
    /// Deliver in-flight messages even if their link was cut while they travelled.
    pub deliver_across_cuts: bool,
}

pub(crate) struct NodeSlot {
    pub madsim_id: Option<madsim::task::NodeId>,
    pub status: Status,
    pub incarnation: u64,
    pub clock: NodeClock,
    pub vc: Vec<u64>,
    /// Delivered, not yet read by the node.
    pub inbox: VecDeque<Envelope>,
    /// Arrived while the node was paused; delivered on resume.
    pub held: VecDeque<Envelope>,
    pub recv_waker: Option<Waker>,
    /// Timers armed in madsim for this node's tasks: (deadline, waker). One timer per
    /// distinct deadline and task is enough; madsim cannot cancel timers, so every extra
    /// one is a spurious wake-up later.
    pub timers: Vec<(u64, Waker)>,
}

pub(crate) struct WorldState {
    pub nodes: Vec<NodeSlot>,
    pub net: Network,
    net_rng: ChaCha8Rng,
    faults_rng: ChaCha8Rng,
    pub trace: Trace,
    pub disks: DiskSet,
    pub triggers: crate::crash_trigger::CrashTriggers,
    hooks: Vec<Box<dyn ProcessHook>>,
    driver_waker: Option<Waker>,
    driver_armed: Option<u64>,
    faults: WorldFaults,
    /// madsim's clock, held directly: reading the time through `Instant::now()` costs a
    /// thread-local lookup and two reference-count round trips per read, and a Raft run
    /// reads it tens of thousands of times. Released at shutdown (it also holds madsim's
    /// timers, whose wakers hold tasks that hold this world).
    time: Option<madsim::time::TimeHandle>,
    /// madsim's elapsed time when the run started.
    origin_elapsed: std::time::Duration,
    /// The same moment as an `Instant`, for reading the time after shutdown.
    origin: madsim::time::Instant,
}

/// The shared world of a run.
pub struct World {
    state: Mutex<WorldState>,
    origin: madsim::time::Instant,
    seed: u64,
    names: Vec<String>,
    partition_scope: usize,
}

/// A node's clock at the start of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InitialClock {
    pub offset_ns: i64,
    pub drift_ppm: i64,
}

impl World {
    /// Must be called inside the run's madsim runtime.
    pub(crate) fn new(config: &crate::run::SimConfig) -> Arc<World> {
        let seed = config.seed;
        let names: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
        let clocks: Vec<InitialClock> = config.nodes.iter().map(|n| n.clock).collect();
        let (net, disk, partition_nodes) = (&config.net, &config.disk, config.partition_nodes);
        let (keep_events, faults) = (config.keep_events, config.world_faults);
        let n = names.len();
        assert_eq!(clocks.len(), n, "one initial clock per node");
        let nodes = clocks
            .iter()
            .map(|c| NodeSlot {
                madsim_id: None,
                status: Status::Up,
                incarnation: 0,
                clock: NodeClock::new(0, c.offset_ns, c.drift_ppm),
                vc: vec![0; n],
                inbox: VecDeque::new(),
                held: VecDeque::new(),
                recv_waker: None,
                timers: Vec::new(),
            })
            .collect();
        let time = madsim::time::TimeHandle::current();
        let origin_elapsed = time.elapsed();
        let origin = madsim::time::Instant::now();
        Arc::new(World {
            state: Mutex::new(WorldState {
                nodes,
                net: Network::new(net),
                net_rng: stream(seed, "net"),
                faults_rng: stream(seed, "faults"),
                trace: Trace::with_names(keep_events, names.clone()),
                disks: DiskSet::new(*disk, seed, &names),
                triggers: crate::crash_trigger::CrashTriggers::new(n),
                hooks: Vec::new(),
                driver_waker: None,
                driver_armed: None,
                faults,
                time: Some(time),
                origin_elapsed,
                origin,
            }),
            origin,
            seed,
            partition_scope: partition_nodes.unwrap_or(n).min(n),
            names,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, WorldState> {
        // A panic inside the world is a bug that ends the run; poisoning adds nothing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True simulated time since the run started, in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.lock().now()
    }

    pub(crate) fn instant_at(&self, t_ns: u64) -> madsim::time::Instant {
        self.origin + std::time::Duration::from_nanos(t_ns)
    }

    /// A madsim sleep ending at true time `t_ns` exactly (madsim's `sleep` alone rounds
    /// up to 1 ms). Not boxed: a `Sleep` is `Unpin`, and runs create thousands.
    pub(crate) fn sleep_at(&self, t_ns: u64) -> madsim::time::Sleep {
        let at = self.instant_at(t_ns);
        // Creating a sleep only reads madsim's clock; it never calls back into the world.
        let mut s = match &self.lock().time {
            Some(time) => time.sleep(std::time::Duration::ZERO),
            None => madsim::time::sleep(std::time::Duration::ZERO),
        };
        Pin::new(&mut s).reset(at);
        s
    }

    pub fn status(&self, node: usize) -> Status {
        self.lock().nodes[node].status
    }

    pub fn incarnation(&self, node: usize) -> u64 {
        self.lock().nodes[node].incarnation
    }

    pub fn net_stats(&self) -> NetStats {
        self.lock().net.stats
    }

    /// Registers a component that must learn about crashes and restarts.
    pub fn add_hook(&self, hook: Box<dyn ProcessHook>) {
        self.lock().hooks.push(hook);
    }

    /// Runs `f` on the world's state; for components layered on top (the disk).
    pub fn with_trace<R>(&self, f: impl FnOnce(&mut Trace) -> R) -> R {
        f(&mut self.lock().trace)
    }

    pub(crate) fn set_madsim_id(&self, node: usize, id: madsim::task::NodeId) {
        self.lock().nodes[node].madsim_id = Some(id);
    }

    fn madsim_id(&self, node: usize) -> madsim::task::NodeId {
        self.lock().nodes[node]
            .madsim_id
            .expect("node was never started")
    }

    // ---- node-side operations -------------------------------------------------------

    /// A node sends a message; returns its id. A crash trigger may crash the sender (or
    /// a set of nodes) right after the message leaves.
    pub(crate) fn send(
        &self,
        from: usize,
        to: usize,
        what: &'static str,
        payload: Arc<dyn std::any::Any + Send + Sync>,
    ) -> u64 {
        let fired = {
            let st = self.lock();
            if st.nodes[from].status == Status::Crashed {
                // A trigger crashed this node inside its current step; the rest of the
                // step never happens, so neither do its sends.
                return 0;
            }
            drop(st);
            let id = self.send_inner(from, to, what, payload);
            let mut st = self.lock();
            let st = &mut *st;
            let disk = &st.disks.disks[from];
            let fired = st
                .triggers
                .observe(from, crate::crash_trigger::Act::Send, || {
                    disk.has_unsynced()
                });
            if let Some(f) = &fired {
                let now = st.now();
                let fault = crate::disk::DiskFault::CrashTrigger {
                    what: f.what.to_string(),
                };
                st.record_net(now, EventKind::DiskFault { node: from, fault });
            }
            (id, fired)
        };
        let (id, fired) = fired;
        if let Some(f) = fired {
            for v in f.victims {
                let _ = self.crash(v);
            }
        }
        id
    }

    /// Arms a crash trigger (see `crash_trigger`); returns its id.
    pub fn arm_crash_trigger(
        &self,
        when: crate::crash_trigger::CrashWhen,
        watched: Vec<usize>,
        victims: Vec<usize>,
    ) -> u64 {
        self.lock().triggers.arm(when, watched, victims)
    }

    /// Disarms crash trigger `id` if it has not fired.
    pub fn disarm_crash_trigger(&self, id: u64) {
        self.lock().triggers.disarm(id);
    }

    fn send_inner(
        &self,
        from: usize,
        to: usize,
        what: &'static str,
        payload: Arc<dyn std::any::Any + Send + Sync>,
    ) -> u64 {
        assert!(to < self.len(), "send to node {to} outside the cluster");
        let mut st = self.lock();
        let st = &mut *st;
        let now = st.now();
        let id = st.net.next_message_id();
        st.record_node(now, from, EventKind::Send { msg: id, to, what });
        st.net.stats.sent += 1;
        if st.net.is_cut(from, to) {
            st.net.stats.dropped_cut += 1;
            st.record_net(now, drop_event(id, from, to, DropReason::CutLink));
            return id;
        }
        let link = *st.net.link(from, to);
        if link.loss > 0.0 && st.net_rng.gen_bool(link.loss) {
            st.net.stats.dropped_loss += 1;
            st.record_net(now, drop_event(id, from, to, DropReason::Loss));
            return id;
        }
        let env = Envelope {
            id,
            from,
            to,
            what,
            payload,
            // The clock the send event just recorded.
            vc: VectorClock::from(&st.nodes[from].vc[..]),
        };
        let at = now.saturating_add(link.latency.sample(&mut st.net_rng));
        if link.duplicate > 0.0 && st.net_rng.gen_bool(link.duplicate) {
            let copy = st.net.next_message_id();
            st.net.stats.duplicated += 1;
            st.record_net(
                now,
                EventKind::Duplicate {
                    msg: id,
                    copy,
                    from,
                    to,
                },
            );
            let copy_at = now.saturating_add(link.latency.sample(&mut st.net_rng));
            let mut dup = env.clone();
            dup.id = copy;
            st.schedule(copy_at, dup);
        }
        st.schedule(at, env);
        id
    }

    /// Polls a node's inbox.
    pub(crate) fn poll_recv(
        &self,
        node: usize,
        incarnation: u64,
        cx: &Context<'_>,
    ) -> Poll<Envelope> {
        let mut st = self.lock();
        let slot = &mut st.nodes[node];
        if slot.incarnation != incarnation {
            // A task of a dead incarnation: madsim drops it; never hand it anything.
            return Poll::Pending;
        }
        match slot.inbox.pop_front() {
            Some(env) => Poll::Ready(env),
            None => {
                slot.recv_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    pub(crate) fn record_timer(&self, node: usize, local_ns: u64) {
        let mut st = self.lock();
        let now = st.now();
        st.record_node(now, node, EventKind::Timer { local_ns });
    }

    pub fn note(&self, node: usize, text: String) {
        let mut st = self.lock();
        let now = st.now();
        st.record_node(now, node, EventKind::Note { text });
    }

    /// The node's wall clock now.
    pub fn wall_clock(&self, node: usize) -> i64 {
        let st = self.lock();
        st.nodes[node].clock.wall(st.now())
    }

    /// The node's monotonic clock now.
    pub fn monotonic_clock(&self, node: usize) -> u64 {
        let st = self.lock();
        st.nodes[node].clock.monotonic(st.now()).max(0) as u64
    }

    /// Makes sure the task behind `cx` is woken at true time `deadline`; returns whether
    /// the deadline has already passed.
    pub(crate) fn arm_timer(&self, node: usize, deadline: u64, cx: &Context<'_>) -> bool {
        {
            let mut st = self.lock();
            let now = st.now();
            if deadline <= now {
                return true;
            }
            let timers = &mut st.nodes[node].timers;
            timers.retain(|(d, _)| *d > now);
            if timers
                .iter()
                .any(|(d, w)| *d == deadline && w.will_wake(cx.waker()))
            {
                return false;
            }
            timers.push((deadline, cx.waker().clone()));
        }
        let mut s = self.sleep_at(deadline);
        // Polling registers the timer with madsim; it fires even after `s` is dropped.
        Pin::new(&mut s)
            .poll(&mut Context::from_waker(cx.waker()))
            .is_ready()
    }

    /// The true time at which a timer of `local_ns` on the node's clock, armed now, fires.
    pub(crate) fn timer_deadline(&self, node: usize, local_ns: u64) -> u64 {
        let st = self.lock();
        st.now()
            .saturating_add(st.nodes[node].clock.true_duration(local_ns))
    }

    // ---- delivery --------------------------------------------------------------------

    fn poll_driver(
        &self,
        cx: &mut Context<'_>,
        sleep: &mut Option<madsim::time::Sleep>,
    ) -> Poll<()> {
        let next = {
            let mut st = self.lock();
            let st = &mut *st;
            let now = st.now();
            if st.driver_armed.is_some_and(|armed| armed <= now) {
                // That timer has fired; whatever comes next needs a new one.
                st.driver_armed = None;
            }
            while let Some(env) = st.net.pop_arrived(now) {
                st.arrive(now, env);
            }
            st.driver_waker = Some(cx.waker().clone());
            let next = st.net.next_arrival();
            if next.is_none() || next == st.driver_armed {
                // Nothing to arm, or a timer for this deadline is already registered.
                // Re-polling the sleep would register duplicates that keep waking us.
                return Poll::Pending;
            }
            st.driver_armed = next;
            next.expect("checked above")
        };
        let mut s = self.sleep_at(next);
        if Pin::new(&mut s).poll(cx).is_ready() {
            // The deadline is already here: go round again.
            self.lock().driver_armed = None;
            cx.waker().wake_by_ref();
        }
        *sleep = Some(s);
        Poll::Pending
    }

    // ---- nemesis operations ----------------------------------------------------------

    /// Cuts the links of `topology` (random choices from the faults stream); returns them.
    pub fn partition(&self, topology: &Topology) -> Result<Vec<(usize, usize)>, TopologyError> {
        let mut rng = std::mem::replace(&mut self.lock().faults_rng, stream(0, ""));
        let result = self.partition_with(topology, &mut rng);
        self.lock().faults_rng = rng;
        result
    }

    /// Cuts the links of `topology`, drawing random choices from `rng` (a scenario gives
    /// each fault event its own stream, so removing one event changes no other's choices).
    pub fn partition_with(
        &self,
        topology: &Topology,
        rng: &mut impl Rng,
    ) -> Result<Vec<(usize, usize)>, TopologyError> {
        let now = self.now_ns();
        let mut st = self.lock();
        let st = &mut *st;
        let cut = topology.resolve(self.partition_scope, rng)?;
        st.net.cut(&cut);
        let links: Vec<(usize, usize)> = cut.into_iter().collect();
        st.record_net(
            now,
            EventKind::Partition {
                topology: topology.name(),
                cut: links.clone(),
            },
        );
        Ok(links)
    }

    /// Restores every link.
    pub fn heal(&self) {
        let now = self.now_ns();
        let mut st = self.lock();
        st.net.heal();
        st.record_net(now, EventKind::Heal);
    }

    /// Ends one partition that cut `links`: each comes back unless another partition
    /// still cuts it.
    pub fn heal_links(&self, links: &[(usize, usize)]) {
        let now = self.now_ns();
        let mut st = self.lock();
        st.net.uncut(links);
        st.record_net(
            now,
            EventKind::HealLinks {
                links: links.to_vec(),
            },
        );
    }

    pub fn set_link(&self, from: usize, to: usize, link: crate::net::LinkConfig) {
        self.lock().net.set_link(from, to, link);
    }

    fn lifecycle_error(&self, op: &'static str, node: usize, status: Status) -> LifecycleError {
        LifecycleError {
            op,
            node: self.names[node].clone(),
            status,
        }
    }

    /// Kills the node: volatile state is gone, hooks decide what persists.
    pub fn crash(&self, node: usize) -> Result<(), LifecycleError> {
        let id = self.madsim_id(node);
        let now = self.now_ns();
        {
            let mut st = self.lock();
            let st = &mut *st;
            let status = st.nodes[node].status;
            if status == Status::Crashed {
                return Err(self.lifecycle_error("crash", node, status));
            }
            st.nodes[node].status = Status::Crashed;
            st.nodes[node].recv_waker = None;
            st.nodes[node].timers.clear();
            st.nodes[node].inbox.clear();
            st.record_node(now, node, EventKind::Crash);
            let held = std::mem::take(&mut st.nodes[node].held);
            for env in held {
                st.net.stats.dropped_dead += 1;
                st.record_net(
                    now,
                    drop_event(env.id, env.from, env.to, DropReason::DeadNode),
                );
            }
            for fault in st.disks.crash(node) {
                st.record_net(now, EventKind::DiskFault { node, fault });
            }
            for hook in st.hooks.iter_mut() {
                hook.on_crash(node, now);
            }
        }
        madsim::runtime::Handle::current().kill(id);
        Ok(())
    }

    /// Starts a crashed node again: a new incarnation runs the init function.
    pub fn restart(&self, node: usize) -> Result<(), LifecycleError> {
        let id = self.madsim_id(node);
        let now = self.now_ns();
        {
            let mut st = self.lock();
            let st = &mut *st;
            let status = st.nodes[node].status;
            if status != Status::Crashed {
                return Err(self.lifecycle_error("restart", node, status));
            }
            let slot = &mut st.nodes[node];
            slot.status = Status::Up;
            slot.incarnation += 1;
            let incarnation = slot.incarnation;
            st.record_node(now, node, EventKind::Restart { incarnation });
            for hook in st.hooks.iter_mut() {
                hook.on_restart(node, now);
            }
        }
        madsim::runtime::Handle::current().restart(id);
        Ok(())
    }

    /// Freezes the node; messages to it wait.
    pub fn pause(&self, node: usize) -> Result<(), LifecycleError> {
        let id = self.madsim_id(node);
        let now = self.now_ns();
        {
            let mut st = self.lock();
            let status = st.nodes[node].status;
            if status != Status::Up {
                return Err(self.lifecycle_error("pause", node, status));
            }
            st.nodes[node].status = Status::Paused;
            st.record_node(now, node, EventKind::Pause);
        }
        madsim::runtime::Handle::current().pause(id);
        Ok(())
    }

    /// Thaws the node and delivers what waited for it, in arrival order.
    pub fn resume(&self, node: usize) -> Result<(), LifecycleError> {
        let id = self.madsim_id(node);
        let now = self.now_ns();
        {
            let mut st = self.lock();
            let st = &mut *st;
            let status = st.nodes[node].status;
            if status != Status::Paused {
                return Err(self.lifecycle_error("resume", node, status));
            }
            st.nodes[node].status = Status::Up;
            st.record_node(now, node, EventKind::Resume);
            // Held messages count as still in flight: a link cut since they arrived drops
            // them, as it would any message on the wire.
            let held = std::mem::take(&mut st.nodes[node].held);
            for env in held {
                st.arrive(now, env);
            }
        }
        madsim::runtime::Handle::current().resume(id);
        Ok(())
    }

    fn clock_change(&self, node: usize, change: ClockChange, f: impl FnOnce(&mut NodeClock, u64)) {
        let now = self.now_ns();
        let mut st = self.lock();
        f(&mut st.nodes[node].clock, now);
        st.record_node(now, node, EventKind::Clock(change));
    }

    /// Steps the node's wall clock by `delta_ns`.
    pub fn bump_clock(&self, node: usize, delta_ns: i64) {
        self.clock_change(node, ClockChange::Bump { delta_ns }, |c, _| {
            c.bump(delta_ns)
        });
    }

    /// Sets the node's clock rate error from now on.
    pub fn set_drift(&self, node: usize, ppm: i64) {
        self.clock_change(node, ClockChange::Drift { ppm }, |c, t| c.set_drift(t, ppm));
    }

    /// Oscillates the node's wall clock by `delta_ns` every `period_ns` for `duration_ns`.
    pub fn strobe_clock(&self, node: usize, delta_ns: i64, period_ns: u64, duration_ns: u64) {
        let change = ClockChange::Strobe {
            delta_ns,
            period_ns,
            duration_ns,
        };
        self.clock_change(node, change, |c, t| {
            c.strobe(t, delta_ns, period_ns, duration_ns)
        });
    }

    /// Draws from the faults stream (random nemesis choices).
    pub fn faults_rng<R>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
        f(&mut self.lock().faults_rng)
    }

    /// Ends the run: drops every waker, timer, queued message, hook and disk the world
    /// holds. Tasks hold the world and the world holds their wakers; without this the
    /// cycle keeps every finished run in memory (about 1 MB a run, gigabytes in a sweep).
    pub(crate) fn shutdown(&self) {
        let ids: Vec<madsim::task::NodeId> = self
            .lock()
            .nodes
            .iter()
            .filter_map(|n| n.madsim_id)
            .collect();
        // madsim never frees tasks left in its queue (each holds a sender of that queue);
        // killing the nodes makes the executor drop their tasks on its next pass.
        let handle = madsim::runtime::Handle::current();
        for id in ids {
            handle.kill(id);
        }
        let mut st = self.lock();
        for slot in st.nodes.iter_mut() {
            slot.recv_waker = None;
            slot.timers.clear();
            slot.inbox.clear();
            slot.held.clear();
        }
        st.driver_waker = None;
        st.time = None;
        st.net = Network::new(&crate::net::NetConfig::default());
        st.hooks.clear();
        st.disks.disks.clear();
    }

    /// Moves the trace out at the end of a run.
    pub(crate) fn take_trace(&self) -> Trace {
        let trace = std::mem::replace(&mut self.lock().trace, Trace::new(false));
        trace.finish();
        trace
    }
}

fn drop_event(msg: u64, from: usize, to: usize, reason: DropReason) -> EventKind {
    EventKind::Drop {
        msg,
        from,
        to,
        reason,
    }
}

impl WorldState {
    /// True simulated time since the run started, in nanoseconds.
    pub(crate) fn now(&self) -> u64 {
        let since_origin = match &self.time {
            Some(t) => t.elapsed().saturating_sub(self.origin_elapsed),
            // After shutdown: ask madsim the slow way.
            None => madsim::time::Instant::now().saturating_duration_since(self.origin),
        };
        // u64 arithmetic: `as_nanos` goes through u128, and this runs on every clock read.
        since_origin.as_secs() * 1_000_000_000 + u64::from(since_origin.subsec_nanos())
    }

    /// Records an event on `node`, ticking its own clock entry first.
    pub(crate) fn record_node(&mut self, now: u64, node: usize, kind: EventKind) {
        let vc = &mut self.nodes[node].vc;
        vc[node] += 1;
        let snapshot = VectorClock::from(&vc[..]);
        self.trace.push(now, Some(node), kind, snapshot);
    }

    pub(crate) fn record_net(&mut self, now: u64, kind: EventKind) {
        self.trace.push(now, None, kind, VectorClock::empty());
    }

    fn schedule(&mut self, at: u64, env: Envelope) {
        self.net.schedule(at, env);
        // Wake the delivery task only if this message is due before what it waits for.
        if self.driver_armed.is_none_or(|armed| at < armed) {
            self.driver_armed = None;
            if let Some(w) = &self.driver_waker {
                w.wake_by_ref();
            }
        }
    }

    /// A message reaches its destination's network interface.
    fn arrive(&mut self, now: u64, env: Envelope) {
        let (from, to) = (env.from, env.to);
        if self.net.is_cut(from, to) && !self.faults.deliver_across_cuts {
            self.net.stats.dropped_cut += 1;
            self.record_net(now, drop_event(env.id, from, to, DropReason::CutLink));
            return;
        }
        match self.nodes[to].status {
            Status::Crashed => {
                self.net.stats.dropped_dead += 1;
                self.record_net(now, drop_event(env.id, from, to, DropReason::DeadNode));
            }
            Status::Paused => self.nodes[to].held.push_back(env),
            Status::Up => self.deliver(now, env),
        }
    }

    /// Hands a message to a running node: merge clocks, tick, queue, wake.
    fn deliver(&mut self, now: u64, env: Envelope) {
        let to = env.to;
        {
            let vc = &mut self.nodes[to].vc;
            for (mine, theirs) in vc.iter_mut().zip(env.vc.iter()) {
                *mine = (*mine).max(*theirs);
            }
        }
        self.record_node(
            now,
            to,
            EventKind::Deliver {
                msg: env.id,
                from: env.from,
            },
        );
        self.net.stats.delivered += 1;
        let slot = &mut self.nodes[to];
        slot.inbox.push_back(env);
        if let Some(w) = slot.recv_waker.take() {
            w.wake();
        }
    }
}

/// The task that moves messages from the wire to inboxes at their arrival times.
pub(crate) struct DeliveryDriver {
    pub world: Arc<World>,
    pub sleep: Option<madsim::time::Sleep>,
}

impl Future for DeliveryDriver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.world.poll_driver(cx, &mut this.sleep)
    }
}
