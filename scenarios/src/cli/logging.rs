//! Logging for `dst replay`: `tracing-subscriber` with timestamps in simulated time.
//! `RUST_LOG` filters as usual; by default every trace event is shown.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

/// Stamps log lines with madsim's simulated time since the run started.
struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match madsim::time::TimeHandle::try_current() {
            Some(h) => {
                let d = h.elapsed();
                write!(w, "{:>4}.{:09}s", d.as_secs(), d.subsec_nanos())
            }
            None => write!(w, "{:>14}", "-"),
        }
    }
}

pub fn init_replay_logging() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,dst=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(SimTime)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
