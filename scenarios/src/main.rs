//! The `dst` binary.

fn main() {
    std::process::exit(scenarios::cli::main());
}
