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
