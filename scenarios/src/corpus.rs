//! The seed corpus: TOML files in `seeds/`, one per system, each a list of cases that
//! once failed or that prove a catalogued bug is caught. Every case names its scenario,
//! seed, bugs, the verdict it must get, and (for violations) the check that must flag it.
//!
//! ```toml
//! [[case]]
//! scenario = "raft/crash-leader"
//! seed = 3
//! bugs = ["raft:no-fsync"]
//! expect = "violation"
//! check = "linearizability"
//! note = "an acknowledged write is lost when the leader forgets its unsynced log"
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::builtin;
use crate::report::Verdict;
use crate::runner::{run_scenario, RunOptions};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub scenario: String,
    pub seed: u64,
    #[serde(default)]
    pub bugs: Vec<String>,
    /// "pass" or "violation".
    pub expect: String,
    /// The check that must be among the violations (when `expect = "violation"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    case: Vec<Case>,
}

/// Reads one corpus file; errors name the file and what is wrong. A case may name a
/// scenario file (`*.toml`) instead of a built-in, relative to the corpus file.
pub fn load(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: CorpusFile = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(file
        .case
        .into_iter()
        .map(|mut c| {
            if c.scenario.ends_with(".toml") && Path::new(&c.scenario).is_relative() {
                c.scenario = dir.join(&c.scenario).display().to_string();
            }
            c
        })
        .collect())
}

/// A TOML error as one line: file, line and column, and what was expected (the error's
/// own text quotes the source over several lines).
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().replace('\n', " ");
    match e.span() {
        Some(r) => {
            let (line, col) = crate::file::line_col(text, r.start);
            format!("{}:{line}:{col}: {}", path.display(), message.trim())
        }
        None => format!("{}: {}", path.display(), message.trim()),
    }
}

/// Replays a case; `Err` says how the outcome differs from what the case expects.
pub fn replay(case: &Case) -> Result<(), String> {
    let scenario = match builtin::find(&case.scenario) {
        Some(s) => s,
        None if case.scenario.ends_with(".toml") => crate::file::load(Path::new(&case.scenario))?,
        None => return Err(format!("unknown scenario {}", case.scenario)),
    };
    let opts = RunOptions::with_bugs(&case.bugs)?;
    let r = run_scenario(&scenario, case.seed, &opts).report;
    let checks: Vec<&str> = r.violations.iter().map(|v| v.check.as_str()).collect();
    match case.expect.as_str() {
        "pass" if r.verdict == Verdict::Pass => Ok(()),
        "violation" if r.verdict == Verdict::Violation => match &case.check {
            Some(c) if !checks.contains(&c.as_str()) => Err(format!(
                "expected check {c} to flag it, got {checks:?}; replay: {}",
                r.replay
            )),
            _ => Ok(()),
        },
        other => Err(format!(
            "expected {other}, got {} ({checks:?}); replay: {}",
            r.verdict.as_str(),
            r.replay
        )),
    }
}

/// Replays every case; one line for each that no longer holds.
pub fn failures(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|case| {
            replay(case)
                .err()
                .map(|e| format!("{} seed {} {:?}: {e}", case.scenario, case.seed, case.bugs))
        })
        .collect()
}

/// The catalogued bugs of `system` (from the process's registry) that no case of `cases`
/// catches on its own with a named check: every bug should have one.
pub fn uncaught_bugs(system: &str, cases: &[Case]) -> Result<Vec<String>, String> {
    let sys = crate::registry::current().lookup(system)?;
    Ok(sys
        .bugs()
        .into_iter()
        .map(|(bug, _)| format!("{system}:{bug}"))
        .filter(|flag| {
            !cases
                .iter()
                .any(|c| c.bugs == [flag.clone()] && c.expect == "violation" && c.check.is_some())
        })
        .collect())
}

/// What tells two cases apart when corpora are merged: a fuzz finding's signature
/// (system, check, bugs), else the scenario's seed and bugs and the built-in's name or the
/// scenario file's contents (two different `found/x.toml` at one seed are two cases).
/// `dir` is what a relative scenario path is relative to.
fn identity(c: &Case, dir: &Path) -> String {
    match c.note.strip_prefix("fuzz: ") {
        Some(rest) => format!("fuzz {}", rest.split(' ').next().unwrap_or("")),
        None => {
            let file = Path::new(&c.scenario)
                .file_name()
                .map_or(c.scenario.clone(), |f| f.to_string_lossy().into_owned());
            // A scenario file is known by its contents: merging renames files
            // (`found/x-2.toml`) that would otherwise overwrite a different one.
            match std::fs::read_to_string(dir.join(&c.scenario)) {
                Ok(contents) if c.scenario.ends_with(".toml") => {
                    format!("file {} {} {contents}", c.seed, c.bugs.join("+"))
                }
                _ => format!("{file} {} {}", c.seed, c.bugs.join("+")),
            }
        }
    }
}

/// A case a corpus can hold: a known scenario (built-in or an existing file), known bugs
/// and an `expect` that is a verdict.
fn check_case(c: &Case) -> Result<(), String> {
    let what = format!("case {} seed {}", c.scenario, c.seed);
    if !["pass", "violation", "unknown"].contains(&c.expect.as_str()) {
        return Err(format!(
            "{what}: expect = \"{}\" is not pass, violation or unknown",
            c.expect
        ));
    }
    RunOptions::with_bugs(&c.bugs).map_err(|e| format!("{what}: {e}"))?;
    let known = if c.scenario.ends_with(".toml") {
        Path::new(&c.scenario).is_file()
    } else {
        builtin::find(&c.scenario).is_some()
    };
    if !known {
        return Err(format!("{what}: no such scenario"));
    }
    if let Some(check) = &c.check {
        let s = crate::registry::current()
            .scenario(&c.scenario)
            .map_err(|e| format!("{what}: {e}"))?;
        let known = known_checks(&s);
        if !known.contains(&check.as_str()) {
            return Err(format!(
                "{what}: unknown check '{check}'; {} runs can violate {}",
                s.system.name(),
                known.join(", ")
            ));
        }
    }
    Ok(())
}

/// Every check a run of `s` can report a violation of: its system's checks, the world
/// audit's, and the runner's own (a panic, a fault that could not be applied, a malformed
/// history, a determinism check).
fn known_checks(s: &crate::scenario::Scenario) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = s.system.checks().into_iter().map(|(c, _)| c).collect();
    v.extend(sim::audit::CHECKS);
    v.extend(["panic", "scenario", "history", "determinism"]);
    v
}

/// What `merge_into` did.
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary {
    pub cases: usize,
    pub added: usize,
    pub duplicates: usize,
}

/// Joins corpus files (such as the fuzz shards' `corpus-I.toml`) into `out`, keeping the
/// cases already there: a case whose identity `out` already holds is a duplicate. Scenario
/// files a case names are copied into `found/` beside `out`, never over a different file.
/// `out` is replaced atomically.
pub fn merge_into(out: &Path, inputs: &[PathBuf]) -> Result<MergeSummary, String> {
    let out_dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut cases: Vec<Case> = if out.exists() {
        let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
        toml::from_str::<CorpusFile>(&text)
            .map_err(|e| toml_error(out, &text, &e))?
            .case
    } else {
        Vec::new()
    };
    let mut seen: BTreeSet<String> = cases.iter().map(|c| identity(c, out_dir)).collect();
    let (mut added, mut duplicates) = (0, 0);
    for input in inputs {
        for mut c in load(input)? {
            check_case(&c).map_err(|e| format!("{}: {e}", input.display()))?;
            // `load` made scenario paths relative to the working directory.
            if !seen.insert(identity(&c, Path::new("."))) {
                duplicates += 1;
                continue;
            }
            if c.scenario.ends_with(".toml") {
                c.scenario = copy_scenario(Path::new(&c.scenario), out_dir)?;
            }
            cases.push(c);
            added += 1;
        }
    }
    let mut text = String::from(
        "# Seed corpus cases, merged by `dst merge`; `cargo test` can replay them.\n\n",
    );
    text.push_str(
        &toml::to_string(&CorpusFile {
            case: cases.clone(),
        })
        .map_err(|e| format!("cannot write the corpus: {e}"))?,
    );
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    crate::fuzz::write_atomically(out, text.as_bytes())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(MergeSummary {
        cases: cases.len(),
        added,
        duplicates,
    })
}

/// Copies a case's scenario file into `dir/found/`, returning the name the merged corpus
/// uses. A different file already there under that name gets a numbered name instead.
fn copy_scenario(from: &Path, dir: &Path) -> Result<String, String> {
    let bytes = std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let found = dir.join("found");
    std::fs::create_dir_all(&found).map_err(|e| format!("{}: {e}", found.display()))?;
    let stem = from
        .file_stem()
        .map_or("case".to_string(), |s| s.to_string_lossy().into_owned());
    for n in 1.. {
        let name = if n == 1 {
            format!("{stem}.toml")
        } else {
            format!("{stem}-{n}.toml")
        };
        let target = found.join(&name);
        match std::fs::read(&target) {
            Ok(existing) if existing == bytes => return Ok(format!("found/{name}")),
            Ok(_) => continue,
            Err(_) => {
                crate::fuzz::write_atomically(&target, &bytes)
                    .map_err(|e| format!("{}: {e}", target.display()))?;
                return Ok(format!("found/{name}"));
            }
        }
    }
    unreachable!("some numbered name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard's corpus: one fuzz finding with its scenario file in `found/`.
    fn shard(dir: &Path, name: &str, signature: &str, body: &str) -> PathBuf {
        std::fs::create_dir_all(dir.join("found")).unwrap();
        std::fs::write(dir.join("found").join(format!("{name}.toml")), body).unwrap();
        let corpus = dir.join("corpus.toml");
        std::fs::write(
            &corpus,
            format!(
                "[[case]]\nscenario = \"found/{name}.toml\"\nseed = 1\nexpect = \"pass\"\nnote = \"fuzz: {signature} shrunk\"\n"
            ),
        )
        .unwrap();
        corpus
    }

    #[test]
    fn shards_merge_once_each_with_their_files() {
        let root = std::env::temp_dir().join(format!("dst-corpus-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let halves = crate::file::to_toml(&builtin::find("relay/halves").unwrap());
        let lossy = crate::file::to_toml(&builtin::find("relay/lossy").unwrap());
        // Two shards found different things under the same file name, and one of them
        // found the first shard's signature again.
        let a = shard(&root.join("a"), "relay-x-1", "relay:x", &halves);
        let b = shard(&root.join("b"), "relay-x-1", "relay:y", &lossy);
        let c = shard(&root.join("c"), "relay-x-1", "relay:x", &halves);
        let out = root.join("merged").join("corpus.toml");
        let m = merge_into(&out, &[a, b, c]).unwrap();
        assert_eq!((m.cases, m.added, m.duplicates), (2, 2, 1));
        let merged = load(&out).unwrap();
        let files: Vec<&str> = merged.iter().map(|c| c.scenario.as_str()).collect();
        assert!(files[0].ends_with("found/relay-x-1.toml"), "{files:?}");
        assert!(
            files[1].ends_with("found/relay-x-1-2.toml"),
            "a different file is not overwritten"
        );
        for case in &merged {
            replay(case).unwrap();
        }
        // Merging again adds nothing.
        let again = merge_into(&out, &[root.join("b").join("corpus.toml")]).unwrap();
        assert_eq!((again.cases, again.added), (2, 0));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn cases_with_one_file_name_and_seed_but_different_scenarios_are_both_kept() {
        let root = std::env::temp_dir().join(format!("dst-corpus-same-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |dir: &Path, body: &str| {
            std::fs::create_dir_all(dir.join("found")).unwrap();
            std::fs::write(dir.join("found/case.toml"), body).unwrap();
            let corpus = dir.join("corpus.toml");
            std::fs::write(
                &corpus,
                "[[case]]\nscenario = \"found/case.toml\"\nseed = 4\nexpect = \"pass\"\n",
            )
            .unwrap();
            corpus
        };
        let halves = crate::file::to_toml(&builtin::find("relay/halves").unwrap());
        let lossy = crate::file::to_toml(&builtin::find("relay/lossy").unwrap());
        let a = write(&root.join("a"), &halves);
        let b = write(&root.join("b"), &lossy);
        let c = write(&root.join("c"), &halves);
        let out = root.join("merged/corpus.toml");
        let m = merge_into(&out, &[a, b, c]).unwrap();
        assert_eq!((m.cases, m.added, m.duplicates), (2, 2, 1));
        // Merging into a corpus that holds them already: the file beside it is compared.
        let again = merge_into(&out, &[root.join("b/corpus.toml")]).unwrap();
        assert_eq!((again.cases, again.added), (2, 0));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn corpus_toml_errors_are_one_line_at_the_key() {
        let root = std::env::temp_dir().join(format!("dst-corpus-err-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let bad = root.join("bad.toml");
        std::fs::write(
            &bad,
            "[[case]]\nscenario = \"relay/halves\"\nseed = \"x\"\n",
        )
        .unwrap();
        let e = load(&bad).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with(&format!("{}:3:8: ", bad.display())), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
