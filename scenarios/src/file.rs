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

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use toml::{Spanned, Value};

use crate::scenario::{Place, Scenario, SystemSpec};

/// Top-level keys of the scenario itself; every other top-level key is a system setting.
const SCENARIO_KEYS: [&str; 10] = [
    "name",
    "description",
    "system",
    "nodes",
    "duration",
    "net",
    "disk",
    "clocks",
    "faults",
    "checks",
];

/// System settings that are check bounds: the file keeps them in `[checks]`.
const BOUND_KEYS: [&str; 2] = ["liveness", "convergence_rounds"];

/// The TOML text of a scenario, with a header saying how to use it.
pub fn to_toml(s: &Scenario) -> String {
    let mut v = Value::try_from(s).expect("scenarios always serialize");
    let top = v.as_table_mut().expect("a scenario is a table");
    let mut checks = match top.remove("checks") {
        Some(Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    for key in BOUND_KEYS {
        if let Some(bound) = top.remove(key) {
            checks.insert(key.to_string(), bound);
        }
    }
    // A Raft scenario without a liveness bound skips the check.
    if matches!(&s.system, SystemSpec::Raft(r) if r.liveness.is_none())
        && !s.checks.skip.iter().any(|c| c == "liveness")
    {
        let skip = checks.entry("skip").or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = skip {
            a.push(Value::String("liveness".into()));
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
    liveness: Option<Spanned<Value>>,
    convergence_rounds: Option<Spanned<Value>>,
    nodes: Option<Spanned<Value>>,
    net: Option<Spanned<Value>>,
    clocks: Option<Vec<Spanned<Value>>>,
    faults: Option<Vec<Spanned<Value>>>,
    checks: Option<Spanned<ProbeChecks>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProbeChecks {
    liveness: Option<Spanned<Value>>,
    convergence_rounds: Option<Spanned<Value>>,
}

/// Parses and validates a scenario's TOML text; `origin` names it in errors (a path, or
/// the built-in file). Errors are one line: origin, line, column and what was expected.
pub fn parse(text: &str, origin: &str) -> Result<Scenario, String> {
    let at = |offset: usize, msg: &str| {
        let (line, col) = line_col(text, offset);
        // Durations deserialize through an untagged enum whose own message says nothing.
        let msg = msg.replace(
            "data did not match any variant of untagged enum Raw",
            "expected a duration such as \"250ms\" or \"3s\" (or integer nanoseconds)",
        );
        format!("{origin}:{line}:{col}: {}", msg.replace('\n', " "))
    };
    let mut s: Scenario = toml::from_str(text).map_err(|e| {
        let found = e.span().filter(|r| r.start > 0).map(|r| (r.start, None));
        match found.or_else(|| locate(text, e.message())) {
            Some((pos, better)) => at(pos, &better.unwrap_or_else(|| e.message().to_string())),
            None => at(0, e.message()),
        }
    })?;
    // The probe reads a text that just parsed, so it cannot fail.
    let probe: Probe = toml::from_str(text).unwrap_or_default();
    let span_of = |v: &Option<Spanned<Value>>| v.as_ref().map_or(0, |v| v.span().start);
    let checks_at = probe.checks.as_ref().map_or(0, |c| c.span().start);
    // Move the bounds from [checks] into the system settings; a bound given in both
    // places (old files have them at the top level) is ambiguous.
    let inner = probe.checks.as_ref().map(|c| c.get_ref());
    let twice = |key: &str,
                 top: &Option<Spanned<Value>>,
                 checks: Option<&Option<Spanned<Value>>>| match (top, checks) {
        (Some(t), Some(Some(_))) => Err(at(
            t.span().start,
            &format!("{key} is set here and in [checks]; keep the one in [checks]"),
        )),
        _ => Ok(()),
    };
    twice("liveness", &probe.liveness, inner.map(|c| &c.liveness))?;
    twice(
        "convergence_rounds",
        &probe.convergence_rounds,
        inner.map(|c| &c.convergence_rounds),
    )?;
    let wrong_system = |key: &str, pos: usize, system: &str| {
        at(
            pos,
            &format!("{key} in [checks] applies to {system} scenarios only"),
        )
    };
    let check_pos = |c: Option<&ProbeChecks>, f: fn(&ProbeChecks) -> &Option<Spanned<Value>>| {
        c.map_or(checks_at, |c| span_of(f(c)))
    };
    if let Some(bound) = s.checks.liveness.take() {
        match &mut s.system {
            SystemSpec::Raft(r) => r.liveness = Some(bound),
            _ => {
                return Err(wrong_system(
                    "liveness",
                    check_pos(inner, |c| &c.liveness),
                    "raft",
                ))
            }
        }
    }
    if let Some(rounds) = s.checks.convergence_rounds.take() {
        match &mut s.system {
            SystemSpec::Gossip(g) => g.convergence_rounds = rounds,
            _ => {
                let pos = check_pos(inner, |c| &c.convergence_rounds);
                return Err(wrong_system("convergence_rounds", pos, "gossip"));
            }
        }
    }
    if let SystemSpec::Raft(r) = &mut s.system {
        if s.checks.skip.iter().any(|c| c == "liveness") {
            r.liveness = None;
        }
    }
    s.validate_at().map_err(|(place, msg)| {
        let nth = |v: &Option<Vec<Spanned<Value>>>, i: usize| {
            v.as_ref()
                .and_then(|v| v.get(i))
                .map_or(0, |x| x.span().start)
        };
        let pos = match place {
            Place::Whole => 0,
            Place::Nodes => span_of(&probe.nodes),
            Place::Net => span_of(&probe.net),
            Place::Clock(i) => nth(&probe.clocks, i),
            Place::Fault(i) => nth(&probe.faults, i),
            Place::Checks => checks_at,
        };
        at(pos, &msg)
    })?;
    if s.name.is_empty() {
        s.name = origin.to_string();
    }
    system_settings_valid(&s.system).map_err(|msg| at(key_offset(text, &msg), &msg))?;
    let fault_at = |i: usize| {
        probe
            .faults
            .as_ref()
            .and_then(|v| v.get(i))
            .map_or(0, |x| x.span().start)
    };
    let tables: Vec<Value> = probe
        .faults
        .iter()
        .flatten()
        .map(|t| t.get_ref().clone())
        .collect();
    crate::values::unknown_fault_keys(&s, &tables).map_err(|(i, msg)| at(fault_at(i), &msg))?;
    crate::values::check(&s).map_err(|(place, msg)| match place {
        crate::values::At::Key(k) => at(key_offset(text, &k), &msg),
        crate::values::At::Fault(i) => at(fault_at(i), &msg),
    })?;
    Ok(s)
}

/// The system's own check of its settings (each message starts with the key at fault).
fn system_settings_valid(system: &SystemSpec) -> Result<(), String> {
    match system {
        SystemSpec::Relay(c) => c.validate(),
        SystemSpec::Raft(c) => c.validate(),
        SystemSpec::Gossip(c) => c.validate(),
        SystemSpec::Twopc(c) => c.validate(),
    }
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

/// Reads and validates a scenario file. The scenario is named by its path, so replay
/// commands point back here.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut s = parse(&text, &path.display().to_string())?;
    s.name = path.display().to_string();
    Ok(s)
}

/// Finds where an error without a position is: reads the system's settings on their own
/// (no `flatten`, so positions survive), or finds the unknown top-level key the error
/// names. Returns the offset and, when the second reading said it better, its message.
fn locate(text: &str, message: &str) -> Option<(usize, Option<String>)> {
    #[derive(Deserialize)]
    struct Head {
        system: String,
    }
    if let Ok(head) = toml::from_str::<Head>(text) {
        let de = toml::Deserializer::new(text);
        if let Err(e) = SystemOnly(&head.system).deserialize(de) {
            if let Some(r) = e.span().filter(|r| r.start > 0) {
                return Some((r.start, Some(e.message().to_string())));
            }
        }
    }
    // "unknown field `x`, expected ...": point at the key.
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let keys: std::collections::BTreeMap<String, Spanned<Value>> = toml::from_str(text).ok()?;
    let value = keys.get(key)?.span().start;
    // The value's line; the key starts that line (top-level keys are not indented).
    Some((text[..value].rfind('\n').map_or(0, |i| i + 1), None))
}

/// Deserializes the system's settings from the whole document, skipping the scenario's
/// own keys: a way to get positions for errors in them.
struct SystemOnly<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for SystemOnly<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SystemOnly<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a scenario table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let de = serde::de::value::MapAccessDeserializer::new(Filtered(map));
        match self.0 {
            "raft" => nodes::raft::RaftSystem::deserialize(de).map(drop),
            "gossip" => nodes::gossip::GossipSystem::deserialize(de).map(drop),
            "twopc" => nodes::twopc::TwopcSystem::deserialize(de).map(drop),
            _ => Ok(()),
        }
    }
}

/// A map without the scenario's own keys.
struct Filtered<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filtered<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.0.next_key::<String>()? else {
                return Ok(None);
            };
            if SCENARIO_KEYS.contains(&key.as_str()) {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            let key = serde::de::value::StringDeserializer::<A::Error>::new(key);
            return seed.deserialize(key).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
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
            let system = match &s.system {
                SystemSpec::Relay(c) => Value::try_from(c).unwrap(),
                SystemSpec::Raft(c) => Value::try_from(c).unwrap(),
                SystemSpec::Gossip(c) => Value::try_from(c).unwrap(),
                SystemSpec::Twopc(c) => Value::try_from(c).unwrap(),
            };
            for key in v.as_table().unwrap().keys() {
                let of_system = system.as_table().unwrap().contains_key(key);
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
                "twopc scenarios only",
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
                line + 3 >= changed && line <= changed,
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
        let SystemSpec::Raft(r) = &back.system else {
            panic!()
        };
        assert_eq!(r.liveness, Some(sim::Nanos::from_secs(2)));
        let both = text.replacen("nodes = 5", "liveness = \"2s\"\nnodes = 5", 1);
        assert!(err(&both).contains("set here and in [checks]"));
        let skipped = text.replace(
            "liveness = \"3s\"",
            "liveness = \"3s\"\nskip = [\"liveness\"]",
        );
        let SystemSpec::Raft(r) = parse(&skipped, "s.toml").unwrap().system else {
            panic!()
        };
        assert_eq!(r.liveness, None);
    }
}
