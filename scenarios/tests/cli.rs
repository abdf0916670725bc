//! The `dst` binary as a user runs it: exit codes, one-line errors, JSON output,
//! stable digests, and trace files that never overwrite what a user has.

mod common;
use common::{dst, json};
use std::process::Command;

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    for args in [
        &["run", "no-such-scenario", "--seed", "1"][..],
        &["sweep", "relay/halves", "--seeds", "9..3"],
        &["run", "relay/halves", "--seed", "banana"],
        &["run", "relay/halves"],
        &["frobnicate"],
        &["sweep", "relay/halves", "--seeds", "0..2", "--jobs", "0"],
        &["replay", "nope", "--seed", "0"],
    ] {
        let out = dst(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn run_json_has_the_promised_fields_and_a_stable_digest() {
    let a = json(&dst(&["run", "relay/halves", "--seed", "7", "--json"]));
    let b = json(&dst(&["run", "relay/halves", "--seed", "0x7", "--json"]));
    let c = json(&dst(&["run", "relay/halves", "--seed", "8", "--json"]));
    for key in [
        "scenario",
        "seed",
        "verdict",
        "violations",
        "trace_digest",
        "events",
        "sim_time_ns",
        "replay",
    ] {
        assert!(a.get(key).is_some(), "missing {key}: {a}");
    }
    assert_eq!(a["verdict"], "pass");
    let digest = a["trace_digest"].as_str().unwrap();
    assert_eq!(digest.len(), 16);
    assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a["trace_digest"], b["trace_digest"]);
    assert_ne!(a["trace_digest"], c["trace_digest"]);
    assert_eq!(
        a["replay"],
        "cargo run --release -- replay relay/halves --seed 7"
    );
}

#[test]
fn check_determinism_passes_and_says_so() {
    let out = dst(&[
        "run",
        "relay/lossy",
        "--seed",
        "3",
        "--check-determinism",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["determinism"], "ok");
}

#[test]
fn sweep_json_reports_runs_failures_and_rate() {
    let out = dst(&[
        "sweep",
        "relay/pause",
        "--seeds",
        "0..=9",
        "--jobs",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["runs"], 10);
    assert_eq!(v["failures"].as_array().unwrap().len(), 0);
    assert!(v["seeds_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn list_names_every_builtin() {
    let out = dst(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for s in scenarios::builtin::everything() {
        assert!(
            text.lines().any(|l| l.starts_with(&s.name)),
            "{} missing",
            s.name
        );
    }
}

#[test]
fn trace_files_are_written_once_and_never_overwritten() {
    let dir = std::env::temp_dir().join(format!("dst-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.jsonl");
    let _ = std::fs::remove_file(&path);
    let p = path.to_str().unwrap();
    let out = dst(&[
        "run",
        "relay/crash-restart",
        "--seed",
        "1",
        "--trace",
        p,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let events = json(&out)["events"].as_u64().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count() as u64, events);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first["vc"].is_object() && first["t"].is_u64());
    // A second run must refuse to replace the file, and leave it as it was.
    let again = dst(&["run", "relay/crash-restart", "--seed", "2", "--trace", p]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    // --force replaces it.
    let forced = dst(&[
        "run",
        "relay/crash-restart",
        "--seed",
        "2",
        "--trace",
        p,
        "--force",
    ]);
    assert_eq!(forced.status.code(), Some(0));
    assert_ne!(std::fs::read_to_string(&path).unwrap(), text);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_sim_prints_both_rates_and_the_ratio() {
    let out = dst(&["bench", "sim", "--messages", "2000", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert!(v["raw_madsim_msgs_per_sec"].as_f64().unwrap() > 0.0);
    assert!(v["sim_msgs_per_sec"].as_f64().unwrap() > 0.0);
    assert!(v["ratio"].as_f64().unwrap() > 0.0);
    assert_eq!(v["messages"], 10_000);
}

#[test]
fn bench_scenario_measures_several_scenarios_in_one_run() {
    let out = dst(&[
        "bench",
        "scenario",
        "raft/partition-halves",
        "raft-rs/partition-halves",
        "--seeds",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for r in &rows {
        assert_eq!(r["seeds"], 2);
        assert!(r["sim_sec_per_wall_sec"].as_f64().unwrap() > 0.0);
    }
    // A typo is found before anything runs.
    let out = dst(&["bench", "scenario", "raft/partition-halves", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn two_shards_cover_exactly_the_seeds_of_the_unsharded_sweep() {
    // A buggy node fails every seed, so the failure lists name every seed that ran.
    let base = [
        "sweep",
        "raft/partition-halves",
        "--seeds",
        "0..12",
        "--bug",
        "raft:vote-without-log-check",
        "--json",
    ];
    let whole = json(&dst(&base));
    let dir = std::env::temp_dir().join(format!("dst-shard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for i in 0..2 {
        let mut args = base.to_vec();
        let shard = format!("{i}/2");
        args.extend(["--shard", shard.as_str()]);
        let out = dst(&args);
        let path = dir.join(format!("shard{i}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        files.push(path);
    }
    let seeds = |v: &serde_json::Value| -> Vec<u64> {
        v["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["seed"].as_u64().unwrap())
            .collect()
    };
    let part0 = json(&dst(&["merge", files[0].to_str().unwrap()]));
    assert_eq!(part0["runs"], 6);
    let merged = json(&dst(&[
        "merge",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]));
    assert_eq!(merged["runs"], whole["runs"]);
    assert_eq!(seeds(&whole), (0..12).collect::<Vec<u64>>());
    assert_eq!(seeds(&merged), seeds(&whole));
    // The same shard twice overlaps: refused.
    let twice = dst(&[
        "merge",
        files[0].to_str().unwrap(),
        files[0].to_str().unwrap(),
    ]);
    assert_eq!(twice.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_shown_scenario_runs_from_a_file_and_a_broken_file_gets_one_line() {
    let dir = std::env::temp_dir().join(format!("dst-file-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mine.toml");
    let shown = dst(&["show", "relay/pause"]);
    assert_eq!(shown.status.code(), Some(0));
    std::fs::write(&path, &shown.stdout).unwrap();
    let p = path.to_str().unwrap();
    let from_file = json(&dst(&["run", p, "--seed", "4", "--json"]));
    let builtin = json(&dst(&["run", "relay/pause", "--seed", "4", "--json"]));
    assert_eq!(from_file["trace_digest"], builtin["trace_digest"]);
    assert_eq!(
        from_file["replay"],
        format!("cargo run --release -- replay {p} --seed 4")
    );
    std::fs::write(&path, "nodes = \"five\"\n").unwrap();
    let out = dst(&["run", p, "--seed", "4"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("mine.toml:1:"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_fuzz_job_leaves_a_valid_corpus_that_replays() {
    let dir = std::env::temp_dir().join(format!("dst-fuzz-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dst"))
        .args([
            "fuzz",
            "--runs",
            "1000000",
            "--bug",
            "raft:no-dedup",
            "--shrink-runs",
            "15",
            "--out",
        ])
        .arg(&corpus)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the first finding, then kill the job mid-run.
    let waited = std::time::Instant::now();
    while !corpus.exists() && waited.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let cases = scenarios::corpus::load(&corpus).unwrap();
    assert!(!cases.is_empty(), "no finding within two minutes");
    // No temporary file is left looking like a corpus, and the case replays on its own.
    for case in &cases {
        scenarios::corpus::replay(case).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_pipe_ends_dst_quietly() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dst"))
        .args(["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dst runs");
    // Close the read end before dst writes, as `dst list | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("dst ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn unknown_systems_bugs_and_settings_typos_are_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("dst-sys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = String::from_utf8(dst(&["show", "raft/churn"]).stdout).unwrap();
    let cases = [
        (
            "system = \"raft\"",
            "system = \"mykv\"",
            "unknown system 'mykv'; known systems: relay, raft",
        ),
        ("clients = 3", "clientz = 3", "unknown field `clientz`"),
        (
            "nodes = 5",
            "bugs = [\"nope\"]\nnodes = 5",
            "unknown bug 'nope'; raft's bugs:",
        ),
    ];
    for (i, (from, to, says)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(&path, base.replacen(from, to, 1)).unwrap();
        let out = dst(&["run", path.to_str().unwrap(), "--seed", "1"]);
        assert_eq!(out.status.code(), Some(2), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{to}: {err}");
        assert!(
            err.contains(&format!("bad-{i}.toml:")),
            "names the file: {err}"
        );
    }
    for (bug, says) in [
        ("mykv:x", "unknown system 'mykv'"),
        ("raft:nope", "raft's bugs: commit-previous-term"),
        ("relay:x", "relay has no bug catalog"),
    ] {
        let out = dst(&["run", "raft/churn", "--seed", "1", "--bug", bug]);
        assert_eq!(out.status.code(), Some(2), "{bug}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{bug}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_stdout_is_one_line_and_exit_2() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("no /dev/full here; skipped");
        return;
    };
    let commands: [&[&str]; 5] = [
        &["list"],
        &["list", "--json"],
        &["show", "raft/partition-halves"],
        &["run", "relay/halves", "--seed", "1"],
        &["run", "relay/halves", "--seed", "1", "--json"],
    ];
    for args in commands {
        let out = Command::new(env!("CARGO_BIN_EXE_dst"))
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: cannot write to stdout"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn output_files_are_checked_before_running_and_never_replaced() {
    let dir = std::env::temp_dir().join(format!("dst-outputs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mine = dir.join("mine.html");
    std::fs::write(&mine, "my own file").unwrap();
    let mine_s = mine.to_str().unwrap();
    let missing_dir = dir.join("no-such-dir/t.jsonl");
    let runs: [&[&str]; 4] = [
        &[
            "replay",
            "raft/partition-halves",
            "--seed",
            "1",
            "--html",
            mine_s,
        ],
        &[
            "run",
            "raft/partition-halves",
            "--seed",
            "1",
            "--history",
            mine_s,
        ],
        &[
            "run",
            "raft/partition-halves",
            "--seed",
            "1",
            "--trace",
            missing_dir.to_str().unwrap(),
        ],
        &["lab", "run", "01-split-brain", "--html", mine_s],
    ];
    for args in runs {
        let out = dst(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        // Refused before the run: one line, nothing printed about a run.
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // ShiViz export: refused without --force, written with it.
    let trace = dir.join("t.jsonl");
    let out = dst(&[
        "run",
        "relay/halves",
        "--seed",
        "1",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let causal = |extra: &[&str]| {
        let mut args = vec![
            "check",
            "causal",
            trace.to_str().unwrap(),
            "--export-shiviz",
            mine_s,
        ];
        args.extend(extra);
        dst(&args)
    };
    let out = causal(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own file");
    // The relay's clocks are consistent (exit 0), and the export is written.
    let out = causal(&["--force"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It does not deliver causally: with --causal-delivery required, that is exit 1.
    let out = causal(&["--force", "--causal-delivery"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_ne!(std::fs::read_to_string(&mine).unwrap(), "my own file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merge_refuses_reports_no_sweep_writes() {
    let dir = std::env::temp_dir().join(format!("dst-merge-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = |runs: &str, passed: &str, elapsed: &str| {
        format!(
            r#"{{"scenario":"relay/halves","runs":{runs},"passed":{passed},"failures":[],"seeds_per_sec":1.0,"elapsed_sec":{elapsed}}}"#
        )
    };
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = write("good.json", &report("10", "10", "1.0"));
    let other = write("other.json", &report("5", "5", "2.0"));
    let huge = write(
        "huge.json",
        &report("18446744073709551615", "18446744073709551615", "1.0"),
    );
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![write("empty.json", "[]")], "no sweep report"),
        (
            vec![write("passed.json", &report("3", "5", "1.0"))],
            "5 passed of 3 runs",
        ),
        (
            vec![write("neg.json", &report("3", "3", "-1.0"))],
            "elapsed_sec",
        ),
        (vec![good.clone(), good.clone()], "twice"),
        (vec![good.clone(), huge], "overflow"),
    ];
    for (files, says) in cases {
        let mut args = vec!["merge"];
        args.extend(files.iter().map(String::as_str));
        let out = dst(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{files:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{files:?}: {err}");
    }
    assert_eq!(dst(&["merge", &good, &other]).status.code(), Some(0));
    // Corpus cases that name what does not exist.
    let corpus = |name: &str, case: &str| write(name, &format!("[[case]]\n{case}\n"));
    let out_corpus = dir.join("merged.toml");
    for (file, says) in [
        (
            corpus(
                "c1.toml",
                "scenario = \"raft/nope\"\nseed = 1\nexpect = \"pass\"",
            ),
            "no such scenario",
        ),
        (
            corpus(
                "c2.toml",
                "scenario = \"relay/halves\"\nseed = 1\nexpect = \"maybe\"",
            ),
            "expect",
        ),
        (
            corpus(
                "c3.toml",
                "scenario = \"relay/halves\"\nseed = 1\nexpect = \"pass\"\nbugs = [\"raft:nope\"]",
            ),
            "unknown bug",
        ),
    ] {
        let out = dst(&["merge", &file, "--out", out_corpus.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says) && err.contains(&file), "{err}");
        assert!(!out_corpus.exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
