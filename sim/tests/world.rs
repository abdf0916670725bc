//! The world's guarantees, observed through runs and their traces.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sim::net::Latency;
use sim::trace::DropReason;
use sim::{run, EventKind, InitialClock, Message, Nanos, SimConfig, Status, Topology};

#[derive(Debug, Clone)]
struct Ping(u64);
impl Message for Ping {
    fn name(&self) -> &'static str {
        "Ping"
    }
}

const MS: u64 = 1_000_000;

fn fixed(ms: u64) -> sim::LinkConfig {
    sim::LinkConfig {
        latency: Latency::Fixed {
            value: Nanos::from_millis(ms),
        },
        ..Default::default()
    }
}

#[test]
fn timers_follow_the_nodes_own_clock() {
    let mut cfg = SimConfig::new(1, 2);
    cfg.nodes[0].clock = InitialClock {
        offset_ns: 0,
        drift_ppm: 1000,
    };
    cfg.nodes[1].clock = InitialClock {
        offset_ns: 7 * MS as i64,
        drift_ppm: -1000,
    };
    let out = run(cfg, |sim| async move {
        for node in 0..2 {
            sim.start_node(node, |ctx| async move {
                ctx.sleep(Nanos::from_secs(1)).await;
            });
        }
        sim.sleep(Nanos::from_secs(2)).await;
        (sim.wall_clock(0), sim.wall_clock(1), sim.now_ns())
    });
    let timers: Vec<_> = out
        .trace
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Timer { .. }))
        .map(|e| (e.node.unwrap(), e.time_ns))
        .collect();
    assert_eq!(timers.len(), 2);
    let fast = timers.iter().find(|t| t.0 == 0).unwrap().1;
    let slow = timers.iter().find(|t| t.0 == 1).unwrap().1;
    // The fast clock's 1 s timer fires at 0.999 s of true time, the slow one's at 1.001 s.
    // madsim adds under a microsecond of scheduling time.
    assert!(
        (999_000_000..999_010_000).contains(&fast),
        "fast fired at {fast}"
    );
    assert!(
        (1_001_000_000..1_001_010_000).contains(&slow),
        "slow fired at {slow}"
    );
    let (w0, w1, now) = out.value;
    let now = now as i64;
    assert!((w0 - (now + now / 1000)).abs() < 1000, "wall {w0} at {now}");
    assert!(
        (w1 - (now - now / 1000 + 7 * MS as i64)).abs() < 1000,
        "wall {w1} at {now}"
    );
}

#[test]
fn crash_loses_volatile_state_and_restart_reruns_init() {
    // Each incarnation counts its own pings from zero; the max count seen per incarnation
    // shows the counter did not survive the crash.
    let boots = Arc::new(AtomicU64::new(0));
    let b = boots.clone();
    let out = run(SimConfig::new(3, 2), move |sim| async move {
        let b2 = b.clone();
        sim.start_node(0, move |ctx| {
            b2.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut counter = 0u64;
                loop {
                    ctx.sleep(Nanos::from_millis(10)).await;
                    counter += 1;
                    ctx.send(1, Ping(counter));
                }
            }
        });
        sim.start_node(1, |ctx| async move {
            loop {
                ctx.recv().await;
            }
        });
        sim.sleep(Nanos::from_millis(105)).await;
        sim.crash(0).unwrap();
        assert_eq!(sim.status(0), Status::Crashed);
        assert!(
            sim.crash(0).is_err(),
            "crashing a crashed node must be refused"
        );
        sim.sleep(Nanos::from_millis(100)).await;
        sim.restart(0).unwrap();
        sim.sleep(Nanos::from_millis(55)).await;
        sim.incarnation(0)
    });
    assert_eq!(out.value, 1);
    assert_eq!(
        boots.load(Ordering::SeqCst),
        2,
        "init ran once per incarnation"
    );
    let ev = out.trace.events();
    let crash = ev.iter().position(|e| e.kind == EventKind::Crash).unwrap();
    let restart = ev
        .iter()
        .position(|e| matches!(e.kind, EventKind::Restart { incarnation: 1 }))
        .unwrap();
    // Nothing happens on the crashed node between crash and restart.
    assert!(ev[crash + 1..restart].iter().all(|e| e.node != Some(0)));
    // Sends before the crash: 10 (one every 10 ms up to 105 ms); after restart: 5.
    let sends_before = ev[..crash]
        .iter()
        .filter(|e| e.node == Some(0) && matches!(e.kind, EventKind::Send { .. }))
        .count();
    let sends_after = ev[restart..]
        .iter()
        .filter(|e| e.node == Some(0) && matches!(e.kind, EventKind::Send { .. }))
        .count();
    assert_eq!((sends_before, sends_after), (10, 5));
}

#[test]
fn pause_queues_messages_and_resume_delivers_them_in_order() {
    let mut cfg = SimConfig::new(5, 2);
    cfg.net.default = fixed(1);
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let out = run(cfg, move |sim| async move {
        sim.start_node(0, |ctx| async move {
            for i in 0..20 {
                ctx.send(1, Ping(i));
                ctx.sleep(Nanos::from_millis(5)).await;
            }
        });
        let g2 = g.clone();
        sim.start_node(1, move |ctx| {
            let g3 = g2.clone();
            async move {
                loop {
                    let m = ctx.recv().await;
                    g3.lock().unwrap().push(m.get::<Ping>().unwrap().0);
                }
            }
        });
        sim.sleep(Nanos::from_millis(22)).await;
        sim.pause(1).unwrap();
        sim.sleep(Nanos::from_millis(50)).await;
        let during = g.lock().unwrap().len();
        sim.resume(1).unwrap();
        sim.sleep(Nanos::from_millis(100)).await;
        during
    });
    let got = got.lock().unwrap().clone();
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "all delivered, in order");
    assert_eq!(out.value, 5, "nothing was read while paused");
    // No delivery event on the paused node between pause and resume.
    let ev = out.trace.events();
    let p = ev.iter().position(|e| e.kind == EventKind::Pause).unwrap();
    let r = ev.iter().position(|e| e.kind == EventKind::Resume).unwrap();
    assert!(!ev[p..r]
        .iter()
        .any(|e| matches!(e.kind, EventKind::Deliver { .. })));
    // Right after the resume, the ten held messages are delivered at once.
    assert!(ev[r + 1..r + 11]
        .iter()
        .all(|e| matches!(e.kind, EventKind::Deliver { .. }) && e.time_ns == ev[r].time_ns));
}

#[test]
fn messages_in_flight_are_dropped_when_their_link_is_cut() {
    let mut cfg = SimConfig::new(9, 2);
    cfg.net.default = fixed(10);
    let out = run(cfg, |sim| async move {
        sim.start_node(0, |ctx| async move {
            ctx.send(1, Ping(1));
        });
        sim.start_node(1, |ctx| async move {
            ctx.recv().await;
        });
        sim.sleep(Nanos::from_millis(5)).await;
        sim.partition(&Topology::Links {
            links: vec![(0, 1)],
        })
        .unwrap();
        sim.sleep(Nanos::from_millis(20)).await;
    });
    let drops: Vec<_> = out
        .trace
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Drop { reason, .. } => Some((reason, e.time_ns / MS)),
            _ => None,
        })
        .collect();
    assert_eq!(drops, vec![(DropReason::CutLink, 10)]);
    assert_eq!(out.net.delivered, 0);
}

#[test]
fn latency_is_exact_and_deliveries_merge_vector_clocks() {
    let mut cfg = SimConfig::new(11, 2);
    cfg.net.default = fixed(3);
    let out = run(cfg, |sim| async move {
        sim.start_node(0, |ctx| async move {
            ctx.note("hello");
            ctx.send(1, Ping(0));
        });
        sim.start_node(1, |ctx| async move {
            ctx.recv().await;
        });
        sim.sleep(Nanos::from_millis(10)).await;
    });
    let ev = out.trace.events();
    let send = ev
        .iter()
        .find(|e| matches!(e.kind, EventKind::Send { .. }))
        .unwrap();
    let deliver = ev
        .iter()
        .find(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .unwrap();
    // madsim fires timers 50 ns after their deadline.
    let latency = deliver.time_ns - send.time_ns;
    assert!(
        (3 * MS..3 * MS + 1000).contains(&latency),
        "latency {latency}"
    );
    assert_eq!(&send.vc[..], &[2, 0]);
    assert_eq!(&deliver.vc[..], &[2, 1]);
}

#[test]
fn same_seed_same_digest_different_seed_different_digest() {
    let go = |seed| {
        let mut cfg = SimConfig::new(seed, 3);
        cfg.net.default.duplicate = 0.2;
        cfg.net.default.loss = 0.1;
        run(cfg, |sim| async move {
            for n in 0..3 {
                sim.start_node(n, |ctx| async move {
                    let peers: Vec<usize> = ctx.peers().collect();
                    for i in 0..30u64 {
                        ctx.send(peers[i as usize % 2], Ping(i));
                        if ctx.recv_timeout(Nanos::from_millis(2)).await.is_none() {
                            ctx.sleep(Nanos::from_millis(1)).await;
                        }
                    }
                });
            }
            sim.sleep(Nanos::from_millis(300)).await;
        })
        .trace
        .digest()
    };
    assert_eq!(go(42), go(42));
    assert_ne!(go(42), go(43));
}

#[test]
fn messages_held_for_a_paused_node_are_dropped_if_their_link_is_cut_before_resume() {
    let mut cfg = SimConfig::new(13, 2);
    cfg.net.default = fixed(1);
    let out = run(cfg, |sim| async move {
        sim.start_node(0, |ctx| async move {
            ctx.sleep(Nanos::from_millis(10)).await;
            ctx.send(1, Ping(1));
        });
        sim.start_node(1, |ctx| async move {
            loop {
                ctx.recv().await;
            }
        });
        sim.sleep(Nanos::from_millis(5)).await;
        sim.pause(1).unwrap();
        sim.sleep(Nanos::from_millis(10)).await; // the ping arrives and is held
        sim.partition(&Topology::Links {
            links: vec![(0, 1)],
        })
        .unwrap();
        sim.resume(1).unwrap();
        sim.sleep(Nanos::from_millis(5)).await;
    });
    assert_eq!(out.net.delivered, 0);
    assert_eq!(out.net.dropped_cut, 1);
    assert!(sim::audit::audit_world(out.trace.events(), &out.names).is_empty());
}

#[test]
fn a_finished_run_frees_its_world() {
    // Tasks hold the world and the world holds their wakers; a finished run must break
    // that cycle or every run of a sweep stays in memory.
    let weak = run(SimConfig::new(17, 3), |sim| async move {
        for n in 0..3 {
            sim.start_node(n, |ctx| async move {
                let disk = ctx.disk();
                let f = disk.create("x").await.unwrap();
                f.write_at(0, &[1u8; 4096]).await.unwrap();
                loop {
                    let peers: Vec<usize> = ctx.peers().collect();
                    ctx.send(peers[0], Ping(1));
                    let _ = ctx.recv_timeout(Nanos::from_millis(30)).await;
                }
            });
        }
        sim.sleep(Nanos::from_millis(200)).await;
        sim.pause(2).unwrap();
        sim.sleep(Nanos::from_millis(50)).await;
        std::sync::Arc::downgrade(sim.world())
    })
    .value;
    assert!(weak.upgrade().is_none(), "the world outlived its run");
}
