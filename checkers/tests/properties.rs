//! Property tests: generated correct histories pass, planted bugs are always caught, and
//! mangled input never panics any parser.

use checkers::causality;
use checkers::generate::{self, LinBug, LinModel, LinSpec, TraceSpec, TxnBug, TxnSpec};
use checkers::history::{pair, parse_str, Format};
use checkers::linearizability::{check_with, ModelKind, Options, Verdict};
use checkers::serializability::{self as ser, Workload};
use proptest::prelude::*;

const MODELS: [(LinModel, ModelKind); 5] = [
    (LinModel::Register, ModelKind::Register),
    (LinModel::CasRegister, ModelKind::CasRegister),
    (LinModel::Kv, ModelKind::Kv),
    (LinModel::Set, ModelKind::Set),
    (LinModel::Queue, ModelKind::Queue),
];

fn lin_verdict(text: &str, kind: ModelKind) -> Verdict {
    let h = parse_str("gen.jsonl", text, Some(Format::Native)).unwrap();
    check_with(kind, None, &pair(&h).unwrap(), &Options::default())
        .unwrap()
        .verdict
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn sequential_model_runs_are_linearizable(
        m in 0usize..5, ops in 1usize..120, clients in 1usize..6, keys in 1usize..4,
        crash in 0u32..25, seed in any::<u64>(),
    ) {
        let (gm, kind) = MODELS[m];
        // Crashed enqueues may take effect in any order at any later time: the search space
        // grows exponentially with those that did and were dequeued (a known limit of WGL
        // search), so queues are generated without crashes here. Sets keep them: crashed
        // adds no read shows are dropped before the search, and one a read shows is
        // bounded by that read.
        let crash = if gm == LinModel::Queue { 0 } else { crash };
        // Concurrent enqueues multiply the queue orders the search must keep apart until
        // a dequeue tells them apart; keep queue histories to two clients.
        let clients = if gm == LinModel::Queue { clients.min(2) } else { clients };
        let spec = LinSpec { model: gm, ops, clients, keys, crash_percent: crash, seed, bug: None };
        let v = lin_verdict(&generate::lin_history(&spec), kind);
        prop_assert_eq!(v.name(), "linearizable", "{:?}", v);
    }

    #[test]
    fn planted_lin_bugs_are_caught(
        m in 0usize..5, bug in 0usize..3, ops in 0usize..60, clients in 1usize..5,
        crash in 0u32..10, seed in any::<u64>(),
    ) {
        let (gm, kind) = MODELS[m];
        let bug = [LinBug::StaleRead, LinBug::LostWrite, LinBug::DuplicateAppend][bug];
        // A lost write is only definite without crashes: a crashed write may land later.
        let crash = if bug == LinBug::LostWrite || matches!(gm, LinModel::Set | LinModel::Queue) { 0 } else { crash };
        // As above: four concurrent enqueuers can leave a queue history beyond the search's
        // memory cap (seed 11485076202063068263, 41 ops, was `unknown`), which is no verdict
        // on the bug; two clients keep every queue history decidable.
        let clients = if gm == LinModel::Queue { clients.min(2) } else { clients };
        let spec = LinSpec { model: gm, ops, clients, keys: 2, crash_percent: crash, seed, bug: Some(bug) };
        let v = lin_verdict(&generate::lin_history(&spec), kind);
        prop_assert_eq!(v.name(), "not-linearizable", "{:?} {:?}", gm, bug);
    }

    #[test]
    fn serial_transactions_have_no_anomalies(
        txns in 1usize..150, clients in 1usize..6, keys in 2usize..6, crash in 0u32..15,
        fail in 0u32..15, seed in any::<u64>(),
    ) {
        let spec = TxnSpec { txns, clients, keys, max_mops: 4, crash_percent: crash, fail_percent: fail, seed, bug: None };
        let h = parse_str("gen.jsonl", &generate::list_append_history(&spec), None).unwrap();
        let opts = ser::Options { process_edges: true, realtime_edges: true };
        let r = ser::check(&pair(&h).unwrap(), Workload::ListAppend, &opts).unwrap();
        prop_assert!(r.is_valid(), "{:#?}", r.anomalies);
    }

    #[test]
    fn planted_cycles_are_classified(
        bug in 0usize..3, txns in 0usize..100, clients in 2usize..6, crash in 0u32..15, seed in any::<u64>(),
    ) {
        let (bug, want) = [(TxnBug::G0, "G0"), (TxnBug::G1c, "G1c"), (TxnBug::G2, "G2")][bug];
        let spec = TxnSpec { txns, clients, keys: 3, max_mops: 4, crash_percent: crash, fail_percent: 5, seed, bug: Some(bug) };
        let h = parse_str("gen.jsonl", &generate::list_append_history(&spec), None).unwrap();
        let r = ser::check(&pair(&h).unwrap(), Workload::ListAppend, &ser::Options::default()).unwrap();
        let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind.as_str()).collect();
        prop_assert_eq!(kinds, vec![want]);
    }

    #[test]
    fn generated_traces_validate_and_planted_reordering_is_caught(
        events in 1usize..400, hosts in 3usize..7, seed in any::<u64>(), plant in any::<bool>(),
    ) {
        let text = generate::trace(&TraceSpec { events, hosts, seed, causal_violation: plant });
        let r = causality::check(&causality::parse_trace("gen.jsonl", &text).unwrap());
        if plant {
            prop_assert!(r.problems.iter().any(|p| p.kind == "causal-delivery"), "{:?}", r.problems);
            prop_assert!(r.problems.iter().all(|p| p.kind == "causal-delivery"), "{:?}", r.problems);
        } else {
            prop_assert!(r.is_valid(), "{:?}", r.problems);
        }
    }
}

/// Samples of every input format, to be mangled.
fn samples() -> Vec<(&'static str, String)> {
    let native = generate::lin_history(&LinSpec {
        model: LinModel::Kv,
        ops: 6,
        clients: 2,
        keys: 2,
        crash_percent: 20,
        seed: 7,
        bug: None,
    });
    let txn = generate::list_append_history(&TxnSpec {
        txns: 4,
        clients: 2,
        keys: 2,
        max_mops: 3,
        crash_percent: 10,
        fail_percent: 10,
        seed: 3,
        bug: Some(TxnBug::G1c),
    });
    let edn = "[{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"} ; c\n {:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n {:process 1 :type :invoke :f :txn :value [[:r 1 nil] [:append 2 #{3}]]}]\n";
    let log = "INFO  jepsen.util - 3\t:invoke\t:cas\t[2 1]\nINFO  jepsen.util - 3\t:ok\t:cas\t[2 1]\nINFO  jepsen.util - 1 :invoke :read nil\nINFO  jepsen.util - 1 :info :read \"x\\\"y\"\n";
    let trace = generate::trace(&TraceSpec {
        events: 8,
        hosts: 3,
        seed: 1,
        causal_violation: false,
    });
    let govector = "a {\"a\":1}\nsend m\nb {\"a\":1, \"b\":1}\nrecv m\n".to_string();
    let audit = "{\"write\":\"w1\",\"key\":\"x\",\"vc\":{\"a\":1},\"vv\":{\"s\":1}}\n{\"survivors\":[\"w1\"],\"key\":\"x\"}\n".to_string();
    vec![
        ("native", native),
        ("txn", txn),
        ("edn", edn.to_string()),
        ("log", log.to_string()),
        ("trace", trace),
        ("govector", govector),
        ("audit", audit),
    ]
}

/// Runs every reader (and the checkers behind it) on `text`; errors must be clean.
fn exercise(kind: &str, text: &str) -> Result<(), String> {
    let lines = text.lines().count().max(1);
    let clean = |e: checkers::InputError| -> Result<(), String> {
        if e.file != "fuzz" || e.line > lines + 1 || e.message.is_empty() {
            return Err(format!("unclean error: {e:?}"));
        }
        Ok(())
    };
    match kind {
        "trace" | "govector" => match causality::parse_trace("fuzz", text) {
            Ok(t) => {
                causality::check(&t);
                causality::shiviz::export(&t);
                Ok(())
            }
            Err(e) => clean(e),
        },
        "audit" => match causality::audit::parse_audit("fuzz", text) {
            Ok(a) => {
                causality::audit::audit(&a);
                Ok(())
            }
            Err(e) => clean(e),
        },
        _ => {
            for fmt in [
                None,
                Some(Format::Native),
                Some(Format::Edn),
                Some(Format::JepsenLog),
            ] {
                let ops = match parse_str("fuzz", text, fmt).and_then(|h| pair(&h)) {
                    Ok(ops) => ops,
                    Err(e) => {
                        clean(e)?;
                        continue;
                    }
                };
                let short = Options {
                    timeout: Some(std::time::Duration::from_millis(200)),
                    ..Options::default()
                };
                for (_, kind) in MODELS {
                    if let Err(e) = check_with(kind, None, &ops, &short) {
                        clean(e)?;
                    }
                }
                for w in [Workload::ListAppend, Workload::RwRegister] {
                    if let Err(e) = ser::check(
                        &ops,
                        w,
                        &ser::Options {
                            process_edges: true,
                            realtime_edges: true,
                        },
                    ) {
                        clean(e)?;
                    }
                }
            }
            Ok(())
        }
    }
}

#[derive(Debug, Clone)]
enum Mangle {
    Truncate(usize),
    Replace(usize, char),
    Insert(usize, String),
    Delete(usize, usize),
    DuplicateLine(usize),
}

fn apply(text: &str, m: &Mangle) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| {
        if chars.is_empty() {
            0
        } else {
            i % (chars.len() + 1)
        }
    };
    match m {
        Mangle::Truncate(i) => chars[..at(*i)].iter().collect(),
        Mangle::Replace(i, c) => {
            let mut v = chars.clone();
            if !v.is_empty() {
                let i = i % v.len();
                v[i] = *c;
            }
            v.into_iter().collect()
        }
        Mangle::Insert(i, s) => {
            let mut v = chars.clone();
            let i = at(*i);
            v.splice(i..i, s.chars());
            v.into_iter().collect()
        }
        Mangle::Delete(i, n) => {
            let mut v = chars.clone();
            let i = at(*i);
            let j = (i + n).min(v.len());
            v.drain(i..j);
            v.into_iter().collect()
        }
        Mangle::DuplicateLine(i) => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = i % lines.len();
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
    }
}

fn mangle() -> impl Strategy<Value = Mangle> {
    let noise = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "\\",
        "nil",
        "-",
        "99999999999999999999",
        "#",
        ";",
        "\n",
        "\u{e9}",
        ":invoke",
        "null",
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mangle::Truncate),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mangle::Replace(i, c)),
        (any::<usize>(), prop::collection::vec(noise, 1..4))
            .prop_map(|(i, s)| Mangle::Insert(i, s.concat())),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Mangle::Delete(i, n)),
        any::<usize>().prop_map(Mangle::DuplicateLine),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn mangled_input_never_panics(which in 0usize..7, ms in prop::collection::vec(mangle(), 1..4)) {
        let (kind, text) = samples().swap_remove(which);
        let mut t = text;
        for m in &ms {
            t = apply(&t, m);
        }
        if let Err(e) = exercise(kind, &t) {
            return Err(TestCaseError::fail(format!("{kind} {ms:?}: {e}")));
        }
    }
}

#[test]
fn samples_parse_before_mangling() {
    for (kind, text) in samples() {
        exercise(kind, &text).unwrap();
    }
    // And a truncated line names the file, the line and what was expected.
    let e = parse_str(
        "h.jsonl",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"ty",
        None,
    )
    .unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("h.jsonl", 2));
    assert!(e.message.contains("expected"), "{}", e.message);
}
