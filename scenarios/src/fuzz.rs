//! `dst fuzz`: swarm seeds until a budget runs out; every new failure (new by its
//! signature: system, violated check, bugs) is shrunk, saved as a scenario file, and added
//! to a corpus file. `--shard I/N` gives each of N jobs its own seeds.
//!
//! Files are only ever replaced whole: written to a temporary file beside the target,
//! synced, then renamed over it (and the directory synced), so a fuzz job killed at any
//! moment leaves the previous corpus or the new one, never half of one.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::builtin;
use crate::report::Verdict;
use crate::runner::{run_scenario, RunOptions};
use crate::shrink::shrink;
use crate::sweep::Shard;

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// The seed of run `run` of a fuzz job: shards interleave, so N shards of k runs each
/// cover exactly the seeds of one unsharded job of N*k runs.
pub fn seed_of(start: u64, run: u64, shard: Shard) -> u64 {
    start.wrapping_add(run.wrapping_mul(shard.count).wrapping_add(shard.index))
}

/// One failure the fuzzer kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub signature: String,
    pub seed: u64,
    pub scenario_file: String,
    pub faults_before: usize,
    pub faults_after: usize,
}

/// What a fuzz session did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FuzzReport {
    pub runs: u64,
    pub failures: u64,
    /// Runs whose drawn schedule held a fault that could not apply (a swarm generator's
    /// problem, not the system's): neither failures nor findings.
    pub inapplicable: u64,
    pub new_findings: Vec<Finding>,
    pub runs_per_sec: f64,
}

/// Signatures already in the corpus file, so a rerun does not add the same finding.
fn known_signatures(corpus: &Path) -> BTreeSet<String> {
    let Ok(cases) = crate::corpus::load(corpus) else {
        return BTreeSet::new();
    };
    cases
        .iter()
        .filter_map(|c| {
            c.note
                .strip_prefix("fuzz: ")
                .map(|s| s.split(' ').next().unwrap_or("").to_string())
        })
        .collect()
}

/// The corpus `dst fuzz` adds to is missing (it is created) or a regular file that reads
/// as a corpus: anything else (a binary file, a truncated corpus, a device) is refused
/// rather than replaced.
fn check_corpus(corpus: &Path) -> Result<(), String> {
    match fs::metadata(corpus) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", corpus.display())),
        Ok(m) if !m.is_file() => Err(format!(
            "{} is not a regular file; --out names the corpus file findings are added to",
            corpus.display()
        )),
        Ok(_) => crate::corpus::load(corpus).map(drop).map_err(|e| {
            format!(
                "{} (not a corpus dst fuzz can add to; name another --out file)",
                e
            )
        }),
    }
}

/// `stem.toml` in `dir`, or `stem-2.toml`, `stem-3.toml`, ... if taken: a finding never
/// replaces a file already in found/ (perhaps one a user edited).
fn free_name(dir: &Path, stem: &str) -> String {
    (1..)
        .map(|n| match n {
            1 => format!("{stem}.toml"),
            n => format!("{stem}-{n}.toml"),
        })
        .find(|name| fs::symlink_metadata(dir.join(name)).is_err())
        .expect("some numbered name is free")
}

/// What to fuzz and where findings go.
pub struct FuzzPlan<'a> {
    pub systems: &'a [String],
    pub opts: &'a RunOptions,
    /// The `--bug` flags, recorded with each finding.
    pub bug_flags: &'a [String],
    pub start_seed: u64,
    pub corpus: &'a Path,
    /// Run budget for shrinking each new failure.
    pub shrink_runs: u64,
    /// This job's slice of the seed space: run k uses seed start + k*count + index, so N
    /// shards never run the same seed.
    pub shard: Shard,
}

/// The fuzz loop. `keep_going` lets the caller stop it (a time budget); `on_run` reports
/// progress after each run as (runs, failures).
pub fn fuzz(
    plan: &FuzzPlan<'_>,
    keep_going: &mut dyn FnMut(u64) -> bool,
    on_run: &mut dyn FnMut(u64, u64),
) -> Result<FuzzReport, String> {
    let FuzzPlan {
        systems,
        opts,
        bug_flags,
        start_seed,
        corpus,
        shrink_runs,
        shard,
    } = *plan;
    let registry = crate::registry::current();
    let families: Vec<_> = if systems.is_empty() {
        registry
            .scenarios()
            .into_iter()
            .filter(crate::swarm::is_swarm)
            .collect()
    } else {
        systems
            .iter()
            .map(|s| {
                registry.lookup(s)?;
                builtin::find(&format!("swarm/{s}")).ok_or_else(|| {
                    format!("system '{s}' has no swarm family (its System::swarm_base is None)")
                })
            })
            .collect::<Result<_, _>>()?
    };
    if families.is_empty() {
        return Err("no registered system has a swarm family to fuzz".to_string());
    }
    check_corpus(corpus)?;
    let found_dir: PathBuf = corpus.parent().unwrap_or(Path::new(".")).join("found");
    let mut seen = known_signatures(corpus);
    let started = std::time::Instant::now();
    let (mut runs, mut failures, mut inapplicable) = (0u64, 0u64, 0u64);
    let mut findings = Vec::new();
    while keep_going(runs) {
        let seed = seed_of(start_seed, runs, shard);
        let family = &families[(runs % families.len() as u64) as usize];
        // Only the report is read: keep no more of the trace than the checks need.
        let lean = RunOptions {
            lean_trace: true,
            ..opts.clone()
        };
        let r = run_scenario(family, seed, &lean).report;
        runs += 1;
        // A fault the drawn schedule could not apply is the generator's problem, not a
        // finding about the system (and there would be nothing to shrink).
        if crate::report::scenario_problem(&r.violations).is_some() {
            inapplicable += 1;
        }
        let system_violation = r
            .violations
            .iter()
            .find(|v| v.check != crate::shrink::SCENARIO_CHECK);
        if let (Verdict::Violation, Some(first)) = (r.verdict, system_violation) {
            failures += 1;
            let check = first.check.clone();
            let signature = format!("{}:{}:{}", family.system.name(), check, bug_flags.join("+"));
            if seen.insert(signature.clone()) {
                // Shrinking draws the family's schedule at this seed and shrinks that.
                let shrunk = shrink(family, seed, opts, shrink_runs, Some(&check))
                    .map_err(|e| format!("shrinking seed {seed}: {e}"))?;
                fs::create_dir_all(&found_dir)
                    .map_err(|e| format!("{}: {e}", found_dir.display()))?;
                let stem = format!("{}-{}-{seed}", family.system.name(), check);
                let file_name = free_name(&found_dir, &stem);
                let file = found_dir.join(&file_name);
                let mut sc = shrunk.scenario.clone();
                sc.name = format!("found/{file_name}");
                write_atomically(&file, crate::file::to_toml(&sc).as_bytes())
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                // Read again (another job may share it) and checked again before appending.
                check_corpus(corpus)?;
                let mut text = fs::read_to_string(corpus).unwrap_or_default();
                if text.is_empty() {
                    text.push_str(
                        "# Failures found by `dst fuzz`, shrunk; `cargo test` can replay them.\n",
                    );
                }
                let bugs = bug_flags
                    .iter()
                    .map(|b| format!("{b:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                text.push_str(&format!(
                    "\n[[case]]\nscenario = \"found/{file_name}\"\nseed = {seed}\nbugs = [{bugs}]\nexpect = \"violation\"\ncheck = \"{check}\"\nnote = \"fuzz: {signature} shrunk from {} to {} fault events\"\n",
                    shrunk.before.fault_events, shrunk.after.fault_events
                ));
                write_atomically(corpus, text.as_bytes())
                    .map_err(|e| format!("{}: {e}", corpus.display()))?;
                findings.push(Finding {
                    signature,
                    seed,
                    scenario_file: file.display().to_string(),
                    faults_before: shrunk.before.fault_events,
                    faults_after: shrunk.after.fault_events,
                });
            }
        }
        on_run(runs, failures);
    }
    Ok(FuzzReport {
        runs,
        failures,
        inapplicable,
        new_findings: findings,
        runs_per_sec: runs as f64 / started.elapsed().as_secs_f64().max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_never_replace_a_file_and_only_a_corpus_is_added_to() {
        let dir = std::env::temp_dir().join(format!("dst-fuzz-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(free_name(&dir, "raft-x-3"), "raft-x-3.toml");
        fs::write(dir.join("raft-x-3.toml"), "edited by hand").unwrap();
        assert_eq!(free_name(&dir, "raft-x-3"), "raft-x-3-2.toml");
        // Missing: created later. A corpus: added to. Anything else: refused.
        assert!(check_corpus(&dir.join("new.toml")).is_ok());
        let corpus = dir.join("corpus.toml");
        fs::write(
            &corpus,
            "[[case]]\nscenario = \"relay/halves\"\nseed = 1\nexpect = \"pass\"\n",
        )
        .unwrap();
        assert!(check_corpus(&corpus).is_ok());
        fs::write(
            &corpus,
            "[[case]]\nscenario = \"relay/halves\"\nseed = 1\nexpe",
        )
        .unwrap();
        let e = check_corpus(&corpus).unwrap_err();
        assert!(e.contains("not a corpus") && !e.contains('\n'), "{e}");
        fs::write(&corpus, [0u8, 159, 146, 150, 255]).unwrap();
        assert!(check_corpus(&corpus).is_err());
        assert!(check_corpus(&dir)
            .unwrap_err()
            .contains("not a regular file"));
        if Path::new("/dev/null").exists() {
            assert!(check_corpus(Path::new("/dev/null")).is_err());
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn fuzz_shards_cover_the_seeds_of_one_job_exactly() {
        let whole: Vec<u64> = (0..12).map(|r| seed_of(5, r, Shard::WHOLE)).collect();
        let mut sharded: Vec<u64> = (0..3)
            .flat_map(|i| (0..4).map(move |r| seed_of(5, r, Shard { index: i, count: 3 })))
            .collect();
        sharded.sort_unstable();
        assert_eq!(sharded, whole);
        assert_eq!(whole, (5..17).collect::<Vec<u64>>());
    }
}
