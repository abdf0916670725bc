//! The `dst` binary.

fn main() {
    // Rust ignores SIGPIPE, so a closed pipe (`dst list | head`) would make every later
    // print panic; a command-line tool should just stop, as `cat` does.
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(scenarios::cli::stdout_guard::guarded(scenarios::cli::main));
}
