//! Planted anomalies are caught and named; valid histories pass.

use checkers::history::compact::CompactHistory;
use checkers::history::{pair, parse_str};
use checkers::serializability::{self as ser, check, Options, Report, Workload};
use serde_json::json;

/// Builds a native history: each txn is (process, completion type, invoke value, ok value),
/// run one after another (no concurrency unless `concurrent`).
fn run(txns: &[(i64, &str, serde_json::Value)], workload: Workload, concurrent: bool) -> Report {
    let mut lines = Vec::new();
    let invoke = |p: i64, v: &serde_json::Value| {
        // Invocations carry reads with nil values, as a client would record them.
        let inv: Vec<serde_json::Value> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    m.clone()
                }
            })
            .collect();
        json!({"process": p, "type": "invoke", "f": "txn", "value": inv}).to_string()
    };
    if concurrent {
        for (p, _, v) in txns {
            lines.push(invoke(*p, v));
        }
        for (p, ty, v) in txns {
            lines.push(json!({"process": p, "type": ty, "f": "txn", "value": v}).to_string());
        }
    } else {
        for (p, ty, v) in txns {
            lines.push(invoke(*p, v));
            lines.push(json!({"process": p, "type": ty, "f": "txn", "value": v}).to_string());
        }
    }
    let h = parse_str("planted.jsonl", &lines.join("\n"), None).unwrap();
    let report = check(&pair(&h).unwrap(), workload, &Options::default()).unwrap();
    // The streamed check over the same events kept compactly finds exactly the same.
    let compact = CompactHistory::from(&h.events[..]);
    let streamed = ser::check_compact(
        &compact,
        "planted.jsonl",
        |_| true,
        workload,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(report.anomalies, streamed.anomalies);
    assert_eq!((report.txns, report.edges), (streamed.txns, streamed.edges));
    report
}

#[test]
fn streamed_transactions_are_the_paired_ones() {
    // Committed, aborted, indeterminate and never-completed transactions, interleaved, and
    // events of another `f` that the streamed reading skips.
    let lines = [
        json!({"process": 0, "type": "invoke", "f": "txn", "value": [["append", "x", 1]]}),
        json!({"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", null]]}),
        json!({"process": 2, "type": "invoke", "f": "transfer", "value": [1]}),
        json!({"process": 3, "type": "invoke", "f": "txn", "value": [["append", "y", 1]]}),
        json!({"process": 1, "type": "fail", "f": "txn", "value": [["r", "x", null]]}),
        json!({"process": 2, "type": "ok", "f": "transfer", "value": [1]}),
        json!({"process": 0, "type": "ok", "f": "txn", "value": [["append", "x", 1]]}),
        json!({"process": 1, "type": "invoke", "f": "txn", "value": [["r", "x", null]]}),
        json!({"process": 3, "type": "info", "f": "txn", "value": [["append", "y", 1]]}),
        json!({"process": 1, "type": "ok", "f": "txn", "value": [["r", "x", [1]]]}),
        json!({"process": 4, "type": "invoke", "f": "txn", "value": [["append", "x", 2]]}),
    ];
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let h = parse_str("t.jsonl", &text.join("\n"), None).unwrap();
    let only: Vec<_> = h.events.iter().filter(|e| e.f == "txn").cloned().collect();
    let paired = pair(&checkers::history::History::new("t.jsonl", only)).unwrap();
    let direct = ser::transactions_owned(paired, Workload::ListAppend).unwrap();
    let compact = CompactHistory::from(&h.events[..]);
    let streamed =
        ser::transactions_compact(&compact, "t.jsonl", |f| f == "txn", Workload::ListAppend)
            .unwrap();
    assert_eq!(direct.len(), 5);
    assert_eq!(format!("{direct:?}"), format!("{streamed:?}"));
    // A malformed transaction is the same first error either way.
    let bad = text.join("\n").replace("[[\"r\",\"x\",[1]]]", "7");
    let h = parse_str("t.jsonl", &bad, None).unwrap();
    let only: Vec<_> = h.events.iter().filter(|e| e.f == "txn").cloned().collect();
    let paired = pair(&checkers::history::History::new("t.jsonl", only)).unwrap();
    let direct = ser::transactions_owned(paired, Workload::ListAppend).unwrap_err();
    let compact = CompactHistory::from(&h.events[..]);
    let streamed =
        ser::transactions_compact(&compact, "t.jsonl", |f| f == "txn", Workload::ListAppend)
            .unwrap_err();
    assert_eq!(
        (direct.line, direct.message),
        (streamed.line, streamed.message)
    );
}

fn kinds(r: &Report) -> Vec<String> {
    r.anomalies.iter().map(|a| a.kind.clone()).collect()
}

#[test]
fn serial_list_append_is_serializable() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1], ["r", "x", [1]]])),
            (
                1,
                "ok",
                json!([["r", "x", [1]], ["append", "x", 2], ["append", "y", 1]]),
            ),
            (0, "ok", json!([["r", "x", [1, 2]], ["r", "y", [1]]])),
        ],
        Workload::ListAppend,
        false,
    );
    assert!(r.is_valid(), "{:#?}", r.anomalies);
    assert!(r.edges >= 3);
}

#[test]
fn planted_g0_is_found() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1], ["append", "y", 2]])),
            (1, "ok", json!([["append", "x", 2], ["append", "y", 1]])),
            (2, "ok", json!([["r", "x", [1, 2]], ["r", "y", [1, 2]]])),
        ],
        Workload::ListAppend,
        true,
    );
    assert_eq!(kinds(&r), vec!["G0"]);
    assert_eq!(r.anomalies[0].explanation.len(), 2);
    assert!(
        r.anomalies[0].explanation[0].contains("appended"),
        "{:?}",
        r.anomalies[0].explanation
    );
}

#[test]
fn planted_g1c_is_found() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1], ["r", "y", [1]]])),
            (1, "ok", json!([["append", "y", 1], ["r", "x", [1]]])),
        ],
        Workload::ListAppend,
        true,
    );
    assert_eq!(kinds(&r), vec!["G1c"]);
}

#[test]
fn planted_g_single_is_found() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1], ["append", "y", 1]])),
            (1, "ok", json!([["r", "x", []], ["r", "y", [1]]])),
            (2, "ok", json!([["r", "x", [1]]])),
        ],
        Workload::ListAppend,
        true,
    );
    assert_eq!(kinds(&r), vec!["G-single"]);
}

#[test]
fn planted_write_skew_is_g2() {
    let r = run(
        &[
            (
                0,
                "ok",
                json!([["r", "x", []], ["r", "y", []], ["append", "x", 1]]),
            ),
            (
                1,
                "ok",
                json!([["r", "x", []], ["r", "y", []], ["append", "y", 1]]),
            ),
            (2, "ok", json!([["r", "x", [1]], ["r", "y", [1]]])),
        ],
        Workload::ListAppend,
        true,
    );
    assert_eq!(kinds(&r), vec!["G2"]);
}

#[test]
fn aborted_and_intermediate_reads() {
    let r = run(
        &[
            (0, "fail", json!([["append", "x", 1]])),
            (1, "ok", json!([["r", "x", [1]]])),
        ],
        Workload::ListAppend,
        false,
    );
    assert_eq!(kinds(&r), vec!["G1a"]);
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1], ["append", "x", 2]])),
            (1, "ok", json!([["r", "x", [1]]])),
            (2, "ok", json!([["r", "x", [1, 2]]])),
        ],
        Workload::ListAppend,
        true,
    );
    assert_eq!(kinds(&r)[0], "G1b");
}

#[test]
fn process_and_realtime_edges_find_stale_reads() {
    // T1 appends and completes; T2 starts afterwards and misses it: serializable, but not
    // in real-time order.
    let txns = [
        (0, "ok", json!([["append", "x", 1]])),
        (1, "ok", json!([["r", "x", []]])),
        (2, "ok", json!([["r", "x", [1]]])),
    ];
    assert!(run(&txns, Workload::ListAppend, false).is_valid());
    let lines: Vec<String> = txns
        .iter()
        .flat_map(|(p, ty, v)| {
            [
                json!({"process": p, "type": "invoke", "f": "txn", "value": v}).to_string(),
                json!({"process": p, "type": ty, "f": "txn", "value": v}).to_string(),
            ]
        })
        .collect();
    let h = parse_str("rt.jsonl", &lines.join("\n"), None).unwrap();
    let opts = Options {
        realtime_edges: true,
        ..Options::default()
    };
    let r = check(&pair(&h).unwrap(), Workload::ListAppend, &opts).unwrap();
    assert_eq!(kinds(&r), vec!["G-single-realtime"]);
    assert!(r.anomalies[0]
        .explanation
        .iter()
        .any(|e| e.contains("completed")));
}

#[test]
fn rw_register_cycles_are_explained() {
    let r = run(
        &[
            (0, "ok", json!([["w", "x", 1], ["r", "y", 1]])),
            (1, "ok", json!([["w", "y", 1], ["r", "x", 1]])),
        ],
        Workload::RwRegister,
        true,
    );
    assert_eq!(kinds(&r), vec!["G1c"]);
    let text = r.anomalies[0].explanation.join("; ");
    assert!(
        text.contains("T0 < T1 because T1 read x=1 which T0 wrote"),
        "{text}"
    );

    // Lost update: both read nil and overwrite it.
    let r = run(
        &[
            (0, "ok", json!([["r", "x", null], ["w", "x", 1]])),
            (1, "ok", json!([["r", "x", null], ["w", "x", 2]])),
        ],
        Workload::RwRegister,
        true,
    );
    assert_eq!(kinds(&r), vec!["G2"]);

    let r = run(
        &[
            (0, "ok", json!([["r", "x", null], ["w", "x", 1]])),
            (1, "ok", json!([["r", "x", 1], ["w", "x", 2]])),
            (0, "ok", json!([["r", "x", 2]])),
        ],
        Workload::RwRegister,
        false,
    );
    assert!(r.is_valid(), "{:#?}", r.anomalies);
}

/// dst's 2PC clients mix list-append transactions, bank transfers and audits in one
/// history: without a workload each goes to its own checker, and an audit that sees money
/// made or lost is caught.
#[test]
fn mixed_workloads_are_split_and_a_wrong_bank_total_is_caught() {
    let lines = |audit2: i64| {
        [
            r#"{"process":0,"type":"invoke","f":"txn","value":[["append","l1",1],["r","l2",null]]}"#.to_string(),
            r#"{"process":0,"type":"ok","f":"txn","value":[["append","l1",1],["r","l2",[]]]}"#.to_string(),
            r#"{"process":1,"type":"invoke","f":"audit","value":[["r","a0",null],["r","a1",null]]}"#.to_string(),
            r#"{"process":1,"type":"ok","f":"audit","value":[["r","a0",100],["r","a1",100]]}"#.to_string(),
            r#"{"process":2,"type":"invoke","f":"transfer","value":[["add","a0",-5],["add","a1",5]]}"#.to_string(),
            r#"{"process":2,"type":"ok","f":"transfer","value":[["add","a0",-5],["add","a1",5]]}"#.to_string(),
            r#"{"process":1,"type":"invoke","f":"audit","value":[["r","a0",null],["r","a1",null]]}"#.to_string(),
            format!(r#"{{"process":1,"type":"ok","f":"audit","value":[["r","a0",95],["r","a1",{audit2}]]}}"#),
            r#"{"process":3,"type":"invoke","f":"audit","value":[["r","a0",null],["r","a1",null]]}"#.to_string(),
            r#"{"process":3,"type":"fail","f":"audit","value":[["r","a0",null],["r","a1",null]]}"#.to_string(),
        ]
        .join("\n")
    };
    let check = |text: &str| {
        let ops = pair(&parse_str("2pc.jsonl", text, None).unwrap()).unwrap();
        ser::check_mixed(ops, &ser::Options::default()).unwrap()
    };
    let good = check(&lines(105));
    assert!(good.is_valid(), "{:?}", good.anomalies);
    assert!(
        good.notes
            .iter()
            .any(|n| n.contains("2 list-append") || n.contains("1 list-append")),
        "{:?}",
        good.notes
    );
    assert!(
        good.notes.iter().any(|n| n.contains("bank")),
        "{:?}",
        good.notes
    );
    let bad = check(&lines(104));
    assert_eq!(bad.anomalies.len(), 1, "{:?}", bad.anomalies);
    assert_eq!(bad.anomalies[0].kind, "wrong-total");
    assert_eq!(bad.anomalies[0].lines[0], 7); // the bad audit's invocation
                                              // Told it is list-append only, the bank transactions are bad input, not skipped.
    let ops = pair(&parse_str("2pc.jsonl", &lines(105), None).unwrap()).unwrap();
    assert!(ser::check(&ops, Workload::ListAppend, &ser::Options::default()).is_err());
}

/// The transactions an anomaly names, as their `T<n>` ids.
fn named(a: &ser::Anomaly) -> Vec<String> {
    a.txns
        .iter()
        .map(|t| t.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn an_aborted_append_is_g1a_only_for_the_reads_that_include_it() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1]])),
            (1, "fail", json!([["append", "x", 2]])),
            (2, "ok", json!([["r", "x", [1]]])),
            (3, "ok", json!([["r", "x", [1, 2]]])),
        ],
        Workload::ListAppend,
        false,
    );
    assert_eq!(kinds(&r), vec!["G1a"], "{:#?}", r.anomalies);
    assert_eq!(named(&r.anomalies[0]), vec!["T3", "T1"]);
    assert!(
        r.anomalies[0].explanation[0].contains("x=[1 2]"),
        "{:?}",
        r.anomalies[0]
    );
    // No dependency touches the aborted transaction: only T0 -> T2 (T2 read T0's append).
    assert_eq!(r.edges, 1, "{r:?}");
}

#[test]
fn reads_that_disagree_on_the_order_are_named_and_nothing_else_is_blamed() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1]])),
            (1, "ok", json!([["append", "x", 2]])),
            (2, "ok", json!([["append", "x", 3]])),
            (3, "ok", json!([["r", "x", [1, 2, 3]]])),
            (4, "ok", json!([["r", "x", [1, 3]]])),
        ],
        Workload::ListAppend,
        false,
    );
    let found = kinds(&r);
    assert!(
        found.contains(&"incompatible-order".to_string()),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|k| k == "G1a" || k == "garbage-read"),
        "every element read was appended by a committed transaction: {found:?}"
    );
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == "incompatible-order")
        .unwrap();
    assert_eq!(named(a), vec!["T4", "T3"]);
}

#[test]
fn a_read_with_an_element_twice_names_that_read() {
    let r = run(
        &[
            (0, "ok", json!([["append", "x", 1]])),
            (1, "ok", json!([["r", "x", [1, 1]]])),
            (2, "ok", json!([["r", "x", [1]]])),
        ],
        Workload::ListAppend,
        false,
    );
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == "duplicate-elements")
        .expect("duplicate-elements");
    assert_eq!(named(a), vec!["T1"]);
}

#[test]
fn rw_register_reads_of_the_initial_state_order_before_every_writer() {
    // Write skew through the initial state: each reads nil where the other writes.
    let r = run(
        &[
            (0, "ok", json!([["r", "x", null], ["w", "y", 1]])),
            (1, "ok", json!([["r", "y", null], ["w", "x", 1]])),
        ],
        Workload::RwRegister,
        true,
    );
    assert_eq!(kinds(&r), vec!["G2"], "{:#?}", r.anomalies);
}

#[test]
fn rw_register_version_order_comes_from_read_then_write() {
    // x and y go 1 -> 2, each by a transaction that read 1 and then wrote 2: T1 and T2 each
    // read what the other overwrote, a write skew (G2) no single edge shows.
    let r = run(
        &[
            (0, "ok", json!([["w", "x", 1], ["w", "y", 1]])),
            (
                1,
                "ok",
                json!([["r", "x", 1], ["r", "y", 1], ["w", "y", 2]]),
            ),
            (
                2,
                "ok",
                json!([["r", "x", 1], ["r", "y", 1], ["w", "x", 2]]),
            ),
        ],
        Workload::RwRegister,
        true,
    );
    assert_eq!(kinds(&r), vec!["G2"], "{:#?}", r.anomalies);
    assert!(r.anomalies[0].txns.iter().any(|t| t.starts_with("T1")));
    assert!(r.anomalies[0].txns.iter().any(|t| t.starts_with("T2")));
}

#[test]
fn rw_register_reads_of_aborted_writes_are_g1a() {
    let r = run(
        &[
            (0, "fail", json!([["w", "x", 1]])),
            (1, "ok", json!([["r", "x", 1]])),
        ],
        Workload::RwRegister,
        false,
    );
    assert_eq!(kinds(&r), vec!["G1a"], "{:#?}", r.anomalies);
    assert_eq!(named(&r.anomalies[0]), vec!["T1", "T0"]);
}
