//! `dst bench sim`: the same message workload on raw madsim endpoints and through `sim`
//! (our network, clocks, vector clocks and a full in-memory trace, as in a normal run),
//! in one process, reporting messages per second of wall time for each.
//!
//! The workload: every node keeps a window of messages in flight; each message received
//! makes its receiver send one more to its next peer, round-robin, until every node has
//! sent its budget. Latency is uniform 1-10 ms on both sides (madsim's default), no loss.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use sim::net::Latency;
use sim::{LinkConfig, Message, Nanos, SimConfig};

/// Workload size.
#[derive(Debug, Clone, Copy)]
pub struct BenchSimParams {
    pub nodes: usize,
    pub messages_per_node: u64,
    pub window: u64,
    pub seed: u64,
}

/// Measured rates.
#[derive(Debug, Clone, Serialize)]
pub struct BenchSimReport {
    pub messages: u64,
    pub raw_madsim_msgs_per_sec: f64,
    pub sim_msgs_per_sec: f64,
    pub ratio: f64,
    pub sim_trace_events: u64,
}

#[derive(Debug)]
struct Token;
impl Message for Token {
    fn name(&self) -> &'static str {
        "Token"
    }
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), 1)
}

/// Runs the workload on raw madsim endpoints; returns (messages received, wall seconds).
fn raw_madsim(p: BenchSimParams) -> (u64, f64) {
    let received = Arc::new(AtomicU64::new(0));
    let total = p.nodes as u64 * p.messages_per_node;
    let rt = madsim::runtime::Runtime::with_seed_and_config(p.seed, madsim::Config::default());
    let started = Instant::now();
    let r = received.clone();
    rt.block_on(async move {
        let handle = madsim::runtime::Handle::current();
        for i in 0..p.nodes {
            let r = r.clone();
            handle
                .create_node()
                .ip(addr(i).ip())
                .init(move || {
                    let r = r.clone();
                    async move {
                        let ep = madsim::net::Endpoint::bind(addr(i)).await.unwrap();
                        let mut sent = 0u64;
                        let mut peer = (i + 1) % p.nodes;
                        let mut next_peer = || {
                            let x = peer;
                            peer = (peer + 1) % p.nodes;
                            if peer == i {
                                peer = (peer + 1) % p.nodes;
                            }
                            x
                        };
                        for _ in 0..p.window {
                            ep.send_to_raw(addr(next_peer()), 0, Box::new(Token))
                                .await
                                .unwrap();
                            sent += 1;
                        }
                        loop {
                            ep.recv_from_raw(0).await.unwrap();
                            r.fetch_add(1, Ordering::Relaxed);
                            if sent < p.messages_per_node {
                                ep.send_to_raw(addr(next_peer()), 0, Box::new(Token))
                                    .await
                                    .unwrap();
                                sent += 1;
                            }
                        }
                    }
                })
                .build();
        }
        while r.load(Ordering::Relaxed) < total {
            madsim::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    (
        received.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}

/// Runs the workload through `sim`; returns (messages received, wall seconds, trace events).
fn through_sim(p: BenchSimParams) -> (u64, f64, u64) {
    let received = Arc::new(AtomicU64::new(0));
    let total = p.nodes as u64 * p.messages_per_node;
    let mut cfg = SimConfig::new(p.seed, p.nodes);
    cfg.net.default = LinkConfig {
        latency: Latency::Uniform {
            min: Nanos::from_millis(1),
            max: Nanos::from_millis(10),
        },
        ..Default::default()
    };
    let started = Instant::now();
    let r = received.clone();
    let out = sim::run(cfg, move |sim| async move {
        for i in 0..p.nodes {
            let r = r.clone();
            sim.start_node(i, move |ctx| {
                let r = r.clone();
                async move {
                    let peers: Vec<usize> = ctx.peers().collect();
                    let mut k = 0usize;
                    let mut sent = 0u64;
                    for _ in 0..p.window {
                        ctx.send(peers[k % peers.len()], Token);
                        k += 1;
                        sent += 1;
                    }
                    loop {
                        ctx.recv().await;
                        r.fetch_add(1, Ordering::Relaxed);
                        if sent < p.messages_per_node {
                            ctx.send(peers[k % peers.len()], Token);
                            k += 1;
                            sent += 1;
                        }
                    }
                }
            });
        }
        while r.load(Ordering::Relaxed) < total {
            sim.sleep(Nanos::from_millis(10)).await;
        }
    });
    let secs = started.elapsed().as_secs_f64();
    (received.load(Ordering::Relaxed), secs, out.trace.len())
}

/// Runs both and reports.
pub fn bench_sim(p: BenchSimParams) -> BenchSimReport {
    let (raw_n, raw_s) = raw_madsim(p);
    let (sim_n, sim_s, events) = through_sim(p);
    let raw_rate = raw_n as f64 / raw_s;
    let sim_rate = sim_n as f64 / sim_s;
    BenchSimReport {
        messages: sim_n,
        raw_madsim_msgs_per_sec: raw_rate,
        sim_msgs_per_sec: sim_rate,
        ratio: sim_rate / raw_rate,
        sim_trace_events: events,
    }
}

/// Measured disk throughput.
#[derive(Debug, Clone, Serialize)]
pub struct BenchDiskReport {
    pub nodes: usize,
    pub ops: u64,
    pub wall_sec: f64,
    pub ops_per_sec: f64,
    pub trace_events: u64,
}

/// `dst bench disk`: each node appends 4 KiB records to a log, syncs every 8th, and reads
/// back each record it wrote, with lost and torn writes on crash enabled (no crashes, so
/// the work is all operations). Counts every operation, reads included.
pub fn bench_disk(nodes: usize, records_per_node: u64, seed: u64) -> BenchDiskReport {
    let ops = Arc::new(AtomicU64::new(0));
    let mut cfg = SimConfig::new(seed, nodes);
    cfg.disk.faults.torn_write = 0.5;
    let started = Instant::now();
    let o = ops.clone();
    let out = sim::run(cfg, move |sim| async move {
        for i in 0..nodes {
            let o = o.clone();
            sim.start_node(i, move |ctx| {
                let o = o.clone();
                async move {
                    let disk = ctx.disk();
                    let log = disk.create("log").await.expect("create");
                    disk.sync_dir().await.expect("sync dir");
                    o.fetch_add(2, Ordering::Relaxed);
                    let record = vec![7u8; 4096];
                    for r in 0..records_per_node {
                        let at = log.append(&record).await.expect("append");
                        let mut done = 2;
                        if r % 8 == 7 {
                            log.sync_data().await.expect("sync");
                            done += 1;
                        }
                        log.read_at(at, 4096).await.expect("read");
                        o.fetch_add(done, Ordering::Relaxed);
                    }
                }
            });
        }
        let target = nodes as u64 * (2 + records_per_node * 2 + records_per_node / 8);
        while o.load(Ordering::Relaxed) < target {
            sim.sleep(Nanos::from_millis(10)).await;
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let n = ops.load(Ordering::Relaxed);
    BenchDiskReport {
        nodes,
        ops: n,
        wall_sec: wall,
        ops_per_sec: n as f64 / wall,
        trace_events: out.trace.len(),
    }
}

/// What `dst bench raft` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRaftReport {
    pub seeds: u64,
    pub wall_sec: f64,
    pub seeds_per_sec: f64,
    pub sim_sec_per_wall_sec: f64,
    pub passed: u64,
}

/// The reference Raft scenario of the benchmark: 5 servers, 3 clients, 10 simulated
/// seconds, one partition and one leader crash, every check on (linearizability included).
pub fn raft_reference() -> crate::scenario::Scenario {
    use crate::scenario::{Fault, Scheduled};
    let mut s = crate::builtin::find("raft/partition-halves").expect("built in");
    s.name = "raft/partition-halves".into();
    s.duration = Nanos::from_secs(10);
    let at = |ms, fault| Scheduled::new(Nanos::from_millis(ms), fault);
    s.faults = vec![
        at(2000, Fault::Partition(sim::Topology::Halves)),
        at(3500, Fault::Heal),
        at(5000, Fault::CrashLeader),
        at(6000, Fault::RestartCrashed),
    ];
    s
}

/// Runs the reference scenario for `seeds` seeds on this thread (one core).
pub fn bench_raft(seeds: u64) -> BenchRaftReport {
    bench_scenario(&raft_reference(), seeds)
}

/// Seeds per second and simulated seconds per wall second of any scenario, one core.
pub fn bench_scenario(s: &crate::scenario::Scenario, seeds: u64) -> BenchRaftReport {
    let started = Instant::now();
    let mut passed = 0;
    for seed in 0..seeds {
        let r = crate::runner::run_scenario(s, seed, &crate::runner::RunOptions::default());
        if r.report.verdict == crate::report::Verdict::Pass {
            passed += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    BenchRaftReport {
        seeds,
        wall_sec: wall,
        seeds_per_sec: seeds as f64 / wall,
        sim_sec_per_wall_sec: seeds as f64 * s.duration.0 as f64 / 1e9 / wall,
        passed,
    }
}
