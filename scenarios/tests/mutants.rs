//! The test cargo-mutants runs for each mutant (`scripts/mutants.sh SYSTEM`): the system's
//! built-in scenarios and its swarm family over a modest seed count, on the correct system
//! (no bugs switched on). A mutant survives when every run still passes.
//!
//! Ignored in ordinary `cargo test` (the sweeps already run there); `DST_MUTANTS_SYSTEM`
//! names the system, `DST_SEEDS` the seed count (default 8). Seeds run outermost and the
//! test stops at the first failing run: a mutant needs one failure to be killed, and most
//! are killed on the first seeds, so this keeps a mutant run to seconds instead of minutes.

use scenarios::builtin;
use scenarios::testing::{seeds_from_env, sweep};

#[test]
#[ignore = "run by scripts/mutants.sh"]
fn the_system_under_mutation_passes_its_builtins_and_swarm() {
    let Ok(system) = std::env::var("DST_MUTANTS_SYSTEM") else {
        eprintln!("DST_MUTANTS_SYSTEM is not set: nothing to run");
        return;
    };
    let seeds = seeds_from_env(0..8);
    let mut names: Vec<String> = builtin::of_system(&system)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(!names.is_empty(), "no built-in scenarios for {system}");
    names.push(format!("swarm/{system}"));
    for seed in seeds {
        for name in &names {
            let f = sweep(name).seeds(seed..seed + 1).failures();
            if let Some((seed, check, _)) = f.first() {
                panic!("{name} seed {seed}: {check}");
            }
        }
    }
}
