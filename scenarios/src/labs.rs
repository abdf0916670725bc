//! Teaching labs: each is a folder under `scenarios/labs/` with a guide (`GUIDE.md`), its
//! scenario files and a `lab.toml` that says, per part, which scenario and bug switches make
//! the broken form, which check must flag it, within how many seeds a student will find a
//! failing one, and what the fixed form is (by default the same scenario without the bugs).
//!
//! `dst lab run` plays the broken form seed by seed until the named check fails, or the
//! fixed form as a sweep. Labs are read from disk, not built in, so a student's edits to a
//! lab's scenario take effect at once. This module does not grade anything else a student
//! changes (such as the node code itself); the sweep of the fixed form is the proof.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::report::Verdict;
use crate::runner::{run_scenario, RunOptions, RunResult};
use crate::scenario::Scenario;
use crate::sweep::{sweep, SeedRange, Shard, SweepReport};

/// Seeds in a fixed form's sweep, as the guides promise.
pub const FIXED_SEEDS: u64 = 200;

/// One part of a lab, as `lab.toml` gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The broken form's scenario file, relative to the lab's folder.
    pub scenario: PathBuf,
    /// Bug switches of the broken form, SYSTEM:NAME.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// The check that must flag the broken form.
    pub check: String,
    /// The guide promises a failing seed in `0..find_within`.
    pub find_within: u64,
    /// The fixed form's scenario; the broken form's when unset.
    #[serde(default)]
    pub fixed_scenario: Option<PathBuf>,
    /// Bug switches of the fixed form (usually none).
    #[serde(default)]
    pub fixed_bugs: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    title: String,
    #[serde(rename = "part")]
    parts: Vec<Part>,
}

/// A lab found on disk.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The folder name, like `02-clock-skew-leases`.
    pub id: String,
    /// The folder name without its number: what `dst lab run` takes.
    pub name: String,
    pub title: String,
    pub dir: PathBuf,
    pub parts: Vec<Part>,
}

/// Where the labs are: `$DST_LABS`, else the `labs` folder of this crate's source.
pub fn default_dir() -> PathBuf {
    std::env::var_os("DST_LABS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("labs"))
}

/// Every lab in `dir`, in folder order.
pub fn list(dir: &Path) -> Result<Vec<Lab>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "{}: cannot read the labs folder: {e} (set DST_LABS to where scenarios/labs is)",
            dir.display()
        )
    })?;
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("lab.toml").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids.iter().map(|id| load(&dir.join(id))).collect()
}

/// Reads one lab's `lab.toml`; errors name the file, line and column.
pub fn load(dir: &Path) -> Result<Lab, String> {
    let path = dir.join("lab.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        let (line, col) = e
            .span()
            .map_or((1, 1), |r| crate::file::line_col(&text, r.start));
        format!(
            "{}:{line}:{col}: {}",
            path.display(),
            e.message().replace('\n', " ")
        )
    })?;
    if manifest.parts.is_empty() {
        return Err(format!(
            "{}: a lab needs at least one [[part]]",
            path.display()
        ));
    }
    let id = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let name = id
        .split_once('-')
        .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
        .map_or(id.clone(), |(_, rest)| rest.to_string());
    Ok(Lab {
        id,
        name,
        title: manifest.title,
        dir: dir.to_path_buf(),
        parts: manifest.parts,
    })
}

/// The lab called `name` (`clock-skew-leases`, `02-clock-skew-leases` or `2`).
pub fn find(dir: &Path, name: &str) -> Result<Lab, String> {
    let labs = list(dir)?;
    let number = name.parse::<u32>().ok();
    labs.iter()
        .find(|l| {
            l.name == name
                || l.id == name
                || number.is_some_and(|n| l.id.split('-').next() == Some(&format!("{n:02}")))
        })
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = labs.iter().map(|l| l.name.as_str()).collect();
            format!("unknown lab '{name}'; labs: {}", names.join(", "))
        })
}

/// A path as short as it can be said from the current directory, for replay commands.
fn relative(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// One form of a part, ready to run.
pub struct Form {
    pub scenario: Scenario,
    pub opts: RunOptions,
    pub bugs: Vec<String>,
}

impl Lab {
    /// The broken (`fixed == false`) or fixed form of part `i`.
    pub fn form(&self, i: usize, fixed: bool) -> Result<Form, String> {
        let part = &self.parts[i];
        let (file, bugs) = if fixed {
            (
                part.fixed_scenario.as_ref().unwrap_or(&part.scenario),
                &part.fixed_bugs,
            )
        } else {
            (&part.scenario, &part.bugs)
        };
        let scenario = crate::file::load(&relative(&self.dir.join(file)))?;
        Ok(Form {
            scenario,
            opts: RunOptions::with_bugs(bugs)?,
            bugs: bugs.clone(),
        })
    }
}

/// What searching the broken form found.
pub struct Found {
    pub seed: u64,
    pub result: RunResult,
    /// Whether the check the lab names is among the violations.
    pub expected_check: bool,
}

/// Runs the broken form of part `i` seed by seed from 0 until a run fails, for at most
/// `limit` seeds; `on_seed` hears each finished run.
pub fn find_failure(
    lab: &Lab,
    i: usize,
    limit: u64,
    on_seed: &mut dyn FnMut(&RunResult),
) -> Result<(Form, Option<Found>), String> {
    let form = lab.form(i, false)?;
    let check = &lab.parts[i].check;
    for seed in 0..limit {
        let result = run_scenario(&form.scenario, seed, &form.opts);
        // An edited lab whose schedule cannot apply at this seed is the file's problem.
        if let Some(v) = crate::report::scenario_problem(&result.report.violations) {
            return Err(crate::report::cannot_run(&form.scenario.name, seed, v));
        }
        on_seed(&result);
        if result.report.verdict == Verdict::Violation {
            let expected_check = result.report.violations.iter().any(|v| &v.check == check);
            return Ok((
                form,
                Some(Found {
                    seed,
                    result,
                    expected_check,
                }),
            ));
        }
    }
    Ok((form, None))
}

/// Sweeps the fixed form of part `i` over `seeds` with `jobs` threads.
pub fn sweep_fixed(
    lab: &Lab,
    i: usize,
    seeds: u64,
    jobs: usize,
    on_done: &(dyn Fn(&crate::report::RunReport) + Sync),
) -> Result<SweepReport, String> {
    let form = lab.form(i, true)?;
    let report = sweep(
        &form.scenario,
        SeedRange {
            start: 0,
            end: seeds,
        },
        Shard::WHOLE,
        jobs,
        &form.opts,
        on_done,
    );
    let problem = report
        .failures
        .iter()
        .find_map(|f| Some((f.seed, crate::report::scenario_problem(&f.violations)?)));
    if let Some((seed, v)) = problem {
        return Err(crate::report::cannot_run(&form.scenario.name, seed, v));
    }
    Ok(report)
}
