//! Swarm testing: each seed picks its own mix of faults (TigerBeetle's and FoundationDB's
//! lesson: a run that enables every fault at once explores less than many runs that each
//! enable a random few, hard). `swarm/SYSTEM` names a family; the seed decides which fault
//! kinds are on, how many of each, how long they last and how lossy the links are.
//!
//! The mix comes from its own stream, `swarm`, so it does not disturb the run's other
//! streams; the run's report carries the mix it drew. The system's protocol settings and
//! a disk fault family (power loss, lying or failing fsync, ENOSPC) are drawn too, by
//! `swarm_draws`.

use rand::seq::SliceRandom;
use rand::Rng;
use sim::{Nanos, Topology};

use crate::scenario::{Fault, Scenario, Scheduled};

/// Whether `s` is a swarm family whose faults depend on the seed.
pub fn is_swarm(s: &Scenario) -> bool {
    s.name.starts_with("swarm/")
}

/// The template of the swarm family for `system`: a built-in scenario of that system with
/// its faults cleared.
pub fn template(system: &str, base: &Scenario) -> Scenario {
    let mut s = base.clone();
    s.name = format!("swarm/{system}");
    s.description =
        format!("{system} under a random mix of faults drawn from the seed (swarm testing)");
    s.faults.clear();
    s
}

/// The scenario a swarm family runs at `seed`, and a one-line description of its mix.
pub fn materialize(template: &Scenario, seed: u64) -> (Scenario, String) {
    let mut rng = sim::rng::stream(seed, "swarm");
    let mut s = template.clone();
    let n = s.nodes;
    let mut faults: Vec<Scheduled> = Vec::new();
    let mut mix: Vec<String> = Vec::new();
    let window = (500u64, 4_000u64); // ms: faults start in this window
    let at =
        |rng: &mut rand_chacha::ChaCha8Rng| Nanos::from_millis(rng.gen_range(window.0..window.1));
    let ms = |v: u64| Nanos::from_millis(v);
    if rng.gen_bool(0.5) {
        let count = rng.gen_range(1..=4);
        let kinds = [
            Topology::Halves,
            Topology::RandomHalves,
            Topology::Isolate { node: None },
            Topology::MajoritiesRing,
            Topology::Bridge,
            Topology::OneWay {
                from: vec![],
                to: vec![],
            },
        ];
        let t = kinds.choose(&mut rng).expect("non-empty").clone();
        for _ in 0..count {
            let start = at(&mut rng);
            let len = rng.gen_range(100..900);
            faults.push(Scheduled::new(start, Fault::Partition(t.clone())));
            faults.push(Scheduled::new(
                Nanos(start.0 + len * 1_000_000),
                Fault::Heal,
            ));
        }
        mix.push(format!("{count} {} partitions", t.name()));
    }
    if rng.gen_bool(0.5) {
        let count = rng.gen_range(1..=5);
        let leader_share = rng.gen_range(0..=100);
        for _ in 0..count {
            let start = at(&mut rng);
            let fault = if rng.gen_range(0..100) < leader_share {
                Fault::CrashLeader
            } else {
                Fault::CrashFollower
            };
            faults.push(Scheduled::new(start, fault));
            let down = rng.gen_range(20..700);
            faults.push(Scheduled::new(
                Nanos(start.0 + down * 1_000_000),
                Fault::RestartCrashed,
            ));
        }
        mix.push(format!("{count} crashes ({leader_share}% of leaders)"));
    }
    if rng.gen_bool(0.3) {
        let node = rng.gen_range(0..n);
        let start = at(&mut rng);
        let len = rng.gen_range(100..1500);
        faults.push(Scheduled::new(start, Fault::Pause { node }));
        faults.push(Scheduled::new(
            Nanos(start.0 + len * 1_000_000),
            Fault::Resume { node },
        ));
        mix.push(format!("a {len} ms pause of n{}", node + 1));
    }
    if rng.gen_bool(0.3) {
        let node = rng.gen_range(0..n);
        let delta = rng.gen_range(-3_000i64..3_000) * 1_000_000;
        faults.push(Scheduled::new(
            at(&mut rng),
            Fault::ClockBump {
                node,
                delta_ns: delta,
            },
        ));
        let strobe = Fault::ClockStrobe {
            node,
            delta_ns: delta / 4,
            period: ms(15),
            duration: ms(600),
        };
        faults.push(Scheduled::new(at(&mut rng), strobe));
        mix.push(format!(
            "n{}'s clock bumped {} ms and strobed",
            node + 1,
            delta / 1_000_000
        ));
    }
    if rng.gen_bool(0.3) {
        s.net.default.loss = rng.gen_range(0.0..0.15);
        s.net.default.duplicate = rng.gen_range(0.0..0.15);
        mix.push(format!(
            "{:.0}% loss, {:.0}% duplication",
            s.net.default.loss * 100.0,
            s.net.default.duplicate * 100.0
        ));
    }
    if rng.gen_bool(0.3) {
        s.disk.faults.torn_write = rng.gen_range(0.1..0.9);
        mix.push(format!(
            "{:.0}% torn unsynced writes",
            s.disk.faults.torn_write * 100.0
        ));
    }
    mix.extend(crate::swarm_draws::settings(
        &mut s,
        &mut sim::rng::stream(seed, "swarm-settings"),
    ));
    let mut disk_rng = sim::rng::stream(seed, "swarm-disk");
    mix.extend(crate::swarm_draws::disk(
        &mut s,
        &mut faults,
        window,
        &mut disk_rng,
    ));
    faults.sort_by_key(|f| f.at);
    let last = faults.last().map_or(0, |f| f.at.0);
    s.duration = Nanos(last.max(1_000_000_000) + 4_000_000_000);
    s.faults = faults;
    let mix = if mix.is_empty() {
        "no faults".to_string()
    } else {
        mix.join(", ")
    };
    s.description = format!("swarm mix at seed {seed}: {mix}");
    (s, mix)
}
