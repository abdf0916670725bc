//! `dst check siblings` as a user runs it: gossip's own histories pass when the system is
//! correct and fail with the planted bugs its own checks catch (the same runs as the seed
//! corpus), the guarantee option decides which reads are judged, and hostile input gets one
//! line and exit 2.

mod common;
use common::{dst, json, scratch};
use std::path::Path;
use std::process::Output;

/// Runs a gossip scenario, writing its history; returns the in-simulation checks violated.
fn gossip(dir: &Path, scenario: &str, seed: &str, bug: Option<&str>) -> (String, Vec<String>) {
    let h = dir
        .join(format!(
            "{}-{seed}-{}.jsonl",
            scenario.replace('/', "-"),
            bug.unwrap_or("correct").replace(':', "-")
        ))
        .display()
        .to_string();
    let mut args = vec!["run", scenario, "--seed", seed, "--history", &h, "--json"];
    if let Some(b) = bug {
        args.extend(["--bug", b]);
    }
    let out = dst(&args);
    assert_ne!(
        out.status.code(),
        Some(2),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = json(&out)["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["check"].as_str().unwrap().to_string())
        .collect();
    (h, checks)
}

fn siblings(files: &[&str], extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec!["check", "siblings", "--json"];
    args.extend(extra);
    args.extend(files);
    let out = dst(&args);
    let v = json(&out);
    (out, v)
}

#[test]
fn gossip_histories_pass_when_correct_and_its_planted_bugs_are_caught_offline() {
    let d = scratch("siblings-gossip");
    for (scenario, seed) in [
        ("gossip/partition-halves", "0"),
        ("gossip/partition-halves", "1"),
        ("gossip/power-loss", "0"),
        ("gossip/clock-skew", "0"),
        ("gossip/scale-5", "0"),
        ("gossip/crash-restart", "2"),
    ] {
        let (h, checks) = gossip(&d, scenario, seed, None);
        assert!(checks.is_empty(), "{scenario} {seed}: {checks:?}");
        let (out, v) = siblings(&[&h], &[]);
        let f = &v["files"][0];
        assert_eq!(f["verdict"], "valid", "{scenario} {seed}: {f}");
        assert_eq!(out.status.code(), Some(0));
        // The harness appended final reads (the live servers converged): judged, and
        // every acknowledged write was among what they were judged against.
        assert!(f["final_reads"].as_u64().unwrap() >= 5, "{f}");
        assert_eq!(f["judged_reads"], f["final_reads"], "{f}");
        assert!(f["acked_writes"].as_u64().unwrap() > 10, "{f}");
    }
    // The seed corpus's cases of the bugs that break these properties: gossip's own check
    // and the offline one both flag the run, for the same reason.
    for (scenario, seed, bug, insim, offline) in [
        (
            "gossip/clock-skew",
            "0",
            "gossip:lww-wall-clock",
            "lost-write",
            "lost-write",
        ),
        (
            "gossip/partition-halves",
            "1",
            "gossip:no-tombstones",
            "resurrection",
            "resurrection",
        ),
        (
            "gossip/scale-5",
            "0",
            "gossip:merge-drops-sibling",
            "lost-write",
            "lost-write",
        ),
        (
            "gossip/power-loss",
            "0",
            "gossip:ack-before-fsync",
            "lost-write",
            "lost-write",
        ),
    ] {
        let (h, checks) = gossip(&d, scenario, seed, Some(bug));
        assert!(checks.iter().any(|c| c == insim), "{bug}: {checks:?}");
        let (out, v) = siblings(&[&h], &[]);
        let f = &v["files"][0];
        assert_eq!(f["verdict"], "invalid", "{bug}: {f}");
        let kinds: Vec<&str> = f["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&offline), "{bug}: {kinds:?}");
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn the_guarantee_is_an_option_and_gossip_promises_only_eventual() {
    let d = scratch("siblings-guarantee");
    let (h, checks) = gossip(&d, "gossip/scale-5", "0", None);
    assert!(checks.is_empty(), "{checks:?}");
    // Reads go to one server and writes wait for three of five (R + W <= N): judged as if
    // quorums intersected, reads during the run miss acknowledged writes.
    let (out, v) = siblings(&[&h], &["--guarantee", "quorum"]);
    let f = &v["files"][0];
    assert_eq!(f["guarantee"], "quorum");
    assert_eq!(f["verdict"], "invalid", "{f}");
    assert!(
        f["judged_reads"].as_u64() > f["final_reads"].as_u64(),
        "{f}"
    );
    assert_eq!(out.status.code(), Some(1));
    // Without its final reads, an eventual history is checked for phantoms only, and says so.
    let text = std::fs::read_to_string(&h).unwrap();
    let workload: String = text
        .lines()
        .filter(|l| !l.contains("\"final\":true"))
        .map(|l| format!("{l}\n"))
        .collect();
    let w = d.join("workload.jsonl");
    std::fs::write(&w, workload).unwrap();
    let (out, v) = siblings(&[w.to_str().unwrap()], &[]);
    let f = &v["files"][0];
    assert_eq!(f["judged_reads"], 0, "{f}");
    assert!(
        f["notes"].to_string().contains("no read after quiescence"),
        "{f}"
    );
    assert_eq!(out.status.code(), Some(0));
    // --final-from TIME marks the reads after TIME as final: after the end, none is.
    let (_, v) = siblings(&[w.to_str().unwrap()], &["--final-from", "99000000000"]);
    assert_eq!(v["files"][0]["judged_reads"], 0);
}

#[test]
fn hostile_input_gets_one_line_and_exit_2() {
    let d = scratch("siblings-hostile");
    let (h, _) = gossip(&d, "gossip/partition-halves", "0", None);
    let text = std::fs::read_to_string(&h).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let write = |name: &str, body: String| {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let all_but_last = lines[..n - 1].join("\n");
    let last = lines[n - 1];
    let truncated = write(
        "truncated.jsonl",
        format!("{all_but_last}\n{}", &last[..last.len() / 2]),
    );
    let missing_key = write(
        "missing-key.jsonl",
        format!(
            "{}\n{all_but_last}\n",
            r#"{"process":9,"type":"invoke","f":"read","time":0}"#
        ),
    );
    let unknown_op = write(
        "unknown-op.jsonl",
        format!(
            "{}\n{}\n",
            r#"{"process":9,"type":"invoke","f":"cas","key":"k0","value":[1,2],"time":0}"#,
            r#"{"process":9,"type":"ok","f":"cas","key":"k0","value":[1,2],"time":1}"#
        ),
    );
    let not_a_list = write(
        "not-a-list.jsonl",
        format!(
            "{}\n{}\n",
            r#"{"process":9,"type":"invoke","f":"read","key":"k0","time":0}"#,
            r#"{"process":9,"type":"ok","f":"read","key":"k0","value":5,"time":1}"#
        ),
    );
    for (file, line, words) in [
        (&truncated, n, "truncated"),
        (&missing_key, 1, "`key`"),
        (&unknown_op, 1, "unknown operation"),
        (&not_a_list, 2, "list"),
    ] {
        let out = dst(&["check", "siblings", file]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&format!("{file}:{line}:")), "{err}");
        assert!(err.contains(words), "{err}");
    }
    // An empty file is a valid history, with a note.
    let empty = write("empty.jsonl", String::new());
    let (out, v) = siblings(&[&empty], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(v["files"][0]["verdict"], "valid");
    assert!(v["files"][0]["notes"].to_string().contains("empty"));
    // Several files: the most serious outcome wins (violation, then bad input), and --json
    // keeps each file's verdict.
    let (bad_history, _) = gossip(
        &d,
        "gossip/partition-halves",
        "1",
        Some("gossip:no-tombstones"),
    );
    let (out, v) = siblings(&[&h, &truncated], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(v["files"][0]["verdict"], "valid");
    assert_eq!(v["files"][1]["verdict"], "bad-input");
    let (out, v) = siblings(&[&truncated, &bad_history, &empty], &[]);
    assert_eq!(out.status.code(), Some(1));
    let verdicts: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["bad-input", "invalid", "valid"]);
    assert_eq!(v["total"]["exit_code"], 1);
    // A missing file and a directory are bad input too, never a panic.
    let out = dst(&["check", "siblings", d.join("nope.jsonl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = dst(&["check", "siblings", d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
