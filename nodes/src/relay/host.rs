//! The async host that drives a [`RelayMachine`] on the simulator.

use sim::{Nanos, NodeCtx, SimHandle};

use super::machine::{RelayMachine, RelayMsg};

/// Settings of the relay system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Time between two relays a node starts, on its own clock.
    pub tick: Nanos,
    /// How many times a relay is passed on after its first hop.
    pub hops: u32,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            tick: Nanos::from_millis(20),
            hops: 1,
        }
    }
}

impl RelayConfig {
    /// Settings that cannot work, each named by its key in a scenario file.
    pub fn validate(&self) -> Result<(), String> {
        crate::validate::positive("tick", self.tick)
    }
}

/// Starts every node of the world as a relay node.
pub fn start(sim: &SimHandle, config: RelayConfig) {
    for node in 0..sim.len() {
        sim.start_node(node, move |ctx| run_node(ctx, config));
    }
}

async fn run_node(ctx: NodeCtx, config: RelayConfig) {
    let mut machine = RelayMachine::new(ctx.id(), ctx.cluster_size(), config.hops);
    ctx.note(format!("boot incarnation={}", ctx.incarnation()));
    let mut next_tick = ctx.monotonic() + config.tick.0;
    loop {
        let now = ctx.monotonic();
        let out = if now >= next_tick {
            next_tick += config.tick.0;
            machine.on_tick()
        } else {
            match ctx.recv_timeout(Nanos(next_tick - now)).await {
                Some(m) => {
                    let msg = m
                        .get::<RelayMsg>()
                        .expect("relay nodes only receive relay messages");
                    machine.on_message(m.from, msg)
                }
                None => continue,
            }
        };
        for (to, msg) in out {
            ctx.send(to, msg);
        }
    }
}
