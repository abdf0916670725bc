//! `dst lab`: list the teaching labs, print a guide, run a lab's broken form until its
//! check fails (writing the picture of that run) or sweep its fixed form.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::{print_report, write_html, BadInput, CmdResult};
use crate::labs::{self, Lab, FIXED_SEEDS};
use crate::report::Verdict;

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// List the labs.
    List {
        /// Folder of the labs (default: the project's scenarios/labs, or $DST_LABS).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print a lab's guide.
    Show {
        /// The lab: its name (`clock-skew-leases`) or number (`2`).
        lab: String,
        /// Folder of the labs (default: the project's scenarios/labs, or $DST_LABS).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run a lab: by default its broken form, seed by seed, until the lab's check fails;
    /// then print the violation and the replay command and write an HTML picture of the
    /// run. With --fixed, sweep the fixed form over 200 seeds. Exit 0 when the lab behaves
    /// as its guide says (broken: the named check fails within the promised seeds; fixed:
    /// every seed passes), 1 when it does not.
    Run(LabRunArgs),
}

#[derive(Debug, Args)]
pub struct LabRunArgs {
    /// The lab: its name (`clock-skew-leases`) or number (`2`).
    lab: String,
    /// Sweep the fixed form instead of searching the broken one.
    #[arg(long)]
    fixed: bool,
    /// Seeds: for the broken form, how many to search (default: what the guide promises);
    /// for the fixed form, how many to sweep (default 200).
    #[arg(long)]
    seeds: Option<u64>,
    /// Where to write the picture of the failing run (default lab-NAME-seed-S.html here,
    /// never replacing a file).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Replace the --html file if it exists.
    #[arg(long)]
    force: bool,
    /// Worker threads for the fixed form's sweep (default: available cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Folder of the labs (default: the project's scenarios/labs, or $DST_LABS).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    budget: super::budget::BudgetArg,
}

pub fn run(cmd: LabCommand) -> CmdResult {
    match cmd {
        LabCommand::List { dir } => {
            let dir = dir.unwrap_or_else(labs::default_dir);
            let all = labs::list(&dir).map_err(BadInput)?;
            for lab in &all {
                let bugs: Vec<String> = lab.parts.iter().flat_map(|p| p.bugs.clone()).collect();
                println!(
                    "{:<22} {}{}",
                    lab.name,
                    lab.title,
                    if bugs.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", bugs.join(", "))
                    }
                );
            }
            println!(
                "\nguides: {}/*/GUIDE.md\nprint one: {p} lab show NAME\nstart one: {p} lab run NAME",
                dir.display(),
                p = crate::registry::current().command_prefix()
            );
            Ok(0)
        }
        LabCommand::Show { lab, dir } => {
            let lab = labs::find(&dir.unwrap_or_else(labs::default_dir), &lab).map_err(BadInput)?;
            let guide = lab.dir.join("GUIDE.md");
            let text = std::fs::read_to_string(&guide)
                .map_err(|e| BadInput(format!("{}: cannot read: {e}", guide.display())))?;
            print!("{text}");
            Ok(0)
        }
        LabCommand::Run(a) => {
            a.budget.apply();
            let lab = labs::find(&a.dir.clone().unwrap_or_else(labs::default_dir), &a.lab)
                .map_err(BadInput)?;
            if a.jobs == Some(0) {
                return Err(BadInput("--jobs must be at least 1".into()));
            }
            if a.seeds == Some(0) {
                return Err(BadInput("--seeds must be at least 1".into()));
            }
            super::outputs::check_outputs([a.html.as_deref()], a.force)?;
            println!("Lab {}: {}", lab.id, lab.title);
            let mut ok = true;
            for i in 0..lab.parts.len() {
                ok &= if a.fixed {
                    run_fixed(&lab, i, &a)?
                } else {
                    run_broken(&lab, i, &a)?
                };
            }
            Ok(if ok { 0 } else { 1 })
        }
    }
}

fn part_label(lab: &Lab, i: usize) -> String {
    if lab.parts.len() == 1 {
        String::new()
    } else {
        format!("part {} of {}: ", i + 1, lab.parts.len())
    }
}

fn run_broken(lab: &Lab, i: usize, a: &LabRunArgs) -> Result<bool, BadInput> {
    let part = &lab.parts[i];
    let limit = a.seeds.unwrap_or(part.find_within);
    let bugs = if part.bugs.is_empty() {
        String::new()
    } else {
        format!(" with {}", part.bugs.join(", "))
    };
    println!(
        "\n{}{}{bugs}: searching seeds 0..{limit} for a {} violation",
        part_label(lab, i),
        part.scenario.display(),
        part.check
    );
    let mut on_seed = |r: &crate::runner::RunResult| {
        println!("  seed {:>3}: {}", r.report.seed, r.report.verdict.as_str());
    };
    let (form, found) = labs::find_failure(lab, i, limit, &mut on_seed).map_err(BadInput)?;
    let Some(found) = found else {
        println!(
            "No violation in seeds 0..{limit}. The guide promises one; if you changed the scenario, \
             try more seeds with --seeds."
        );
        return Ok(false);
    };
    println!();
    print_report(&found.result.report);
    let path = match &a.html {
        Some(p) => p.clone(),
        None => free_name(&format!("lab-{}-seed-{}", lab.name, found.seed)),
    };
    write_html(&form.scenario, &found.result, &path, a.force)?;
    println!(
        "  picture: {} (open it in a browser; add #violation to the address to open it on the violation)",
        path.display()
    );
    if !found.expected_check {
        println!(
            "  note: the lab expects a {} violation; this run failed another check",
            part.check
        );
    }
    println!(
        "  next: read the guide ({p} lab show {}), then prove the fix:\n        {p} lab run {} --fixed",
        lab.name,
        lab.name,
        p = crate::registry::current().command_prefix()
    );
    Ok(found.expected_check)
}

/// `stem.html`, or `stem-2.html`, `stem-3.html`, ... if taken: never replace a file.
fn free_name(stem: &str) -> PathBuf {
    let mut n = 1;
    loop {
        let name = if n == 1 {
            format!("{stem}.html")
        } else {
            format!("{stem}-{n}.html")
        };
        let path = PathBuf::from(name);
        if !path.exists() {
            return path;
        }
        n += 1;
    }
}

fn run_fixed(lab: &Lab, i: usize, a: &LabRunArgs) -> Result<bool, BadInput> {
    let part = &lab.parts[i];
    let seeds = a.seeds.unwrap_or(FIXED_SEEDS);
    let form = lab.form(i, true).map_err(BadInput)?;
    let bugs = if form.bugs.is_empty() {
        " (no bugs on)".to_string()
    } else {
        format!(" with {}", form.bugs.join(", "))
    };
    println!(
        "\n{}fixed form: {}{bugs}, sweeping seeds 0..{seeds}",
        part_label(lab, i),
        part.fixed_scenario
            .as_ref()
            .unwrap_or(&part.scenario)
            .display()
    );
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(seeds);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:30}] {pos}/{len} seeds, {per_sec}, eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let on_done = |_: &crate::report::RunReport| bar.inc(1);
    let report = labs::sweep_fixed(lab, i, seeds, jobs, &on_done).map_err(BadInput)?;
    bar.finish_and_clear();
    let failed = report.failures.len();
    println!(
        "  {} of {} seeds pass ({:.1} seeds/s)",
        report.passed, report.runs, report.seeds_per_sec
    );
    for f in &report.failures {
        let first = f
            .violations
            .first()
            .map_or(f.verdict.as_str().to_string(), |v| {
                format!("{}: {}", v.check, v.message.lines().next().unwrap_or(""))
            });
        println!("  seed {}: {first}\n    replay: {}", f.seed, f.replay);
    }
    let pass = failed == 0 && report.failures.iter().all(|f| f.verdict == Verdict::Pass);
    if pass {
        println!("  the fix holds");
    }
    Ok(pass)
}
