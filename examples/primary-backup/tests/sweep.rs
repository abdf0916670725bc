//! The example user system under `cargo test`, as its author would test it: seed sweeps
//! of its own scenarios, the bug caught with replay commands that reproduce it, and the
//! `dst` command line (run --html, replay, shrink, fuzz) driven as a library.

use std::path::PathBuf;

use dst::testing::Sweep;
use dst::Registry;

fn registry() -> &'static Registry {
    primary_backup::registry().install()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the program's CLI with `args` (as after the replay prefix); the exit code.
fn cli(args: &[&str]) -> i32 {
    let argv = std::iter::once("pb").chain(args.iter().copied());
    dst::cli::main_from(primary_backup::registry(), argv)
}

#[test]
fn the_correct_register_passes_its_scenarios_and_swarm() {
    let r = registry();
    for name in ["pb/partition", "pb/crash-primary", "swarm/pb"] {
        r.sweep(name).seeds(0..200).assert_pass();
    }
}

#[test]
fn local_reads_are_caught_and_each_replay_command_reproduces_the_failure() {
    let r = registry();
    let opts = r.run_options(&["pb:local-reads".to_string()]).unwrap();
    // More than half the seeds catch it (114 of 0..200).
    let failures = Sweep::of(r.find("pb/partition").unwrap())
        .seeds(0..20)
        .options(opts)
        .failures();
    let caught: Vec<_> = failures
        .iter()
        .filter(|(_, what, _)| what.contains("linearizability"))
        .collect();
    assert!(
        caught.len() >= 5,
        "local reads under partitions should fail often: {failures:?}"
    );
    for (seed, what, replay) in caught.iter().take(2) {
        assert!(what.contains("linearizability"), "seed {seed}: {what}");
        let args = replay
            .strip_prefix(r.command_prefix())
            .unwrap_or_else(|| panic!("{replay} does not start with the program's command"));
        let mut args: Vec<&str> = args.split_whitespace().collect();
        assert_eq!(args[0], "replay", "{replay}");
        // `run` takes the same arguments as `replay` without installing its trace
        // logging, which would reach every other test of this process.
        args[0] = "run";
        assert_eq!(cli(&args), 1, "pasting `{replay}` must fail again");
    }
}

#[test]
fn the_cli_runs_html_shrink_and_fuzz_on_the_user_system() {
    registry();
    let dir = scratch("cli");
    let html = dir.join("run.html");
    let partition = "pb/partition";
    let code = cli(&[
        "run",
        partition,
        "--seed",
        "0",
        "--bug",
        "pb:local-reads",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "seed 0 of pb/partition with local reads fails");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("linearizability"),
        "the report names the violation"
    );

    let shrunk = dir.join("shrunk.toml");
    let code = cli(&[
        "shrink",
        partition,
        "--seed",
        "0",
        "--bug",
        "pb:local-reads",
        "--max-runs",
        "12",
        "--out",
        shrunk.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&shrunk).unwrap();
    assert!(text.contains("system = \"pb\""), "{text}");
    assert!(
        text.contains("local-reads"),
        "the shrunk file carries its bug: {text}"
    );
    assert_eq!(cli(&["run", shrunk.to_str().unwrap(), "--seed", "0"]), 1);

    let corpus = dir.join("corpus.toml");
    let code = cli(&[
        "fuzz",
        "--runs",
        "20",
        "--bug",
        "pb:local-reads",
        "--shrink-runs",
        "20",
        "--out",
        corpus.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "the fuzzer finds the bug in 20 swarm runs");
    let kept = std::fs::read_to_string(&corpus).unwrap();
    assert!(kept.contains("check = \"linearizability\""), "{kept}");
    let found = std::fs::read_dir(dir.join("found"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("the shrunk finding is kept in found/");
    let seed = kept
        .lines()
        .find_map(|l| l.strip_prefix("seed = "))
        .expect("the case names its seed");
    assert_eq!(cli(&["run", found.to_str().unwrap(), "--seed", seed]), 1);
}

#[test]
fn bad_settings_and_unknown_names_are_one_line_errors() {
    let r = registry();
    let text = r.files()[0].1.replace("clients = 3", "clientz = 3");
    let e = r.parse(&text, "typo.toml").unwrap_err();
    assert!(
        e.starts_with("typo.toml:6:1: unknown field `clientz`"),
        "{e}"
    );
    let text = r.files()[0]
        .1
        .replace("read_percent = 80", "read_percent = 101");
    let e = r.parse(&text, "bad.toml").unwrap_err();
    assert!(e.contains("read_percent: 101 is over 100"), "{e}");
    let e = r.run_options(&["raft:no-fsync".to_string()]).unwrap_err();
    assert!(
        e.contains("unknown system 'raft'; known systems: pb"),
        "{e}"
    );
    let e = r.run_options(&["pb:nope".to_string()]).unwrap_err();
    assert!(e.contains("pb's bugs: local-reads"), "{e}");
}

/// A user's system gets `--history` for free, and `dst check lin` decides it offline the
/// way the run did: the correct register's history is linearizable, the buggy one's not.
#[test]
fn the_recorded_history_is_checked_offline_by_check_lin() {
    registry();
    let dir = scratch("history");
    for (bug, expect) in [(None, 0), (Some("pb:local-reads"), 1)] {
        let h = dir.join(format!("h-{}.jsonl", bug.is_some()));
        let h = h.to_str().unwrap();
        let mut args = vec!["run", "pb/partition", "--seed", "0", "--history", h];
        if let Some(b) = bug {
            args.extend(["--bug", b]);
        }
        assert_eq!(cli(&args), expect, "{args:?}");
        let code = cli(&["check", "lin", "--model", "register", h]);
        assert_eq!(code, expect, "offline check of {h}");
    }
}
