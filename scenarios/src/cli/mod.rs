//! The `dst` command line: list, run, sweep, replay, check, bench.
//!
//! Exit codes: 0 every check held, 1 a violation was found, 2 bad usage or bad input,
//! 3 unknown (a checker ran out of time). Bad input gets one line on stderr.

mod budget;
pub mod check;
mod lab;
mod logging;
mod outputs;
pub mod stdout_guard;

use std::fs::OpenOptions;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::{bench_disk, bench_raft, bench_sim, BenchSimParams};
use crate::builtin;
use crate::report::{RunReport, Verdict};
use crate::runner::{check_determinism, run_scenario, RunOptions, RunResult};
use crate::scenario::Scenario;
use crate::sweep::{
    parse_seed, parse_seed_range, parse_shard, sweep, SeedRange, Shard, SweepReport,
};

/// Deterministic simulation testing for distributed systems.
///
/// One seed fixes a whole run: network, clocks, crashes and the order of events. Run a
/// scenario at a seed, sweep it over many seeds, and replay a failing seed with full
/// tracing.
#[derive(Debug, Parser)]
#[command(name = "dst", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the built-in scenarios, one line each.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run one scenario at one seed and check it.
    Run(RunArgs),
    /// Run a scenario over a range of seeds and report the failing ones.
    Sweep(SweepArgs),
    /// Run one seed again with full tracing (RUST_LOG filters it).
    Replay(ReplayArgs),
    /// Print a scenario as a TOML file you can edit and run with `dst run FILE`.
    Show {
        /// Scenario name (see `dst list`) or file.
        scenario: String,
    },
    /// Shrink a failing run to a smaller fault schedule that fails the same way.
    Shrink(ShrinkArgs),
    /// Run swarm seeds until the budget ends; shrink and keep every new failure.
    Fuzz(FuzzArgs),
    /// Join the `--json` reports of sharded sweeps into one.
    /// Or join corpus files (`*.toml`, such as the fuzz shards' corpora) into `--out`.
    Merge {
        /// Report files written by `dst sweep --json --shard I/N`, or corpus files.
        files: Vec<PathBuf>,
        /// With corpus files: the corpus to merge into (created if missing; its cases are
        /// kept, and the scenario files cases name are copied into found/ beside it).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check recorded histories (linearizability, causality, serializability, siblings).
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Teaching labs: `dst lab list`, `dst lab show NAME`, `dst lab run NAME [--fixed]`.
    #[command(subcommand)]
    Lab(lab::LabCommand),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario name (see `dst list`).
    scenario: String,
    /// The run seed, decimal or 0x-hex.
    #[arg(long, value_parser = parse_seed)]
    seed: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the trace as JSON lines to FILE (refuses to replace an existing file).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Write the client history as native JSON lines to FILE (systems with clients).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Write a self-contained HTML report (space-time diagram, client history, violation)
    /// to FILE; open it in any browser, no network needed.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Replace the --trace, --history or --html file if it exists.
    #[arg(long)]
    force: bool,
    /// Run twice and compare trace digests; name the first diverging event if they differ.
    #[arg(long)]
    check_determinism: bool,
    /// Switch on a catalogued bug, SYSTEM:NAME (repeatable; `dst list` shows them).
    #[arg(long = "bug", value_name = "SYSTEM:NAME")]
    bugs: Vec<String>,
    #[command(flatten)]
    budget: budget::BudgetArg,
}

#[derive(Debug, Args)]
struct SweepArgs {
    /// Scenario name (see `dst list`), `all` for every built-in scenario, or `raft/all`.
    scenario: String,
    /// Seeds to run: A..B (B excluded) or A..=B; decimal or 0x-hex.
    #[arg(long, value_parser = parse_seed_range, default_value = "0..100")]
    seeds: SeedRange,
    /// Worker threads (default: available cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Run only shard I of N of the seeds (for CI matrices); `dst merge` joins the reports.
    #[arg(long, value_parser = parse_shard, value_name = "I/N")]
    shard: Option<Shard>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Switch on a catalogued bug, SYSTEM:NAME (repeatable).
    #[arg(long = "bug", value_name = "SYSTEM:NAME")]
    bugs: Vec<String>,
    #[command(flatten)]
    budget: budget::BudgetArg,
}

#[derive(Debug, Args)]
struct FuzzArgs {
    /// Systems to fuzz, comma separated (each has a swarm/SYSTEM family; default: every
    /// system that has one).
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Stop after this much wall time, like 30m or 90s.
    #[arg(long, value_parser = sim::parse_duration, conflicts_with = "runs")]
    time: Option<sim::Nanos>,
    /// Stop after this many runs.
    #[arg(long)]
    runs: Option<u64>,
    /// The corpus file new findings are added to (created if missing; shrunk scenarios go
    /// to found/ beside it).
    #[arg(long, default_value = "seeds/fuzz.toml")]
    out: PathBuf,
    /// Bugs to switch on, SYSTEM:NAME (repeatable).
    #[arg(long = "bug", value_name = "SYSTEM:NAME")]
    bugs: Vec<String>,
    /// First seed.
    #[arg(long, value_parser = parse_seed, default_value = "0")]
    seed: u64,
    /// Run budget for shrinking each new failure.
    #[arg(long, default_value_t = 200)]
    shrink_runs: u64,
    /// Run only shard I of N of the seeds (seed + k*N + I), for CI matrices.
    #[arg(long, value_parser = parse_shard, value_name = "I/N")]
    shard: Option<Shard>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    budget: budget::BudgetArg,
}

#[derive(Debug, Args)]
struct ShrinkArgs {
    /// Scenario name or file.
    scenario: String,
    /// The failing seed.
    #[arg(long, value_parser = parse_seed)]
    seed: u64,
    /// Bugs switched on in the failing run, SYSTEM:NAME (repeatable).
    #[arg(long = "bug", value_name = "SYSTEM:NAME")]
    bugs: Vec<String>,
    /// Where to write the shrunk scenario (default shrunk-NAME-SEED.toml; never replaced
    /// unless --force).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace the --out file if it exists.
    #[arg(long)]
    force: bool,
    /// Give up after this many runs.
    #[arg(long, default_value_t = 1000)]
    max_runs: u64,
    /// The violation kind to keep (a check name; default: the first the run violates).
    #[arg(long, value_name = "CHECK")]
    check: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    budget: budget::BudgetArg,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// Scenario name (see `dst list`).
    scenario: String,
    /// The seed to replay, decimal or 0x-hex.
    #[arg(long, value_parser = parse_seed)]
    seed: u64,
    /// Also write the trace as JSON lines to FILE (refuses to replace an existing file).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Also write a self-contained HTML report of the run to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Replace the --trace or --html file if it exists.
    #[arg(long)]
    force: bool,
    /// Switch on a catalogued bug, SYSTEM:NAME (repeatable).
    #[arg(long = "bug", value_name = "SYSTEM:NAME")]
    bugs: Vec<String>,
    #[command(flatten)]
    budget: budget::BudgetArg,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Messages per second on raw madsim endpoints vs through `sim`, and their ratio.
    Sim(BenchSimArgs),
    /// Simulated disk operations per second.
    Disk(BenchDiskArgs),
    /// Seeds per second of the reference Raft scenario on one core.
    Raft(BenchRaftArgs),
    /// Seeds per second and simulated time per wall time of any scenario, one core.
    Scenario(BenchScenarioArgs),
    /// Checker speed on reference and generated histories.
    Check(check::BenchCheckArgs),
    /// HTML report of a long run (100,000 events by default): build time, size, and the
    /// time headless Chromium takes to open and draw it (when one is installed).
    Html(BenchHtmlArgs),
}

#[derive(Debug, Args)]
struct BenchHtmlArgs {
    /// Scenario name or file.
    #[arg(long, default_value = "raft/partition-halves")]
    scenario: String,
    /// Run length; 75s of raft/partition-halves makes about 100,000 trace events.
    #[arg(long, value_parser = sim::parse_duration, default_value = "75s")]
    duration: sim::Nanos,
    #[arg(long, value_parser = parse_seed, default_value = "1")]
    seed: u64,
    /// Times to open the page in the browser.
    #[arg(long, default_value_t = 3)]
    loads: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchRaftArgs {
    /// Seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchScenarioArgs {
    /// Scenario names or files (for example the first gossip or twopc built-in); several
    /// are measured one after another in one run, one line (or JSON line) each, to compare
    /// systems on one schedule (`raft/partition-halves raft-rs/partition-halves`).
    #[arg(required = true)]
    scenario: Vec<String>,
    /// Seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchDiskArgs {
    /// Nodes, each with its own disk.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// 4 KiB records each node appends (and reads back).
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchSimArgs {
    /// Nodes in the workload.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Messages each node sends.
    #[arg(long, default_value_t = 40_000)]
    messages: u64,
    /// Messages each node keeps in flight.
    #[arg(long, default_value_t = 8)]
    window: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A user error: printed as one line, exit code 2.
struct BadInput(String);

type CmdResult = Result<i32, BadInput>;

/// Entry point of the `dst` binary (the bundled systems); returns the exit code.
pub fn main() -> i32 {
    main_with(crate::registry::bundled())
}

/// The whole `dst` command line for the systems `registry` holds, reading the process's
/// arguments; returns the exit code. A user's binary is
/// `fn main() { std::process::exit(cli::main_with(my_registry())) }`. Installs the
/// registry (see `Registry::install`), so replay commands name this program.
pub fn main_with(registry: crate::registry::Registry) -> i32 {
    stdout_guard::guarded(|| main_from(registry, std::env::args_os()))
}

/// [`main_with`] with explicit arguments (the first is the program name).
pub fn main_from<I, T>(registry: crate::registry::Registry, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // Rust ignores SIGPIPE, so a closed pipe (`dst list | head`) would make every later
    // print panic; a command-line tool should just stop, as `cat` does.
    #[cfg(unix)]
    // SAFETY: SIG_DFL is a valid handler; the CLI sets it before it starts any run.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    registry.install();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            // clap's own message is several lines; the first one says what is wrong.
            eprintln!("{} (see `dst --help`)", one_line(&e.render().to_string()));
            return 2;
        }
    };
    let result = match cli.command {
        Command::List { json } => list(json),
        Command::Run(a) => run_cmd(a),
        Command::Sweep(a) => sweep_cmd(a),
        Command::Replay(a) => replay_cmd(a),
        Command::Check(c) => Ok(check::run(c)),
        Command::Show { scenario: name } => scenario(&name).map(|s| {
            print!("{}", crate::file::to_toml(&s));
            0
        }),
        Command::Merge { files, out } => merge_cmd(&files, out.as_deref()),
        Command::Shrink(a) => shrink_cmd(a),
        Command::Fuzz(a) => fuzz_cmd(a),
        Command::Bench(BenchCommand::Sim(a)) => bench_sim_cmd(a),
        Command::Bench(BenchCommand::Disk(a)) => bench_disk_cmd(a),
        Command::Bench(BenchCommand::Raft(a)) => bench_raft_cmd(a),
        Command::Bench(BenchCommand::Scenario(a)) => bench_scenario_cmd(a),
        Command::Bench(BenchCommand::Check(a)) => Ok(check::bench(a)),
        Command::Bench(BenchCommand::Html(a)) => bench_html_cmd(a),
        Command::Lab(c) => lab::run(c),
    };
    match result {
        Ok(code) => code,
        Err(BadInput(msg)) => {
            eprintln!("error: {msg}");
            2
        }
    }
}

/// clap's first paragraph folded into one line: the error and, for missing arguments,
/// the indented list of what is missing.
fn one_line(text: &str) -> String {
    let para: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    if para.is_empty() {
        "error: bad usage".to_string()
    } else {
        para.join(" ")
    }
}

fn scenario(name: &str) -> Result<Scenario, BadInput> {
    crate::registry::current().scenario(name).map_err(BadInput)
}

fn merge_cmd(files: &[PathBuf], out: Option<&Path>) -> CmdResult {
    if files.is_empty() {
        return Err(BadInput("merge needs at least one report file".into()));
    }
    let is_corpus = |f: &PathBuf| f.extension().is_some_and(|e| e == "toml");
    if files.iter().any(is_corpus) {
        if !files.iter().all(is_corpus) {
            return Err(BadInput(
                "merge takes either sweep reports (JSON) or corpus files (.toml), not both".into(),
            ));
        }
        let Some(out) = out else {
            return Err(BadInput(
                "merging corpus files needs --out FILE (the corpus to merge into)".into(),
            ));
        };
        let m = crate::corpus::merge_into(out, files).map_err(BadInput)?;
        println!(
            "{}: {} cases ({} added, {} duplicates skipped)",
            out.display(),
            m.cases,
            m.added,
            m.duplicates
        );
        return Ok(0);
    }
    if out.is_some() {
        return Err(BadInput(
            "--out is for merging corpus files; sweep reports are merged to stdout".into(),
        ));
    }
    let mut parts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| BadInput(format!("{}: cannot read: {e}", f.display())))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            BadInput(format!(
                "{}:{}:{}: not a sweep report: {e}",
                f.display(),
                e.line(),
                e.column()
            ))
        })?;
        let list = match value {
            serde_json::Value::Array(v) => v,
            one => vec![one],
        };
        if list.is_empty() {
            return Err(BadInput(format!("{}: holds no sweep report", f.display())));
        }
        for v in list {
            let r: SweepReport = serde_json::from_value(v)
                .map_err(|e| BadInput(format!("{}: not a sweep report: {e}", f.display())))?;
            r.check()
                .map_err(|e| BadInput(format!("{}: not a sweep report: {e}", f.display())))?;
            parts.push(r);
        }
    }
    let merged = SweepReport::merge(parts).map_err(BadInput)?;
    let worst = merged
        .iter()
        .map(SweepReport::verdict)
        .max_by_key(|v| v.severity())
        .unwrap_or(Verdict::Pass);
    let v = if merged.len() == 1 {
        serde_json::to_value(&merged[0])
    } else {
        serde_json::to_value(&merged)
    }
    .expect("reports serialize");
    println!("{v}");
    Ok(worst.exit_code())
}

fn run_options(bugs: &[String]) -> Result<RunOptions, BadInput> {
    RunOptions::with_bugs(bugs).map_err(BadInput)
}

/// The checks a scenario's runs make, with their bounds, for listings.
fn checks_of(s: &Scenario) -> String {
    let mut v: Vec<String> = s
        .system
        .checks()
        .into_iter()
        .filter(|(c, _)| !s.checks.skip.iter().any(|k| k == c))
        .map(|(c, _)| c.to_string())
        .collect();
    v.push("world audit".into());
    let bounds: Vec<String> = s
        .system
        .bound_keys()
        .iter()
        .filter_map(|k| s.settings.get(*k).map(|b| format!("{k} = {b}")))
        .collect();
    if bounds.is_empty() {
        v.join(", ")
    } else {
        format!("{} (bounds: {})", v.join(", "), bounds.join(", "))
    }
}

fn list(json: bool) -> CmdResult {
    let registry = crate::registry::current();
    let all = registry.scenarios();
    if json {
        let rows: Vec<_> = all
            .iter()
            .map(|s| {
                serde_json::json!({"name": s.name, "system": s.system.name(), "description": s.description, "nodes": s.nodes, "checks": checks_of(s)})
            })
            .collect();
        let bugs: Vec<_> = registry
            .bugs()
            .into_iter()
            .map(|(b, d)| serde_json::json!({"bug": b, "description": d}))
            .collect();
        let systems: Vec<_> = registry
            .systems()
            .map(|s| {
                let checks: Vec<_> = s
                    .checks()
                    .into_iter()
                    .map(|(c, d)| serde_json::json!({"check": c, "description": d}))
                    .collect();
                serde_json::json!({"system": s.name(), "description": s.describe(), "checks": checks})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"systems": systems, "scenarios": rows, "bugs": bugs})
        );
    } else {
        let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for s in &all {
            println!("{:width$}  {}", s.name, s.description);
        }
        println!();
        for system in registry.systems() {
            let name = system.name();
            match all.iter().find(|s| s.system.name() == name) {
                Some(s) => println!("{name} scenarios check: {}", checks_of(s)),
                None => {
                    let checks: Vec<&str> = system.checks().into_iter().map(|(c, _)| c).collect();
                    println!("{name} scenarios check: {}, world audit", checks.join(", "))
                }
            }
        }
        println!("(a scenario's [checks] table sets the bounds; `dst show NAME` prints it)\n");
        println!("bugs (--bug SYSTEM:NAME):");
        for (b, d) in registry.bugs() {
            println!("  {b:32} {d}");
        }
    }
    Ok(0)
}

/// Opens a file for a trace without ever replacing one the user has, unless told to.
fn create_output(path: &Path, force: bool) -> Result<BufWriter<std::fs::File>, BadInput> {
    let mut o = OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    o.open(path).map(BufWriter::new).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            BadInput(format!(
                "{} already exists; pass --force to replace it",
                path.display()
            ))
        } else {
            BadInput(format!("cannot write {}: {e}", path.display()))
        }
    })
}

fn write_trace(result: &RunResult, path: &Path, force: bool) -> Result<(), BadInput> {
    let Some(trace) = &result.trace else {
        return Err(BadInput(
            "the run panicked before it produced a trace".into(),
        ));
    };
    let mut out = create_output(path, force)?;
    trace
        .write_json_lines(&result.names, &mut out)
        .and_then(|_| out.flush())
        .map_err(|e| BadInput(format!("cannot write {}: {e}", path.display())))
}

fn write_html(s: &Scenario, result: &RunResult, path: &Path, force: bool) -> Result<(), BadInput> {
    let page = crate::html::render(s, result).map_err(BadInput)?;
    let mut out = create_output(path, force)?;
    out.write_all(page.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| BadInput(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

fn print_report(r: &RunReport) {
    println!(
        "{} seed={}: {}  digest={}  events={}  sim_time={:.3}s",
        r.scenario,
        r.seed,
        r.verdict.as_str().to_uppercase(),
        r.trace_digest,
        r.events,
        r.sim_time_ns as f64 / 1e9
    );
    println!(
        "  messages: sent {} delivered {} duplicated {} dropped {} (loss {}, cut link {}, dead node {})",
        r.stats.sent,
        r.stats.delivered,
        r.stats.duplicated,
        r.stats.dropped_loss + r.stats.dropped_cut + r.stats.dropped_dead,
        r.stats.dropped_loss,
        r.stats.dropped_cut,
        r.stats.dropped_dead
    );
    if let Some(why) = &r.unknown {
        println!("  UNKNOWN: {why}");
    }
    for v in &r.violations {
        match v.event {
            Some(i) => println!("  VIOLATION {}: {} (trace event #{i})", v.check, v.message),
            None => println!("  VIOLATION {}: {}", v.check, v.message),
        }
    }
    println!("  replay: {}", r.replay);
}

/// A run whose schedule could not be applied at this seed (a restart of a server that
/// is running, say) is bad input, not a finding about the system: one line naming the
/// scenario, exit 2.
fn refuse_inapplicable(scenario: &str, r: &RunReport) -> Result<(), BadInput> {
    match crate::report::scenario_problem(&r.violations) {
        Some(v) => Err(BadInput(crate::report::cannot_run(scenario, r.seed, v))),
        None => Ok(()),
    }
}

fn run_cmd(a: RunArgs) -> CmdResult {
    a.budget.apply();
    let s = scenario(&a.scenario)?;
    outputs::check_outputs(
        [a.trace.as_deref(), a.html.as_deref(), a.history.as_deref()],
        a.force,
    )?;
    let mut opts = run_options(&a.bugs)?;
    // Without a trace or a picture to write, the run keeps only what its checks need.
    opts.lean_trace = a.trace.is_none() && a.html.is_none();
    let (mut result, divergence) = if a.check_determinism {
        check_determinism(&s, a.seed, &opts)
    } else {
        (run_scenario(&s, a.seed, &opts), None)
    };
    refuse_inapplicable(&a.scenario, &result.report)?;
    if let Some(d) = &divergence {
        let show = |e: &Option<sim::TraceEvent>| {
            e.as_ref()
                .map_or("(no event: trace ended)".to_string(), |e| {
                    e.to_json(&result.names).to_string()
                })
        };
        let msg = format!(
            "two runs of the same seed diverge at trace event #{}: first run {} / second run {}",
            d.index,
            show(&d.first),
            show(&d.second)
        );
        result.report.violations.push(sim::Violation::new(
            "determinism",
            msg,
            Some(d.index as u64),
        ));
        result.report.verdict = Verdict::Violation;
    }
    if let Some(path) = &a.trace {
        write_trace(&result, path, a.force)?;
    }
    if let Some(path) = &a.html {
        write_html(&s, &result, path, a.force)?;
    }
    if let Some(path) = &a.history {
        let Some(text) = &result.history else {
            return Err(BadInput(format!(
                "{} has no client history to write",
                s.name
            )));
        };
        let mut out = create_output(path, a.force)?;
        out.write_all(text.json_lines().as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| BadInput(format!("cannot write {}: {e}", path.display())))?;
    }
    if a.json {
        let mut v = serde_json::to_value(&result.report).expect("reports serialize");
        if a.check_determinism {
            v["determinism"] = serde_json::json!(if divergence.is_some() {
                "diverged"
            } else {
                "ok"
            });
        }
        println!("{v}");
    } else {
        print_report(&result.report);
        if a.check_determinism && divergence.is_none() {
            println!(
                "  determinism: two runs, same digest {}",
                result.report.trace_digest
            );
        }
    }
    Ok(result.report.verdict.exit_code())
}

fn print_sweep_table(reports: &[SweepReport]) {
    println!(
        "{:<26} {:>7} {:>7} {:>7} {:>8} {:>9}",
        "scenario", "runs", "pass", "fail", "unknown", "seeds/s"
    );
    for r in reports {
        let unknown = r
            .failures
            .iter()
            .filter(|f| f.verdict == Verdict::Unknown)
            .count();
        println!(
            "{:<26} {:>7} {:>7} {:>7} {:>8} {:>9.1}",
            r.scenario,
            r.runs,
            r.passed,
            r.failures.len() - unknown,
            unknown,
            r.seeds_per_sec
        );
    }
    let failing: Vec<_> = reports
        .iter()
        .flat_map(|r| r.failures.iter().map(move |f| (r, f)))
        .collect();
    if !failing.is_empty() {
        println!("\nfailing seeds:");
        for (r, f) in failing {
            let first = match (f.violations.first(), &f.unknown) {
                (Some(v), _) => format!("{}: {}", v.check, v.message),
                (None, Some(why)) => format!("unknown: {why}"),
                (None, None) => f.verdict.as_str().to_string(),
            };
            println!("  {} seed {}: {}", r.scenario, f.seed, first);
            println!("    replay: {}", f.replay);
        }
    }
}

fn sweep_cmd(a: SweepArgs) -> CmdResult {
    a.budget.apply();
    let opts = run_options(&a.bugs)?;
    let scenarios = if a.scenario == "all" {
        builtin::everything()
    } else if a.scenario.ends_with("/all") {
        let prefix = a.scenario.trim_end_matches("all");
        let v: Vec<Scenario> = builtin::everything()
            .into_iter()
            .filter(|s| s.name.starts_with(prefix))
            .collect();
        if v.is_empty() {
            return Err(BadInput(format!(
                "no built-in scenarios match '{}'",
                a.scenario
            )));
        }
        v
    } else {
        vec![scenario(&a.scenario)?]
    };
    if a.jobs == Some(0) {
        return Err(BadInput("--jobs must be at least 1".into()));
    }
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let per_scenario = a.shard.unwrap_or(Shard::WHOLE).len(a.seeds);
    let total = per_scenario.saturating_mul(scenarios.len() as u64);
    let bar = if io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} seeds, {per_sec}, eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut reports = Vec::new();
    for s in &scenarios {
        bar.set_message(s.name.clone());
        let on_done = |r: &RunReport| {
            if r.verdict != Verdict::Pass {
                bar.println(format!(
                    "{} seed {}: {}",
                    r.scenario,
                    r.seed,
                    r.verdict.as_str()
                ));
            }
            bar.inc(1);
        };
        reports.push(sweep(
            s,
            a.seeds,
            a.shard.unwrap_or(Shard::WHOLE),
            jobs,
            &opts,
            &on_done,
        ));
    }
    bar.finish_and_clear();
    if a.json {
        let v = if reports.len() == 1 {
            serde_json::to_value(&reports[0])
        } else {
            serde_json::to_value(&reports)
        }
        .expect("reports serialize");
        println!("{v}");
    } else {
        print_sweep_table(&reports);
    }
    // Seeds at which the schedule could not be applied are the file's problem.
    let inapplicable = reports.iter().find_map(|r| {
        let mut bad = r
            .failures
            .iter()
            .filter_map(|f| Some((f.seed, crate::report::scenario_problem(&f.violations)?)));
        let (seed, v) = bad.next()?;
        Some(format!(
            "{} (and {} more of {} seeds)",
            crate::report::cannot_run(&r.scenario, seed, v),
            bad.count(),
            r.runs
        ))
    });
    if let Some(msg) = inapplicable {
        return Err(BadInput(msg));
    }
    let worst = reports
        .iter()
        .map(SweepReport::verdict)
        .max_by_key(|v| v.severity())
        .unwrap_or(Verdict::Pass);
    Ok(worst.exit_code())
}

fn replay_cmd(a: ReplayArgs) -> CmdResult {
    a.budget.apply();
    let s = scenario(&a.scenario)?;
    outputs::check_outputs([a.trace.as_deref(), a.html.as_deref()], a.force)?;
    let opts = run_options(&a.bugs)?;
    logging::init_replay_logging();
    let result = run_scenario(&s, a.seed, &opts);
    refuse_inapplicable(&a.scenario, &result.report)?;
    if let Some(path) = &a.trace {
        write_trace(&result, path, a.force)?;
    }
    if let Some(path) = &a.html {
        write_html(&s, &result, path, a.force)?;
    }
    print_report(&result.report);
    Ok(result.report.verdict.exit_code())
}

fn bench_sim_cmd(a: BenchSimArgs) -> CmdResult {
    if a.nodes < 2 || a.nodes > 200 {
        return Err(BadInput("--nodes must be between 2 and 200".into()));
    }
    if a.messages == 0 || a.window == 0 {
        return Err(BadInput("--messages and --window must be positive".into()));
    }
    let p = BenchSimParams {
        nodes: a.nodes,
        messages_per_node: a.messages,
        window: a.window,
        seed: 1,
    };
    let r = bench_sim(p);
    if a.json {
        println!("{}", serde_json::to_string(&r).expect("reports serialize"));
    } else {
        println!(
            "workload: {} nodes x {} messages, window {}, latency uniform 1-10ms",
            a.nodes, a.messages, a.window
        );
        println!(
            "raw madsim endpoints: {:>12.0} msgs/s",
            r.raw_madsim_msgs_per_sec
        );
        println!(
            "sim (traced):         {:>12.0} msgs/s  ({} trace events)",
            r.sim_msgs_per_sec, r.sim_trace_events
        );
        println!("ratio sim/raw:        {:>12.2}", r.ratio);
    }
    Ok(0)
}

fn bench_disk_cmd(a: BenchDiskArgs) -> CmdResult {
    if a.nodes == 0 || a.nodes > 200 || a.records == 0 {
        return Err(BadInput(
            "--nodes must be 1 to 200 and --records positive".into(),
        ));
    }
    let r = bench_disk(a.nodes, a.records, 1);
    if a.json {
        println!("{}", serde_json::to_string(&r).expect("reports serialize"));
    } else {
        println!(
            "workload: {} nodes x {} appends of 4 KiB, a sync every 8th, each read back",
            a.nodes, a.records
        );
        println!(
            "simulated disk: {:.0} ops/s ({} ops in {:.3}s wall, {} trace events)",
            r.ops_per_sec, r.ops, r.wall_sec, r.trace_events
        );
    }
    Ok(0)
}

fn bench_raft_cmd(a: BenchRaftArgs) -> CmdResult {
    if a.seeds == 0 {
        return Err(BadInput("--seeds must be positive".into()));
    }
    let r = bench_raft(a.seeds);
    if a.json {
        println!("{}", serde_json::to_string(&r).expect("reports serialize"));
    } else {
        println!("reference: 5 servers, 3 clients, 10 simulated s, one partition, one leader crash, all checks");
        println!(
            "{} seeds in {:.2}s on one core: {:.1} seeds/s, {:.0}x real time ({} passed)",
            r.seeds, r.wall_sec, r.seeds_per_sec, r.sim_sec_per_wall_sec, r.passed
        );
    }
    Ok(if r.passed == r.seeds { 0 } else { 1 })
}

fn shrink_cmd(a: ShrinkArgs) -> CmdResult {
    a.budget.apply();
    let s = scenario(&a.scenario)?;
    let opts = run_options(&a.bugs)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let base: String = s
            .name
            .trim_end_matches(".toml")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        PathBuf::from(format!("shrunk-{}-{}.toml", base.trim_matches('-'), a.seed))
    });
    // Refuse early, before minutes of work, if the output would replace a file.
    if out.exists() && !a.force {
        return Err(BadInput(format!(
            "{} already exists; pass --force to replace it",
            out.display()
        )));
    }
    let shrunk = crate::shrink::shrink(&s, a.seed, &opts, a.max_runs, a.check.as_deref())
        .map_err(BadInput)?;
    let mut file = create_output(&out, a.force)?;
    file.write_all(crate::file::to_toml(&shrunk.scenario).as_bytes())
        .and_then(|_| file.flush())
        .map_err(|e| BadInput(format!("cannot write {}: {e}", out.display())))?;
    if a.json {
        let mut v = serde_json::to_value(&shrunk).expect("summaries serialize");
        v["file"] = serde_json::json!(out.display().to_string());
        println!("{v}");
    } else {
        let (b, f) = (shrunk.before, shrunk.after);
        println!(
            "{} seed {}: still fails {} after {} runs",
            s.name, a.seed, shrunk.check, shrunk.runs
        );
        println!(
            "  fault events  {:>6} -> {}",
            b.fault_events, f.fault_events
        );
        println!("  operations    {:>6} -> {}", b.operations, f.operations);
        println!(
            "  simulated     {:>5.2}s -> {:.2}s",
            b.sim_time_ns as f64 / 1e9,
            f.sim_time_ns as f64 / 1e9
        );
        println!(
            "  trace events  {:>6} -> {}",
            b.trace_events, f.trace_events
        );
        println!("  clients       {:>6} -> {}", b.clients, f.clients);
        println!(
            "  wrote {}; replay: {}",
            out.display(),
            crate::report::replay_command(&out.display().to_string(), a.seed, &[])
        );
    }
    Ok(0)
}

fn fuzz_cmd(a: FuzzArgs) -> CmdResult {
    a.budget.apply();
    let opts = run_options(&a.bugs)?;
    if a.time.is_none() && a.runs.is_none() {
        return Err(BadInput(
            "fuzz needs a budget: --time 30m or --runs N".into(),
        ));
    }
    let bar = if io::stderr().is_terminal() {
        let bar = ProgressBar::new(a.runs.unwrap_or(0));
        let template = if a.runs.is_some() {
            "{spinner} fuzz [{bar:30}] {pos}/{len} runs, {per_sec}, {msg}"
        } else {
            "{spinner} fuzz {pos} runs, {per_sec}, {elapsed} elapsed, {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let deadline = a.time.map(|t| std::time::Instant::now() + t.as_std());
    let runs_budget = a.runs;
    let mut keep_going = |runs: u64| match (runs_budget, deadline) {
        (Some(n), _) => runs < n,
        (None, Some(d)) => std::time::Instant::now() < d,
        (None, None) => false,
    };
    let mut on_run = |runs: u64, failures: u64| {
        bar.set_position(runs);
        bar.set_message(format!("{failures} failures"));
    };
    let flags = opts.bug_flags();
    let plan = crate::fuzz::FuzzPlan {
        systems: &a.systems,
        opts: &opts,
        bug_flags: &flags,
        start_seed: a.seed,
        corpus: &a.out,
        shrink_runs: a.shrink_runs,
        shard: a.shard.unwrap_or(Shard::WHOLE),
    };
    let report = crate::fuzz::fuzz(&plan, &mut keep_going, &mut on_run).map_err(BadInput)?;
    bar.finish_and_clear();
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("reports serialize")
        );
    } else {
        println!(
            "{} runs ({:.1}/s), {} failed; {} new finding(s) added to {}",
            report.runs,
            report.runs_per_sec,
            report.failures,
            report.new_findings.len(),
            a.out.display()
        );
        if report.inapplicable > 0 {
            println!(
                "  {} run(s) drew a schedule with a fault that could not apply (not failures)",
                report.inapplicable
            );
        }
        for f in &report.new_findings {
            println!(
                "  {} seed {}: {} -> {} fault events, {}",
                f.signature, f.seed, f.faults_before, f.faults_after, f.scenario_file
            );
        }
    }
    Ok(if report.failures > 0 { 1 } else { 0 })
}

fn bench_scenario_cmd(a: BenchScenarioArgs) -> CmdResult {
    if a.seeds == 0 {
        return Err(BadInput("--seeds must be positive".into()));
    }
    // Every name is read before any is measured: a typo fails at once.
    let all = a
        .scenario
        .iter()
        .map(|n| scenario(n))
        .collect::<Result<Vec<_>, _>>()?;
    for s in all {
        let r = crate::bench::bench_scenario(&s, a.seeds);
        if a.json {
            println!("{}", serde_json::to_string(&r).expect("reports serialize"));
        } else {
            println!(
                "{}: {} seeds in {:.2}s on one core: {:.1} seeds/s, {:.0}x real time ({} passed)",
                s.name, r.seeds, r.wall_sec, r.seeds_per_sec, r.sim_sec_per_wall_sec, r.passed
            );
        }
    }
    Ok(0)
}

fn bench_html_cmd(a: BenchHtmlArgs) -> CmdResult {
    let mut s = scenario(&a.scenario)?;
    s.duration = s.duration.max(a.duration);
    let r = crate::html::bench::bench_html(&s, a.seed, a.loads).map_err(BadInput)?;
    if a.json {
        println!("{}", serde_json::to_string(&r).expect("reports serialize"));
        return Ok(0);
    }
    println!(
        "{} seed {}: {} events; run {:.2}s, report built in {:.3}s, {:.1} MB",
        r.scenario,
        a.seed,
        r.events,
        r.run_sec,
        r.build_sec,
        r.page_bytes as f64 / 1e6
    );
    match &r.browser {
        None => println!("no Chromium found (apt-get install chromium): browser load not measured"),
        Some(b) => {
            for l in &r.loads {
                println!(
                    "  {b} --headless: opened and drawn in {:.2}s wall (process start included); page drew in {} ms; status {}",
                    l.wall_sec,
                    l.render_ms.map_or("?".to_string(), |m| m.to_string()),
                    l.status
                );
            }
        }
    }
    Ok(0)
}
