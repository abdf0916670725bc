//! Every `dst` subcommand for the primary-backup register:
//! `cargo run --release -p primary-backup --example pb -- sweep pb/partition --seeds 0..200`.

fn main() {
    std::process::exit(dst::cli::main_with(primary_backup::registry()));
}
