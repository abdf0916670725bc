//! The gossip state machine without the simulator: a write spreads to every server by
//! push-pull anti-entropy in a number of rounds that grows like log N.

use std::collections::VecDeque;

use nodes::gossip::machine::{GossipConfig, GossipMachine};
use nodes::gossip::msg::{ClientOp, GossipMsg};
use nodes::gossip::store::WriteId;
use nodes::gossip::Bugs;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Rounds until a write taken at server 0 is on all `n` servers (messages take 1 ms).
fn rounds_to_spread(n: usize, seed: u64) -> u64 {
    let config = GossipConfig {
        copies: 1,
        ..GossipConfig::default()
    };
    let mut ms: Vec<GossipMachine> = (0..n)
        .map(|i| {
            let rng = ChaCha8Rng::seed_from_u64(seed * 1000 + i as u64);
            GossipMachine::new(i, n, 0, None, config, Bugs::none(), rng, 0)
        })
        .collect();
    let op = ClientOp::Put {
        key: "k".into(),
        id: WriteId::new(n, 1),
        value: 1,
    };
    ms[0].step(0, 0, n, GossipMsg::Request { seq: 1, op });
    let mut in_flight: VecDeque<(u64, usize, usize, GossipMsg)> = VecDeque::new();
    for ms_now in 0..10_000u64 {
        let now = ms_now * 1_000_000;
        while in_flight.front().is_some_and(|m| m.0 <= now) {
            let (_, from, to, msg) = in_flight.pop_front().unwrap();
            ms[to].step(now, 0, from, msg);
        }
        for (i, m) in ms.iter_mut().enumerate() {
            if m.next_deadline() <= now {
                m.tick(now);
            }
            for (to, msg) in m.take_ready().messages {
                if to < n {
                    in_flight.push_back((now + 1_000_000, i, to, msg));
                }
            }
        }
        if ms.iter().all(|m| m.store().read("k") == vec![1]) {
            return now.div_ceil(config.gossip_interval.0);
        }
    }
    panic!("a write did not spread to {n} servers in 10 s");
}

#[test]
fn spreading_takes_logarithmically_many_rounds() {
    let avg = |n: usize| (0..3).map(|s| rounds_to_spread(n, s)).sum::<u64>() as f64 / 3.0;
    let (r5, r17, r65) = (avg(5), avg(17), avg(65));
    // log2 N + ln N is the push-pull epidemic's expectation; allow slack, but not linear.
    assert!(r5 <= r17 && r17 <= r65, "rounds {r5} {r17} {r65}");
    assert!(r65 <= 12.0, "65 servers took {r65} rounds: not logarithmic");
    assert!(r65 < r5 * 6.0, "rounds grew too fast: {r5} -> {r65}");
}
