//! `dst check` as a user runs it: exit codes over several files, duration and size options
//! that refuse what they cannot hold, unknown verdicts that say which partitions and why,
//! and every system's `--history` (or trace) checkable by the matching `dst check` command.

mod common;
use checkers::generate::{self, HardKeySpec, LinBug, LinModel, LinSpec};
use common::{dst, json, scratch};
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn kv(bug: Option<LinBug>) -> String {
    generate::lin_history(&LinSpec {
        model: LinModel::Kv,
        ops: 60,
        clients: 4,
        keys: 3,
        crash_percent: 5,
        seed: 9,
        bug,
    })
}

/// Undecidable key "0" with no violation elsewhere: unknown under a small memory cap.
fn hard() -> String {
    generate::hard_key_history(&HardKeySpec {
        ops: 200,
        clients: 5,
        keys: 3,
        hard_puts: 30,
        violations: 0,
        seed: 1,
    })
}

#[test]
fn several_files_exit_by_the_most_serious_verdict_and_json_keeps_each() {
    let d = scratch("check-several");
    let ok = write(&d, "ok.jsonl", &kv(None));
    let bad = write(&d, "bad.jsonl", &kv(Some(LinBug::StaleRead)));
    let unknown = write(&d, "unknown.jsonl", &hard());
    let broken = write(&d, "broken.jsonl", "{\"process\":1,\"type\":\"invoke\"\n");
    let lin = |files: &[&str]| {
        let mut args = vec!["check", "lin", "--model", "kv", "--max-memory", "4MiB"];
        args.extend_from_slice(files);
        dst(&args).status.code()
    };
    assert_eq!(lin(&[&ok, &ok]), Some(0));
    assert_eq!(lin(&[&ok, &unknown]), Some(3));
    assert_eq!(lin(&[&unknown, &broken, &ok]), Some(2));
    assert_eq!(lin(&[&unknown, &broken, &bad, &ok]), Some(1));
    let out = dst(&[
        "check",
        "lin",
        "--model",
        "kv",
        "--max-memory",
        "4MiB",
        "--json",
        &unknown,
        &broken,
        &bad,
        &ok,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    let verdicts: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["unknown", "bad-input", "not-linearizable", "linearizable"]
    );
    // The unknown file names its undecided partition, why, and the cap.
    let u = &v["files"][0]["progress"];
    assert_eq!(u["undecided"][0]["partition"], "\"0\"");
    assert_eq!(u["undecided"][0]["reason"], "memory limit");
    assert_eq!(u["max_cache_bytes"], 4 << 20);
    assert_eq!(v["total"]["exit_code"], 1);
}

#[test]
fn unknown_says_which_partitions_stayed_undecided() {
    let d = scratch("check-unknown");
    let f = write(&d, "hard.jsonl", &hard());
    let out = dst(&["check", "lin", "--model", "kv", "--max-memory", "4MiB", &f]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("memory cap 4.0 MiB"), "{text}");
    assert!(
        text.contains("partition \"0\"") && text.contains("memory limit"),
        "{text}"
    );
    // A time limit reads as one too, and stops the search well within a wide margin.
    let start = std::time::Instant::now();
    let out = dst(&["check", "lin", "--model", "kv", "--timeout", "300ms", &f]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("time limit"));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn the_timeout_holds_while_a_large_history_is_still_being_read() {
    let d = scratch("check-timeout-read");
    // 40,000 operations: reading them takes far longer than a millisecond.
    let big = write(
        &d,
        "big.jsonl",
        &generate::lin_history(&LinSpec {
            model: LinModel::Kv,
            ops: 40_000,
            clients: 20,
            keys: 200,
            crash_percent: 2,
            seed: 3,
            bug: None,
        }),
    );
    let out = dst(&["check", "lin", "--model", "kv", "--timeout", "1ms", &big]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("passed while reading the history"), "{text}");
    let out = dst(&[
        "check",
        "lin",
        "--model",
        "kv",
        "--timeout",
        "1ms",
        "--json",
        &big,
    ]);
    let v = json(&out);
    assert_eq!(v["files"][0]["verdict"], "unknown", "{v}");
    assert_eq!(v["files"][0]["progress"]["reason"], "time limit", "{v}");
    // With time enough, the same file is decided.
    let out = dst(&["check", "lin", "--model", "kv", &big]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn duration_and_size_options_refuse_what_they_cannot_hold() {
    let d = scratch("check-durations");
    let f = write(&d, "ok.jsonl", &kv(None));
    for args in [
        &[
            "check",
            "lin",
            "--model",
            "kv",
            "--timeout",
            "99999999999999999999h",
            &f,
        ][..],
        &["check", "lin", "--model", "kv", "--timeout", "1e999s", &f],
        &[
            "check",
            "lin",
            "--model",
            "kv",
            "--max-memory",
            "99999999999999999999GiB",
            &f,
        ],
        &[
            "check",
            "lin",
            "--model",
            "kv",
            "--max-memory",
            "12 parsecs",
            &f,
        ],
        &[
            "fuzz",
            "--time",
            "99999999999999999999s",
            "--corpus",
            "x.json",
        ],
        &["bench", "html", "--duration", "99999999999999999999min"],
    ] {
        let out = dst(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
}

#[test]
fn every_systems_history_is_checkable_by_its_dst_check() {
    let d = scratch("check-systems");
    let path = |n: &str| d.join(n).display().to_string();
    // Raft: a key-value history, linearizable.
    let out = dst(&[
        "run",
        "raft/partition-halves",
        "--seed",
        "0",
        "--history",
        &path("raft.jsonl"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dst(&[
        "check",
        "lin",
        "--model",
        "kv",
        "--json",
        &path("raft.jsonl"),
    ]);
    assert_eq!(json(&out)["files"][0]["verdict"], "linearizable");
    assert_eq!(out.status.code(), Some(0));
    // raft-rs: the same key-value history through the generic recorder; and the history
    // of a planted bug (a retried append applied twice) is a violation for `check lin` too.
    for (bug, verdict, code) in [
        (None, "linearizable", 0),
        (Some("raft-rs:no-session"), "not-linearizable", 1),
    ] {
        let h = path(&format!("raftrs-{}.jsonl", bug.is_some()));
        let mut args = vec!["run", "raft-rs/lossy", "--seed", "0", "--history", &h];
        if let Some(b) = bug {
            args.extend(["--bug", b]);
        }
        let out = dst(&args);
        assert_ne!(out.status.code(), Some(2), "{args:?}");
        let out = dst(&["check", "lin", "--model", "kv", "--json", &h]);
        assert_eq!(json(&out)["files"][0]["verdict"], verdict, "{bug:?}");
        assert_eq!(out.status.code(), Some(code), "{bug:?}");
    }
    // Two-phase commit: list-append transactions, bank transfers and audits in one history.
    for seed in ["0", "1"] {
        let h = path(&format!("twopc-{seed}.jsonl"));
        let out = dst(&[
            "run",
            "twopc/crash-coordinator",
            "--seed",
            seed,
            "--history",
            &h,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = dst(&[
            "check",
            "txn",
            "--json",
            "--process-edges",
            "--realtime-edges",
            &h,
        ]);
        let v = json(&out);
        assert_eq!(v["files"][0]["verdict"], "serializable", "{v}");
        let notes = v["files"][0]["notes"].to_string();
        assert!(
            notes.contains("list-append") && notes.contains("bank"),
            "{notes}"
        );
        assert_eq!(out.status.code(), Some(0));
        // Explicitly list-append, the bank transactions are refused in one line, not skipped.
        let out = dst(&["check", "txn", "--workload", "list-append", &h]);
        assert_eq!(out.status.code(), Some(2));
    }
    // Gossip promises no linearizability; its trace is what `check causal` reads: every clock
    // is consistent, and what it reports is only the network's non-causal delivery.
    let out = dst(&[
        "run",
        "gossip/partition-halves",
        "--seed",
        "0",
        "--trace",
        &path("gossip-trace.jsonl"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = dst(&["check", "causal", "--json", &path("gossip-trace.jsonl")]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["files"][0]["verdict"], "valid", "{v}");
    let unordered = v["files"][0]["unordered_deliveries"].as_u64().unwrap();
    // Asked to require causal delivery, exactly those deliveries are the problems.
    let out = dst(&[
        "check",
        "causal",
        "--json",
        "--causal-delivery",
        &path("gossip-trace.jsonl"),
    ]);
    let v = json(&out);
    assert_eq!(
        v["files"][0]["problems_total"].as_u64().unwrap(),
        unordered,
        "{v}"
    );
    for p in v["files"][0]["problems"].as_array().into_iter().flatten() {
        assert_eq!(p["kind"], "causal-delivery", "{p}");
    }
    assert_eq!(
        out.status.code(),
        Some(if unordered > 0 { 1 } else { 0 }),
        "{v}"
    );
}

#[test]
fn bench_check_writes_its_histories_in_both_formats_and_never_overwrites() {
    let d = scratch("bench-out");
    let out_dir = d.join("gen").display().to_string();
    let out = dst(&["bench", "check", "--quick", "--out", &out_dir]);
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["kv-c50", "kv-hard-key", "kv-100k", "list-append-100k"] {
        let native = d.join("gen").join(format!("{name}.jsonl"));
        let edn = d.join("gen").join(format!("{name}.edn"));
        assert!(native.is_file() && edn.is_file(), "{name}");
        // Both say the same thing.
        let a = checkers::history::read_file(&native, None).unwrap();
        let b = checkers::history::read_file(&edn, None).unwrap();
        assert_eq!(a.events.len(), b.events.len(), "{name}");
        assert_eq!(a.events[0].value, b.events[0].value, "{name}");
    }
    let hard = d
        .join("gen")
        .join("kv-hard-key.jsonl")
        .display()
        .to_string();
    let out = dst(&["check", "lin", "--model", "kv", &hard]);
    assert_eq!(out.status.code(), Some(1));
    // A second run refuses to replace what is there.
    let out = dst(&["bench", "check", "--quick", "--out", &out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
}
