//! System settings that cannot work are refused when the file is read, with one line
//! pointing at the key (file:line:col), before any run starts.

use scenarios::builtin;
use scenarios::file::{parse, to_toml};

/// The built-in's text with `key = ...` (the first such line after `[table]`, or at the
/// top when `table` is empty) set to `value`; the line and column of that key.
fn edited(name: &str, table: &str, key: &str, value: &str) -> (String, usize) {
    let text = to_toml(&builtin::find(name).unwrap());
    let mut in_table = table.is_empty();
    let mut out = Vec::new();
    let mut at = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('[') {
            in_table = line == format!("[{table}]");
        }
        if in_table && at.is_none() && line.starts_with(&format!("{key} = ")) {
            out.push(format!("{key} = {value}"));
            at = Some(i + 1);
        } else {
            out.push(line.to_string());
        }
    }
    (
        out.join("\n"),
        at.unwrap_or_else(|| panic!("{name}: no {key}")),
    )
}

#[test]
fn unworkable_system_settings_point_at_their_key() {
    let cases = [
        (
            "raft/partition-halves",
            "raft",
            "election_min",
            "\"0s\"",
            "raft.election_min",
        ),
        (
            "raft/partition-halves",
            "raft",
            "election_min",
            "\"301ms\"",
            "raft.election_min",
        ),
        (
            "raft/partition-halves",
            "raft",
            "heartbeat",
            "\"0s\"",
            "raft.heartbeat",
        ),
        (
            "raft/partition-halves",
            "raft",
            "max_batch",
            "0",
            "raft.max_batch",
        ),
        (
            "raft/partition-halves",
            "client",
            "read_percent",
            "101",
            "client.read_percent",
        ),
        (
            "raft/partition-halves",
            "client",
            "attempts",
            "0",
            "client.attempts",
        ),
        (
            "raft/partition-halves",
            "client",
            "timeout",
            "\"0s\"",
            "client.timeout",
        ),
        (
            "gossip/bridge",
            "gossip",
            "period",
            "\"0s\"",
            "gossip.period",
        ),
        (
            "gossip/bridge",
            "client",
            "read_percent",
            "150",
            "client.read_percent",
        ),
        (
            "gossip/bridge",
            "client",
            "delete_percent",
            "80",
            "client.delete_percent",
        ),
        ("twopc/mixed", "", "accounts", "0", "accounts"),
        ("twopc/mixed", "", "accounts", "1", "accounts"),
        ("twopc/mixed", "", "lists", "0", "lists"),
        ("twopc/mixed", "", "resend", "\"0s\"", "resend"),
        ("relay/halves", "", "tick", "\"0s\"", "tick"),
    ];
    for (name, table, key, value, named) in cases {
        let (text, line) = edited(name, table, key, value);
        let e = parse(&text, "f.toml").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with(&format!("f.toml:{line}:1: {named} ")),
            "{name} {key} = {value}: {e}"
        );
    }
    // The edges that do work still read.
    for (name, table, key, value) in [
        ("raft/partition-halves", "client", "read_percent", "100"),
        ("raft/partition-halves", "raft", "election_min", "\"300ms\""),
        ("twopc/mixed", "", "accounts", "2"),
    ] {
        let (text, _) = edited(name, table, key, value);
        parse(&text, "f.toml").unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The built-in's text with `extra` appended (more `[[faults]]`, say).
fn appended(name: &str, extra: &str) -> (String, usize) {
    let text = to_toml(&builtin::find(name).unwrap());
    let line = text.lines().count() + 2;
    (format!("{text}\n{extra}"), line)
}

#[test]
fn world_values_a_run_cannot_honour_point_at_their_key() {
    let keyed = [
        ("disk.faults", "crash_keep", "1.5", "disk.faults.crash_keep"),
        (
            "disk.faults",
            "torn_write",
            "-0.5",
            "disk.faults.torn_write",
        ),
        ("disk.faults", "corruption", "nan", "disk.faults.corruption"),
        (
            "disk.faults",
            "latent_error",
            "inf",
            "disk.faults.latent_error",
        ),
        ("disk", "sector_size", "0", "disk.sector_size"),
        ("", "nodes", "1000", "nodes"),
    ];
    for (table, key, value, named) in keyed {
        let (text, line) = edited("raft/partition-halves", table, key, value);
        let e = parse(&text, "f.toml").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with(&format!("f.toml:{line}:1: {named} ")),
            "{key} = {value}: {e}"
        );
    }
    // A duration too long to be meant is refused where it is read, at its value.
    let (text, line) = edited("raft/partition-halves", "", "duration", "\"5000000m\"");
    let e = parse(&text, "f.toml").unwrap_err();
    assert!(
        e.starts_with(&format!(
            "f.toml:{line}:12: duration \"5000000m\" is longer than 1000 hours"
        )),
        "{e}"
    );
    // A latency range upside down points at its min or max (the line after).
    let (text, line) = edited(
        "raft/partition-halves",
        "disk.latency.read",
        "min",
        "\"1s\"",
    );
    let e = parse(&text, "f.toml").unwrap_err();
    assert!(
        [line, line + 1]
            .iter()
            .any(|l| e.starts_with(&format!("f.toml:{l}:1: disk.latency.read:"))),
        "{e}"
    );
    // Fault values point at their key inside the fault (the last line of each here).
    let faults = [
        ("fault = \"clock-drift\"\nnode = \"n1\"\nppm = -1000000", "stop the clock"),
        ("fault = \"crash-after-disk-ops\"\nnode = \"n1\"\nops = 0", "ops must be"),
        ("fault = \"crash-after-random-disk-ops\"\nnode = \"n1\"\nmax_ops = 0", "max_ops"),
        (
            "fault = \"clock-strobe\"\nnode = \"n1\"\ndelta_ns = 5\nduration = \"1s\"\nperiod = \"0s\"",
            "strobe period",
        ),
        ("fault = \"restart\"\nnode = \"n2\"", "no earlier fault leaves it crashed"),
        ("fault = \"heal\"\nbogus = 3", "unknown key `bogus`"),
    ];
    for (fault, says) in faults {
        let (text, header) = appended(
            "raft/partition-halves",
            &format!("[[faults]]\nat = \"7s\"\n{fault}\n"),
        );
        let line = header + 1 + fault.lines().count();
        let e = parse(&text, "f.toml").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with(&format!("f.toml:{line}:")),
            "{fault}: {e} (line {line})"
        );
        assert!(e.contains(says), "{fault}: {e}");
    }
    let (text, _) = appended(
        "gossip/bridge",
        "[[faults]]\nat = \"5s\"\nfault = \"drift-leader\"\nppm = 100\n",
    );
    assert!(parse(&text, "f.toml").unwrap_err().contains("no leader"));
    // A restart after a crash of that node reads.
    let (text, _) = appended(
        "raft/partition-halves",
        "[[faults]]\nat = \"7s\"\nfault = \"crash\"\nnode = \"n2\"\n\n[[faults]]\nat = \"7500ms\"\nfault = \"restart\"\nnode = \"n2\"\n",
    );
    parse(&text, "f.toml").unwrap_or_else(|e| panic!("{e}"));
}
