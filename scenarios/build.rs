//! Embeds the built-in scenario files: every `builtin/<system>/<name>.toml` becomes an
//! entry `("<system>/<name>", include_str!(...))` of `BUILTIN_FILES`, so adding a
//! scenario is adding a file. Systems are listed in a fixed order, files by name.

use std::fmt::Write as _;
use std::path::Path;

/// Systems in listing order; any other directory comes after them.
const SYSTEM_ORDER: [&str; 6] = ["relay", "raft", "gossip", "twopc", "lock", "raft-rs"];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("builtin");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    for system in std::fs::read_dir(&root).expect("scenarios/builtin exists") {
        let system = system.expect("readable directory").path();
        if !system.is_dir() {
            continue;
        }
        let sys = system.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&system).expect("readable directory") {
            let path = file.expect("readable directory").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                let rank = SYSTEM_ORDER
                    .iter()
                    .position(|s| *s == sys)
                    .unwrap_or(SYSTEM_ORDER.len());
                files.push((rank, format!("{sys}/{stem}"), path));
            }
        }
    }
    files.sort();
    let mut out = String::from("/// Built-in scenario files: (name, TOML text).\n");
    out.push_str("pub const BUILTIN_FILES: &[(&str, &str)] = &[\n");
    for (_, name, path) in &files {
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin_files.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
