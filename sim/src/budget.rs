//! The memory budget of runs: a run whose process grows past it stops with
//! [`BudgetExceeded`] (a panic payload the runner turns into an `unknown` verdict) instead
//! of growing until the operating system kills the whole tool.
//!
//! The budget is process-wide (parallel sweeps share it) and measured as resident memory,
//! read from `/proc/self/status` every few tens of thousands of trace events. Where that
//! file does not exist (not Linux) the budget is not enforced. Whether a run hits the
//! budget depends on the machine, not the seed: it never changes a run's events or
//! digest, only whether the run gets to finish.

use std::sync::atomic::{AtomicU64, Ordering};

/// The default budget when the machine's memory cannot be read.
pub const DEFAULT_BUDGET: u64 = 4 << 30;

/// 0 means "not set yet": the default is computed on first use.
static BUDGET: AtomicU64 = AtomicU64::new(0);

/// Why a run stopped: its process outgrew the memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// Resident memory when it was noticed, in bytes.
    pub resident: u64,
    pub budget: u64,
    /// Simulated time of the run when it was noticed, in ns.
    pub time_ns: u64,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the run outgrew the memory budget of {} ({} resident at {:.3} s simulated); \
             raise it with --memory-budget or shorten the run",
            size(self.budget),
            size(self.resident),
            self.time_ns as f64 / 1e9
        )
    }
}

/// A byte count as people read it: `512 B`, `1.5 MiB`, `4.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Sets the budget in bytes (0: back to the default).
pub fn set_memory_budget(bytes: u64) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// The budget in bytes: what was set, else the smaller of 4 GiB and half the machine's
/// memory.
pub fn memory_budget() -> u64 {
    match BUDGET.load(Ordering::Relaxed) {
        0 => {
            let half = machine_memory().map_or(DEFAULT_BUDGET, |m| m / 2);
            let b = half.min(DEFAULT_BUDGET);
            BUDGET.store(b, Ordering::Relaxed);
            b
        }
        b => b,
    }
}

/// Resident memory of this process in bytes, where the system says.
pub fn resident_bytes() -> Option<u64> {
    kb_field("/proc/self/status", "VmRSS:")
}

fn machine_memory() -> Option<u64> {
    kb_field("/proc/meminfo", "MemTotal:")
}

fn kb_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Stops the run (panics with [`BudgetExceeded`]) if the process is over budget.
pub fn check(time_ns: u64) {
    check_against(memory_budget(), time_ns)
}

fn check_against(budget: u64, time_ns: u64) {
    if let Some(resident) = resident_bytes() {
        if resident > budget {
            std::panic::panic_any(BudgetExceeded {
                resident,
                budget,
                time_ns,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_and_a_tiny_budget_stops_a_run() {
        if resident_bytes().is_none() {
            eprintln!("no /proc/self/status here: the budget is not enforced");
            return;
        }
        assert!(resident_bytes().unwrap() > 0);
        // Not through the global budget: other tests run simulations meanwhile.
        let caught = std::panic::catch_unwind(|| check_against(1, 5)).unwrap_err();
        check_against(u64::MAX, 5);
        let e = caught.downcast_ref::<BudgetExceeded>().unwrap();
        assert_eq!((e.budget, e.time_ns), (1, 5));
        assert!(e.to_string().contains("memory budget of 1 B"), "{e}");
        assert_eq!(size(1_000_000), "976.6 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert!(memory_budget() >= 1 << 20);
    }
}
