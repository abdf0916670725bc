//! Running one simulation: build the world from a seed, start the nodes, drive the
//! scenario's main future, and hand back the trace.
//!
//! A run is a pure function of its configuration, its seed and the code: madsim is seeded
//! with the run seed (it orders tasks that are ready at the same instant) and every random
//! choice of ours comes from a named stream of the same seed.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use crate::disk::DiskConfig;
use crate::duration::Nanos;
use crate::net::{NetConfig, NetStats};
use crate::node::NodeCtx;
use crate::process::Status;
use crate::trace::Trace;
use crate::world::{DeliveryDriver, InitialClock, World, WorldFaults};

/// A node of the cluster before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub clock: InitialClock,
}

/// Everything a run needs besides the code it runs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: Vec<NodeSpec>,
    pub net: NetConfig,
    pub disk: DiskConfig,
    /// Partition topologies apply to nodes `0..partition_nodes` (the servers); later nodes
    /// (clients) keep their links. `None`: every node.
    pub partition_nodes: Option<usize>,
    /// Keep every event (needed by trace checks and export); `false` keeps only the digest.
    pub keep_events: bool,
    pub world_faults: WorldFaults,
}

impl SimConfig {
    /// `n` nodes named n1..nN with perfect clocks and default links.
    pub fn new(seed: u64, n: usize) -> Self {
        SimConfig {
            seed,
            nodes: (1..=n)
                .map(|i| NodeSpec {
                    name: format!("n{i}"),
                    clock: InitialClock::default(),
                })
                .collect(),
            net: NetConfig::default(),
            disk: DiskConfig::default(),
            partition_nodes: None,
            keep_events: true,
            world_faults: WorldFaults::default(),
        }
    }
}

/// The scenario's handle on a running world.
#[derive(Clone)]
pub struct SimHandle {
    world: Arc<World>,
}

impl Deref for SimHandle {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl SimHandle {
    pub fn world(&self) -> &Arc<World> {
        &self.world
    }

    /// Creates node `node` and runs `init` as its main task; a restart runs it again.
    pub fn start_node<F, Fut>(&self, node: usize, init: F)
    where
        F: Fn(NodeCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let world = self.world.clone();
        let handle = madsim::runtime::Handle::current()
            .create_node()
            .name(self.world.names()[node].clone())
            .init(move || init(NodeCtx::new(world.clone(), node)))
            .build();
        self.world.set_madsim_id(node, handle.id());
    }

    /// Sleeps until true simulated time `t_ns`.
    pub async fn sleep_until(&self, t_ns: u64) {
        if t_ns <= self.world.now_ns() {
            return;
        }
        self.world.sleep_at(t_ns).await;
    }

    /// Sleeps for `d` of true simulated time.
    pub async fn sleep(&self, d: Nanos) {
        self.sleep_until(self.world.now_ns() + d.0).await;
    }
}

/// What a run leaves behind.
#[derive(Debug)]
pub struct RunOutput<T> {
    pub value: T,
    pub trace: Trace,
    pub names: Vec<String>,
    pub net: NetStats,
    pub sim_time_ns: u64,
    pub statuses: Vec<Status>,
    /// What the run's crashes found on the disks.
    pub disk_crashes: crate::disk::CrashStats,
}

/// Runs `main` in a fresh world built from `config`. Panics inside the run (a node's
/// broken invariant, say) propagate to the caller.
pub fn run<T, F, Fut>(config: SimConfig, main: F) -> RunOutput<T>
where
    F: FnOnce(SimHandle) -> Fut,
    Fut: Future<Output = T>,
{
    let rt = madsim::runtime::Runtime::with_seed_and_config(config.seed, madsim::Config::default());
    rt.block_on(async move {
        let names: Vec<String> = config.nodes.iter().map(|n| n.name.clone()).collect();
        let world = World::new(&config);
        let driver = madsim::task::spawn_local(DeliveryDriver {
            world: world.clone(),
            sleep: None,
        });
        let value = main(SimHandle {
            world: world.clone(),
        })
        .await;
        driver.abort();
        let statuses = (0..world.len()).map(|i| world.status(i)).collect();
        let net = world.net_stats();
        let disk_crashes = world.crash_stats();
        let out = RunOutput {
            disk_crashes,
            value,
            trace: world.take_trace(),
            names,
            net,
            sim_time_ns: world.now_ns(),
            statuses,
        };
        world.shutdown();
        // One more pass of the executor, so the killed tasks are dropped before we return.
        SimHandle {
            world: world.clone(),
        }
        .sleep(Nanos(1))
        .await;
        out
    })
}
