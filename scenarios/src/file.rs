//! Scenario files: the TOML form of a [`Scenario`], as `dst show` prints it, as the
//! built-ins are shipped (`scenarios/builtin/`) and as users write their own. The format is
//! documented in `scenarios/FORMAT.md`. Durations are strings ("250ms", "3s"); node
//! references are indices into the node order (n1 is 0); faults are `[[faults]]` tables
//! with `at` and `fault`; the checks' bounds are in `[checks]`.
//!
//! Errors are one line: the file, line and column, and what was expected. The system's
//! settings sit at the top level beside the scenario's own keys (serde's `flatten`), which
//! loses positions; for those errors a second pass reads the system's settings alone to
//! find where the problem is.

use std::path::Path;

use serde::Deserialize;
use sim::disk::DiskConfig;
use sim::{Nanos, NetConfig};
use toml::{Spanned, Value};

use crate::file_pos::{pair_named_in, table_extent};
use crate::registry::Registry;
use crate::scenario::{Checks, ClockSpec, Place, Scenario, Scheduled, SystemRef};

/// Top-level keys of the scenario itself; every other top-level key is a system setting.
pub const SCENARIO_KEYS: [&str; 11] = [
    "name",
    "description",
    "system",
    "bugs",
    "nodes",
    "duration",
    "net",
    "disk",
    "clocks",
    "faults",
    "checks",
];

/// The TOML text of a scenario, with a header saying how to use it.
pub fn to_toml(s: &Scenario) -> String {
    let mut v = Value::try_from(s).expect("scenarios always serialize");
    let top = v.as_table_mut().expect("a scenario is a table");
    let mut checks = match top.remove("checks") {
        Some(Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    for key in s.system.bound_keys() {
        if let Some(bound) = top.remove(*key) {
            checks.insert(key.to_string(), bound);
        }
    }
    // The checks come last, after the fault schedule they judge.
    let faults = top.remove("faults");
    if !checks.is_empty() {
        top.insert("checks".into(), Value::Table(checks));
    }
    if let Some(f) = faults {
        top.insert("faults".into(), f);
    }
    let body = toml::to_string(&v).expect("scenarios always serialize");
    format!(
        "# Scenario {}: {}\n# Run it: dst run FILE --seed 1 (edit freely; `dst show NAME` prints any built-in;\n# the format is in scenarios/FORMAT.md)\n{body}",
        s.name, s.description
    )
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.chars().count()
        - before
            .rfind('\n')
            .map_or(0, |i| before[..=i].chars().count())
        + 1;
    (line, col)
}

/// Where the keys this module checks after parsing are, for error positions.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Probe {
    system: Option<Spanned<Value>>,
    bugs: Option<Spanned<Value>>,
    nodes: Option<Spanned<Value>>,
    net: Option<Spanned<Value>>,
    clocks: Option<Vec<Spanned<Value>>>,
    faults: Option<Vec<Spanned<Value>>>,
    checks: Option<Spanned<toml::Table>>,
}

/// A scenario file as written: the system's settings are whatever top-level keys are not
/// the scenario's own.
#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    system: String,
    #[serde(default)]
    bugs: Vec<String>,
    #[serde(default = "crate::scenario::default_nodes")]
    nodes: usize,
    #[serde(default = "crate::scenario::default_duration")]
    duration: Nanos,
    #[serde(default)]
    net: NetConfig,
    #[serde(default)]
    disk: DiskConfig,
    #[serde(default)]
    clocks: Vec<ClockSpec>,
    #[serde(default)]
    faults: Vec<Scheduled>,
    #[serde(default)]
    checks: Checks,
    #[serde(flatten)]
    settings: toml::Table,
}

/// Parses and validates a scenario's TOML text with the process's registry (see
/// [`crate::registry::current`]).
pub fn parse(text: &str, origin: &str) -> Result<Scenario, String> {
    parse_with(crate::registry::current(), text, origin)
}

/// Parses and validates a scenario's TOML text; `origin` names it in errors (a path, or
/// the built-in file). Errors are one line: origin, line, column and what was expected.
pub fn parse_with(registry: &Registry, text: &str, origin: &str) -> Result<Scenario, String> {
    let at = |offset: usize, msg: &str| {
        let (line, col) = line_col(text, offset);
        // Durations deserialize through an untagged enum whose own message says nothing.
        let msg = msg.replace(
            "data did not match any variant of untagged enum Raw",
            "expected a duration such as \"250ms\" or \"3s\" (or integer nanoseconds)",
        );
        format!("{origin}:{line}:{col}: {}", msg.replace('\n', " "))
    };
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let msg = message_of(text, &e);
        let found = e.span().filter(|r| r.start > 0);
        match found.map(|r| narrow(text, r, &msg)) {
            Some(pos) => at(pos, &msg),
            None => at(unknown_key_at(text, &msg).unwrap_or(0), &msg),
        }
    })?;
    // The probe reads a text that just parsed, so it cannot fail.
    let probe: Probe = toml::from_str(text).unwrap_or_default();
    let span_of = |v: &Option<Spanned<Value>>| v.as_ref().map_or(0, |v| v.span().start);
    let checks_at = probe.checks.as_ref().map_or(0, |c| c.span().start);
    let system = registry
        .lookup(&raw.system)
        .map_err(|e| at(span_of(&probe.system), &e))?;
    let Raw {
        name,
        description,
        bugs,
        nodes,
        duration,
        net,
        disk,
        clocks,
        faults,
        mut checks,
        mut settings,
        ..
    } = raw;
    // Move the bounds from [checks] into the system settings; a bound given in both
    // places (old files have them at the top level) is ambiguous.
    let bound_keys = system.bound_keys();
    let mut moved = Vec::new();
    for (key, bound) in std::mem::take(&mut checks.bounds) {
        let key_at = top_level_key_at(text, &key).unwrap_or(checks_at);
        if !bound_keys.contains(&key.as_str()) {
            let msg = if bound_keys.is_empty() {
                format!(
                    "unknown key `{key}` in [checks]: {} scenarios take only `skip` there",
                    system.name()
                )
            } else {
                format!(
                    "unknown key `{key}` in [checks]: {} scenarios take `skip` and {}",
                    system.name(),
                    bound_keys.join(", ")
                )
            };
            return Err(at(checks_key_at(text, &key).unwrap_or(checks_at), &msg));
        }
        if settings.contains_key(&key) {
            return Err(at(
                key_at,
                &format!("{key} is set here and in [checks]; keep the one in [checks]"),
            ));
        }
        moved.push((key.clone(), bound.clone()));
        settings.insert(key, bound);
    }
    let settings = system.read_settings(&settings, nodes).map_err(|msg| {
        // A value of the wrong shape: read the settings again from the text, which keeps
        // positions. A value that parsed but cannot work names its key first.
        if let Some((pos, better)) = system.locate_settings_error(text, &SCENARIO_KEYS) {
            return at(pos, &better);
        }
        // A bound from [checks]: try each alone on the defaults (if the defaults pass
        // with these servers: `nodes` may be what is wrong).
        let defaults_pass = system
            .read_settings(&system.default_settings(), nodes)
            .is_ok();
        for (key, bound) in moved.iter().filter(|_| defaults_pass) {
            let mut alone = system.default_settings();
            alone.insert(key.clone(), bound.clone());
            if let Err(e) = system.read_settings(&alone, nodes) {
                return at(checks_key_at(text, key).unwrap_or(checks_at), &e);
            }
        }
        if let Some(pos) = unknown_key_at(text, &msg) {
            return at(pos, &msg);
        }
        let key = msg.split(':').next().unwrap_or("");
        let pos = checks_key_at(text, key).unwrap_or_else(|| key_offset(text, &msg));
        at(pos, &msg)
    })?;
    let catalog: Vec<&str> = system.bugs().into_iter().map(|(b, _)| b).collect();
    if let Some(bad) = bugs.iter().find(|b| !catalog.contains(&b.as_str())) {
        let msg = if catalog.is_empty() {
            format!("unknown bug '{bad}': {} has no bug catalog", system.name())
        } else {
            format!(
                "unknown bug '{bad}'; {}'s bugs: {}",
                system.name(),
                catalog.join(", ")
            )
        };
        return Err(at(span_of(&probe.bugs), &msg));
    }
    let mut s = Scenario {
        name,
        description,
        system: SystemRef(system),
        settings,
        bugs,
        nodes,
        duration,
        net,
        disk,
        clocks,
        faults,
        checks,
    };
    s.validate_at().map_err(|(place, msg)| {
        let nth = |v: &Option<Vec<Spanned<Value>>>, i: usize| {
            v.as_ref()
                .and_then(|v| v.get(i))
                .map_or(0, |x| narrow(text, x.span(), &msg))
        };
        let pos = match place {
            Place::Whole => 0,
            Place::Nodes => span_of(&probe.nodes),
            Place::Net => probe
                .net
                .as_ref()
                .map_or(0, |n| narrow(text, n.span(), &msg)),
            Place::Clock(i) => nth(&probe.clocks, i),
            Place::Fault(i) => nth(&probe.faults, i),
            Place::Checks => checks_at,
        };
        at(pos, &msg)
    })?;
    if s.name.is_empty() {
        s.name = origin.to_string();
    }
    let fault_at = |i: usize, msg: &str| {
        probe
            .faults
            .as_ref()
            .and_then(|v| v.get(i))
            .map_or(0, |x| narrow(text, x.span(), msg))
    };
    let tables: Vec<Value> = probe
        .faults
        .iter()
        .flatten()
        .map(|t| t.get_ref().clone())
        .collect();
    crate::values::unknown_fault_keys(&s, &tables)
        .map_err(|(i, msg)| at(fault_at(i, &msg), &msg))?;
    crate::values::check(&s).map_err(|(place, msg)| match place {
        crate::values::At::Key(k) => {
            let pos = key_offset(text, &k);
            at(narrow(text, pos..pos, &msg), &msg)
        }
        crate::values::At::Fault(i) => at(fault_at(i, &msg), &msg),
    })?;
    Ok(s)
}

/// A TOML error's message, never empty: the parser says nothing for some syntax errors
/// (`name =` at the end of the file), so say what is at the position instead.
fn message_of(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    if !msg.is_empty() {
        return msg.to_string();
    }
    let at = e.span().map_or(0, |r| r.start).min(text.len());
    let before = text[..at].trim_end_matches([' ', '\t']);
    match text[at..].chars().next() {
        _ if before.ends_with('=') => "a value is missing after `=`".to_string(),
        None => "the file ends in the middle of a TOML item".to_string(),
        Some('\n' | '\r') => "the line ends in the middle of a TOML item".to_string(),
        Some(c) => format!("unexpected `{c}` here: not valid TOML"),
    }
}

/// The position of an error whose span is `span`: a table's span (or one starting at its
/// header) narrowed to the `key = value` the message is about, when one is.
fn narrow(text: &str, span: std::ops::Range<usize>, message: &str) -> usize {
    let whole = table_extent(text, span.start);
    let region = if whole.end > span.end {
        whole
    } else {
        span.clone()
    };
    if !text.get(region.clone()).is_some_and(|r| r.contains('\n')) {
        return span.start;
    }
    pair_named_in(text, region, message).unwrap_or(span.start)
}

/// Where the key a message starts with (`raft.heartbeat`, `accounts`) is written: the
/// line `heartbeat = ...` inside `[raft]` (or `raft.heartbeat = ...` at the top), else the
/// table itself; 0 if the key is not in the text (a default value was at fault).
pub(crate) fn key_offset(text: &str, message: &str) -> usize {
    let path = message
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(':');
    let (table, key) = match path.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", path),
    };
    let assigns = |line: &str, key: &str| {
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut current = String::new();
    let mut offset = 0;
    let mut table_at = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            if current == path {
                return offset + indent;
            }
            if current == table && table_at.is_none() {
                table_at = Some(offset + indent);
            }
        } else if (current == table && assigns(trimmed, key))
            || (current.is_empty() && !table.is_empty() && assigns(trimmed, path))
        {
            return offset + indent;
        }
        offset += line.len();
    }
    table_at.unwrap_or(0)
}

/// Reads and validates a scenario file with the process's registry.
pub fn load(path: &Path) -> Result<Scenario, String> {
    load_with(crate::registry::current(), path)
}

/// Reads and validates a scenario file. The scenario is named by its path, so replay
/// commands point back here.
pub fn load_with(registry: &Registry, path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut s = parse_with(registry, &text, &path.display().to_string())?;
    s.name = path.display().to_string();
    Ok(s)
}

/// "unknown field `x`, expected ...": where the top-level key `x` is.
fn unknown_key_at(text: &str, message: &str) -> Option<usize> {
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    top_level_key_at(text, key)
}

/// Where the top-level key `key` starts (its line: top-level keys are not indented).
fn top_level_key_at(text: &str, key: &str) -> Option<usize> {
    let keys: std::collections::BTreeMap<String, Spanned<Value>> = toml::from_str(text).ok()?;
    let value = keys.get(key)?.span().start;
    Some(text[..value].rfind('\n').map_or(0, |i| i + 1))
}

/// Where `key = ...` is inside the `[checks]` table.
fn checks_key_at(text: &str, key: &str) -> Option<usize> {
    key_in_table(text, "checks", key)
}

/// The line of `key = ...` after the header `[table]` and before the next header.
fn key_in_table(text: &str, table: &str, key: &str) -> Option<usize> {
    let header = format!("[{table}]");
    let mut offset = 0;
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
        } else if inside {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim() == key {
                    return Some(offset + (line.len() - line.trim_start().len()));
                }
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_round_trips_through_toml() {
        for s in crate::builtin::everything() {
            let text = to_toml(&s);
            let back = parse(&text, &s.name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, s, "{}", s.name);
        }
    }

    #[test]
    fn the_scenario_keys_are_every_top_level_key_but_the_systems() {
        for s in crate::builtin::everything() {
            let v = Value::try_from(&s).unwrap();
            let system = s.system.default_settings();
            for key in v.as_table().unwrap().keys() {
                let of_system = system.contains_key(key);
                assert_eq!(
                    of_system,
                    !SCENARIO_KEYS.contains(&key.as_str()),
                    "{}: {key}",
                    s.name
                );
            }
        }
    }

    fn err(text: &str) -> String {
        let e = parse(text, "f.toml").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    /// The line an error points at.
    fn line_of_error(e: &str) -> usize {
        let rest = e.strip_prefix("f.toml:").unwrap_or_else(|| panic!("{e}"));
        rest.split(':').next().unwrap().parse().unwrap()
    }

    #[test]
    fn malformed_files_get_one_line_with_position() {
        let good = to_toml(&crate::builtin::find("raft/churn").unwrap());
        // (replace, with, what the error says). The error must point at the changed line,
        // or at the header of the table it is in (a fault's `[[faults]]`, two lines up).
        let cases = [
            (
                "duration = \"6800ms\"",
                "duration = \"three\"",
                "invalid duration",
            ),
            ("clients = 3", "clients = \"x\"", "expected usize"),
            ("clients = 3", "clientz = 3", "unknown field `clientz`"),
            (
                "heartbeat = \"20ms\"",
                "heartbeat = \"zz\"",
                "invalid duration",
            ),
            (
                "fault = \"crash-leader\"",
                "fault = \"crash-leadr\"",
                "unknown variant",
            ),
            (
                "liveness = \"3s\"",
                "liveness = true",
                "expected a duration",
            ),
            (
                "liveness = \"3s\"",
                "max_blocked = \"1s\"",
                "unknown key `max_blocked` in [checks]: raft scenarios take `skip` and liveness",
            ),
            (
                "liveness = \"3s\"",
                "skip = [\"liveliness\"]",
                "unknown check 'liveliness'",
            ),
            (
                "fault = \"crash-follower\"",
                "fault = \"crash\"\nnode = 9",
                "but the servers are n1..n5",
            ),
            (
                "fault = \"crash-leader\"",
                "fault = \"heal\"\nfor = \"1s\"",
                "`for` applies to",
            ),
        ];
        for (from, to, says) in cases {
            assert!(good.contains(from), "{from}");
            let bad = good.replacen(from, to, 1);
            let changed = bad
                .find(to)
                .map(|i| bad[..i].matches('\n').count() + 1)
                .unwrap();
            let e = err(&bad);
            let line = line_of_error(&e);
            assert!(
                line + 3 >= changed && line <= changed + to.matches('\n').count(),
                "{from} -> {to}: {e} (changed line {changed})"
            );
            assert!(e.contains(says), "{from} -> {to}: {e}");
        }
        assert!(err("nodes = [").starts_with("f.toml:1:"));
    }

    #[test]
    fn bounds_live_in_checks_and_old_top_level_bounds_still_load() {
        let s = crate::builtin::find("raft/churn").unwrap();
        let text = to_toml(&s);
        assert!(text.contains("[checks]\nliveness = \"3s\""), "{text}");
        let old = text.replace("[checks]\nliveness = \"3s\"\n", "").replacen(
            "nodes = 5",
            "liveness = \"2s\"\nnodes = 5",
            1,
        );
        let back = parse(&old, "old.toml").unwrap();
        assert_eq!(
            back.settings.get("liveness").and_then(|v| v.as_str()),
            Some("2s")
        );
        let both = text.replacen("nodes = 5", "liveness = \"2s\"\nnodes = 5", 1);
        assert!(err(&both).contains("set here and in [checks]"));
        let skipped = text.replace(
            "liveness = \"3s\"",
            "liveness = \"3s\"\nskip = [\"liveness\"]",
        );
        let back = parse(&skipped, "s.toml").unwrap();
        assert_eq!(back.checks.skip, vec!["liveness".to_string()]);
        let typo = text.replace("liveness = \"3s\"", "livenes = \"3s\"");
        let e = err(&typo);
        assert!(e.contains("unknown key `livenes` in [checks]"), "{e}");
        assert_eq!(
            line_of_error(&e),
            line_of_error(&format!(
                "f.toml:{}:1",
                text[..text.find("liveness = ").unwrap()]
                    .matches('\n')
                    .count()
                    + 1
            ))
        );
    }

    #[test]
    fn unknown_systems_and_bugs_are_one_line_naming_what_exists() {
        let text = to_toml(&crate::builtin::find("raft/churn").unwrap());
        let e = err(&text.replace("system = \"raft\"", "system = \"mykv\""));
        assert!(
            e.contains("unknown system 'mykv'; known systems: relay, raft, gossip, twopc"),
            "{e}"
        );
        assert_eq!(
            line_of_error(&e),
            text.lines()
                .position(|l| l.starts_with("system ="))
                .unwrap()
                + 1
        );
        let e = err(&text.replacen("nodes = 5", "bugs = [\"no-such-bug\"]\nnodes = 5", 1));
        assert!(
            e.contains("unknown bug 'no-such-bug'; raft's bugs: commit-previous-term"),
            "{e}"
        );
    }
}
