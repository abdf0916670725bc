//! A primary-backup register, tested with `dst` the way any user would: written only
//! against the `dst` crate's public interface, in a crate of its own.
//!
//! - `replica`: the protocol, a plain state machine.
//! - `host`: the async loops of a server and of a client on the simulator.
//! - this file: all the glue `dst` needs (settings, bug catalog, `System`, the registry
//!   with the scenario files), and `src/main.rs` the program with every `dst` command.
//!
//! Clients record reads and writes through the harness's recorder and name the register
//! model, so `dst` checks linearizability, writes `--history` and draws the history in
//! reports without any checker code here.

pub mod host;
pub mod replica;

use std::sync::{Arc, Mutex};

use dst::{Nanos, Registry, Running, SimHandle, Start, System};
use host::{client, server, Leaders};
use replica::Config;
use serde::{Deserialize, Serialize};

/// The system's settings: the top-level keys of its scenario files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub clients: usize,
    pub heartbeat: Nanos,
    pub election_timeout: Nanos,
    /// How long a client waits for a reply before recording the operation as unknown.
    pub client_timeout: Nanos,
    /// Pause between a client's operations, uniform up to this.
    pub think: Nanos,
    pub read_percent: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            clients: 3,
            heartbeat: Nanos::from_millis(30),
            election_timeout: Nanos::from_millis(200),
            client_timeout: Nanos::from_millis(150),
            think: Nanos::from_millis(30),
            read_percent: 50,
        }
    }
}

dst::bug_catalog! {
    LocalReads = "local-reads":
        "the primary answers reads from its own copy without asking the backups whether it still leads",
}

/// The primary-backup register as a `dst` system.
pub struct PrimaryBackup;

struct Run(Leaders);

/// Linearizability of the recorded history is the check, and the harness runs it: the
/// running system only says who leads.
impl Running for Run {
    fn leader(&self, sim: &SimHandle) -> Option<usize> {
        let l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (0..l.len()).rfind(|&n| l[n] && sim.status(n) == dst::Status::Up)
    }
}

impl System for PrimaryBackup {
    type Settings = Settings;
    type Bug = Bug;

    fn name(&self) -> &'static str {
        "pb"
    }

    fn describe(&self) -> &'static str {
        "a primary-backup register (the example user system)"
    }

    fn clients(&self, s: &Settings) -> usize {
        s.clients
    }

    fn has_leader(&self) -> bool {
        true
    }

    fn history_model(&self) -> Option<dst::ModelKind> {
        Some(dst::ModelKind::Register)
    }

    fn validate(&self, s: &Settings, servers: usize) -> Result<(), String> {
        if s.read_percent > 100 {
            return Err(format!("read_percent: {} is over 100", s.read_percent));
        }
        if s.heartbeat >= s.election_timeout || s.heartbeat.0 == 0 {
            return Err("heartbeat: must be above 0 and below election_timeout".into());
        }
        if servers < 3 {
            return Err(format!(
                "nodes: a primary and two backups need 3, not {servers}"
            ));
        }
        Ok(())
    }

    fn start(&self, st: Start<'_, Settings, Bug>) -> Box<dyn Running> {
        let leaders: Leaders = Arc::new(Mutex::new(vec![false; st.servers]));
        let cfg = Config {
            servers: st.servers,
            heartbeat: st.settings.heartbeat.0,
            election_timeout: st.settings.election_timeout.0,
            local_reads: st.bugs.contains(&Bug::LocalReads),
        };
        for node in 0..st.servers {
            let l = leaders.clone();
            st.sim
                .start_node(node, move |ctx| server(ctx, cfg, l.clone()));
        }
        for c in 0..st.settings.clients {
            let (s, rec, n) = (st.settings.clone(), st.recorder.clone(), st.servers);
            st.sim.start_node(n + c, move |ctx| {
                client(ctx.clone(), n, s.clone(), rec.client(&ctx))
            });
        }
        Box::new(Run(leaders))
    }

    fn fewer_clients(&self, s: &Settings) -> Option<Settings> {
        (s.clients > 1).then(|| Settings {
            clients: s.clients - 1,
            ..s.clone()
        })
    }

    fn swarm_base(&self) -> Option<&'static str> {
        Some("pb/partition")
    }
}

/// The registry of this program: the system and its scenario files.
pub fn registry() -> Registry {
    Registry::new()
        .system(PrimaryBackup)
        .scenario_file("pb/partition", include_str!("../scenarios/partition.toml"))
        .scenario_file(
            "pb/crash-primary",
            include_str!("../scenarios/crash-primary.toml"),
        )
        .command("cargo run --release -p primary-backup --example pb --")
}
