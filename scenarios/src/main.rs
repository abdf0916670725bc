//! The `dst` binary: the command line for the bundled systems.

fn main() {
    std::process::exit(scenarios::cli::main());
}
