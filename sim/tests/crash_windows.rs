//! Faults in the windows where durability bugs live: a crash inside an fsync (which is not
//! atomic), and crash triggers that fire on what a node does (its fsyncs, sends, renames,
//! unsynced writes). Each is proven by a planted mistake it catches and a correct
//! counterpart it leaves alone.

use std::sync::{Arc, Mutex};

use sim::crash_trigger::CrashWhen;
use sim::disk::{DiskConfig, DiskFault, DiskFaults, DiskLatency};
use sim::net::Latency;
use sim::{run, EventKind, Nanos, NodeCtx, SimConfig};

/// Records r1, r2 (one sector each) and a commit marker in the third sector.
const SECTOR: usize = 512;

#[derive(Debug, Clone)]
struct Stored;
impl sim::Message for Stored {
    fn name(&self) -> &'static str {
        "stored"
    }
}

fn slow_sync_config(seed: u64, nodes: usize, sync_reorder: f64) -> SimConfig {
    let mut cfg = SimConfig::new(seed, nodes);
    let fixed = |ms| Latency::Fixed {
        value: Nanos::from_millis(ms),
    };
    cfg.disk = DiskConfig {
        faults: DiskFaults {
            crash_keep: 0.0,
            sync_reorder,
            ..DiskFaults::none()
        },
        latency: DiskLatency {
            sync: fixed(10),
            ..DiskLatency::default()
        },
        ..DiskConfig::default()
    };
    cfg
}

fn disk_faults(trace: &sim::Trace) -> Vec<DiskFault> {
    trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DiskFault { fault, .. } => Some(fault.clone()),
            _ => None,
        })
        .collect()
}

/// What the restarted reader found: (marker present, records intact).
type Seen = Arc<Mutex<Option<(bool, bool)>>>;

/// A store that commits a batch with a marker. `marker_in_same_sync` is the planted
/// mistake: the marker goes to disk in the same fsync as the records it vouches for.
/// The correct store syncs the records, then writes and syncs the marker. The node
/// crashes 5 ms into the (10 ms) sync that carries the marker.
fn commit_then_crash(seed: u64, marker_in_same_sync: bool, sync_reorder: f64) -> (bool, bool) {
    let seen: Seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    run(
        slow_sync_config(seed, 1, sync_reorder),
        move |sim| async move {
            let s = s.clone();
            sim.start_node(0, move |ctx: NodeCtx| {
                let s = s.clone();
                async move {
                    let disk = ctx.disk();
                    if ctx.incarnation() == 0 {
                        let f = disk.create("store").await.unwrap();
                        f.sync_all().await.unwrap();
                        disk.sync_dir().await.unwrap();
                        let records = [[1u8; SECTOR], [2u8; SECTOR]].concat();
                        f.write_at(0, &records).await.unwrap();
                        if !marker_in_same_sync {
                            f.sync_all().await.unwrap();
                        }
                        f.write_at(2 * SECTOR as u64, &[7u8; SECTOR]).await.unwrap();
                        f.sync_all().await.unwrap();
                    } else {
                        let bytes = disk.read("store").await.unwrap();
                        let marker = bytes.len() >= 3 * SECTOR && bytes[2 * SECTOR] == 7;
                        let intact = bytes.len() >= 2 * SECTOR
                            && bytes[..SECTOR].iter().all(|&b| b == 1)
                            && bytes[SECTOR..2 * SECTOR].iter().all(|&b| b == 2);
                        *s.lock().unwrap() = Some((marker, intact));
                    }
                }
            });
            // Creation and its two syncs take 20 ms and change; the correct store's
            // record sync another 10: land 5 ms into the sync that carries the marker.
            let at = if marker_in_same_sync { 25 } else { 35 };
            sim.sleep(Nanos::from_millis(at)).await;
            sim.crash(0).unwrap();
            sim.restart(0).unwrap();
            sim.sleep(Nanos::from_millis(50)).await;
        },
    );
    let got = seen.lock().unwrap().expect("the reader ran");
    got
}

#[test]
fn a_marker_in_the_same_fsync_as_its_records_can_survive_without_them() {
    let seeds = 0..40;
    let trusted_but_torn = seeds
        .clone()
        .filter(|&seed| matches!(commit_then_crash(seed, true, 1.0), (true, false)))
        .count();
    assert!(
        trusted_but_torn > 0,
        "a crash inside the fsync must sometimes keep the marker and not its records"
    );
    // The correct order never shows a marker without its records.
    for seed in seeds.clone() {
        let (marker, intact) = commit_then_crash(seed, false, 1.0);
        assert!(!marker || intact, "seed {seed}: correct store lost records");
    }
    // With an atomic fsync (the old model) the planted mistake is invisible.
    for seed in seeds {
        let (marker, intact) = commit_then_crash(seed, true, 0.0);
        assert!(!marker || intact, "seed {seed}");
    }
}

#[test]
fn a_crash_during_a_sync_is_traced_and_counted() {
    let out = run(slow_sync_config(3, 1, 1.0), |sim| async move {
        sim.start_node(0, |ctx: NodeCtx| async move {
            if ctx.incarnation() > 0 {
                return;
            }
            let disk = ctx.disk();
            let f = disk.create("a").await.unwrap();
            f.write_at(0, &[9u8; 4 * SECTOR]).await.unwrap();
            f.sync_all().await.unwrap();
        });
        sim.sleep(Nanos::from_millis(5)).await;
        sim.crash(0).unwrap();
        sim.sleep(Nanos::from_millis(5)).await;
        sim.crash_stats()
    });
    let stats = out.value;
    assert_eq!((stats.crashes, stats.unsynced, stats.in_sync), (1, 1, 1));
    let interrupted = disk_faults(&out.trace).into_iter().find_map(|f| match f {
        DiskFault::SyncInterrupted {
            kept_sectors,
            lost_sectors,
            ..
        } => Some(kept_sectors.len() + lost_sectors.len()),
        _ => None,
    });
    assert_eq!(interrupted, Some(4), "every written sector has a fate");
    assert_eq!(stats.damaged, u64::from(out.disk_crashes.damaged > 0));
}

/// Two nodes: n1 writes a record and tells n2 about it, either after its fsync (correct)
/// or before (the planted reply-before-fsync). Returns whether a trigger fired, and
/// whether n2 heard of a record that n1 no longer has after the crash.
fn reply_and_crash(
    seed: u64,
    when: CrashWhen,
    victims: Vec<usize>,
    reply_before_fsync: bool,
) -> (bool, bool) {
    let heard = Arc::new(Mutex::new(false));
    let had = Arc::new(Mutex::new(None::<bool>));
    let (h, hd) = (heard.clone(), had.clone());
    let mut cfg = slow_sync_config(seed, 2, 0.0);
    cfg.disk.latency.sync = Latency::Fixed {
        value: Nanos::from_millis(1),
    };
    let out = run(cfg, move |sim| async move {
        let hd = hd.clone();
        sim.start_node(0, move |ctx: NodeCtx| {
            let hd = hd.clone();
            async move {
                let disk = ctx.disk();
                if ctx.incarnation() == 0 {
                    let f = disk.create("log").await.unwrap();
                    f.sync_all().await.unwrap();
                    disk.sync_dir().await.unwrap();
                    f.write_at(0, b"record").await.unwrap();
                    if !reply_before_fsync {
                        f.sync_all().await.unwrap();
                    }
                    ctx.send(1, Stored);
                    f.sync_all().await.unwrap();
                } else {
                    // The crash may come before the file's creation is durable.
                    let bytes = disk.read("log").await.unwrap_or_default();
                    *hd.lock().unwrap() = Some(bytes == b"record");
                }
            }
        });
        let h = h.clone();
        sim.start_node(1, move |ctx: NodeCtx| {
            let h = h.clone();
            async move {
                if ctx.recv().await.take::<Stored>().is_some() {
                    *h.lock().unwrap() = true;
                }
            }
        });
        sim.arm_crash_trigger(when, vec![0], victims);
        sim.sleep(Nanos::from_millis(30)).await;
        if sim.status(0) == sim::Status::Crashed {
            sim.restart(0).unwrap();
        }
        sim.sleep(Nanos::from_millis(30)).await;
    });
    let fired = disk_faults(&out.trace)
        .iter()
        .any(|f| matches!(f, DiskFault::CrashTrigger { .. }));
    let lost_promise = *heard.lock().unwrap() && *had.lock().unwrap() == Some(false);
    (fired, lost_promise)
}

#[test]
fn a_send_over_unsynced_data_is_where_the_crash_lands() {
    let (fired, lost) = reply_and_crash(1, CrashWhen::UnsyncedSend(1), vec![], true);
    assert!(fired && lost, "reply-before-fsync is caught at once");
    let (fired, lost) = reply_and_crash(1, CrashWhen::UnsyncedSend(1), vec![], false);
    assert!(
        !fired && !lost,
        "a reply after the fsync never fires the trigger"
    );
    // A power loss takes the receiver down with the sender: the message dies with it.
    let (fired, lost) = reply_and_crash(1, CrashWhen::UnsyncedSend(1), vec![0, 1], true);
    assert!(fired && !lost);
    let (fired, _) = reply_and_crash(1, CrashWhen::UnsyncedWrite(1), vec![], false);
    assert!(fired, "the first create leaves data unsynced");
}

#[test]
fn counted_and_rename_triggers_crash_at_their_moment() {
    // After the 2nd fsync from arming: the data sync is done, the rename not.
    let run_one = |when: CrashWhen| {
        run(slow_sync_config(5, 1, 0.0), move |sim| async move {
            sim.start_node(0, |ctx: NodeCtx| async move {
                if ctx.incarnation() > 0 {
                    return;
                }
                let disk = ctx.disk();
                let f = disk.create("tmp").await.unwrap();
                f.write_at(0, b"state").await.unwrap();
                f.sync_all().await.unwrap(); // sync 1
                disk.rename("tmp", "state").await.unwrap();
                disk.sync_dir().await.unwrap(); // sync 2
            });
            sim.arm_crash_trigger(when, vec![0], vec![]);
            sim.sleep(Nanos::from_millis(100)).await;
            sim.status(0)
        })
    };
    let out = run_one(CrashWhen::Rename);
    assert_eq!(out.value, sim::Status::Crashed);
    let faults = disk_faults(&out.trace);
    assert!(
        faults.contains(&DiskFault::LostDirEntry {
            file: "state".into()
        }),
        "the crash came between the rename and the directory sync: {faults:?}"
    );
    let out = run_one(CrashWhen::Syncs(2));
    assert_eq!(out.value, sim::Status::Crashed);
    assert!(!disk_faults(&out.trace)
        .iter()
        .any(|f| matches!(f, DiskFault::LostDirEntry { .. })));
    let out = run_one(CrashWhen::Sends(1));
    assert_eq!(out.value, sim::Status::Up, "the node sends nothing");
}
