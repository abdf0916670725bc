//! What a swarm run draws beyond the network, process and clock faults of `swarm`: the
//! system's protocol settings (each system draws its own, in `nodes`), and one disk fault
//! family: a power loss (every server at once), lying fsyncs with one follower crash at a
//! time, failing fsyncs, or a disk that fills up (ENOSPC). Each comes from its own
//! stream (`swarm-settings`, `swarm-disk`), so adding them left the older draws as they
//! were.
//!
//! Each family is drawn only for a system that claims to survive it
//! (`System::swarm_disk`): two-phase commit opts out of lying fsyncs (its participants
//! keep their only copy of a vote), gossip out of full disks (its servers go mute when
//! they cannot persist, a design choice the membership check would report in every run),
//! systems that keep their state in memory out of all. Deliberately never drawn: lying
//! fsyncs together with overlapping crashes or a power loss (no replicated protocol
//! survives a majority losing what it was told is durable).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sim::Nanos;

use crate::scenario::{Fault, Scenario, Scheduled};

/// Draws the system's settings into `s` (the system's own hook); returns what was drawn.
pub fn settings(s: &mut Scenario, rng: &mut ChaCha8Rng) -> Vec<String> {
    let system = s.system.0.clone();
    system.swarm_settings(&mut s.settings, rng)
}

/// Draws at most one disk fault family into `s` and `faults` (faults start in `window`,
/// ms); returns what was drawn.
pub fn disk(
    s: &mut Scenario,
    faults: &mut Vec<Scheduled>,
    window: (u64, u64),
    rng: &mut ChaCha8Rng,
) -> Vec<String> {
    let claims = s.system.swarm_disk();
    let crashes = faults.iter().any(|f| {
        matches!(
            f.fault,
            Fault::CrashLeader | Fault::CrashFollower | Fault::CrashAll | Fault::CrashRandom
        )
    });
    let ms = Nanos::from_millis;
    match rng.gen_range(0..10) {
        0 | 1 if claims.power_loss => {
            let count = rng.gen_range(1..=2);
            let mut t = rng.gen_range(window.0..window.1);
            for _ in 0..count {
                let down = rng.gen_range(50..600);
                faults.push(Scheduled::new(ms(t), Fault::CrashAll));
                faults.push(Scheduled::new(ms(t + down), Fault::RestartCrashed));
                t += down + rng.gen_range(300..1200);
            }
            vec![format!("{count} power losses")]
        }
        2 if !crashes && claims.lying_fsync => {
            s.disk.faults.lying_fsync = rng.gen_range(0.05..0.3);
            let count = rng.gen_range(1..=3);
            let mut t = rng.gen_range(window.0..window.1);
            for _ in 0..count {
                let down = rng.gen_range(50..400);
                faults.push(Scheduled::new(ms(t), Fault::CrashFollower));
                faults.push(Scheduled::new(ms(t + down), Fault::RestartCrashed));
                t += down + rng.gen_range(400..1000);
            }
            vec![format!(
                "{:.0}% lying fsyncs, {count} follower crashes one at a time",
                s.disk.faults.lying_fsync * 100.0
            )]
        }
        3 if claims.failing_fsync => {
            s.disk.faults.fsync_failure = rng.gen_range(0.0001..0.001);
            vec![format!(
                "{:.2}% failing fsyncs",
                s.disk.faults.fsync_failure * 100.0
            )]
        }
        4 if claims.full_disk => {
            let kib = rng.gen_range(16..=512);
            s.disk.capacity = Some(kib * 1024);
            vec![format!("disks full at {kib} KiB (ENOSPC)")]
        }
        _ => Vec::new(),
    }
}
