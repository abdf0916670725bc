//! `--memory-budget SIZE`: the resident memory a run may reach before it stops as
//! `unknown` (see `sim::budget`), for every command that runs scenarios. Without the
//! option the default applies: half the machine's memory, at most 4 GiB.
//!
//! The budget is process-wide, so a command sets it once before its runs start; it is not
//! a per-run limit and it does not cap memory the tool uses outside runs.

use clap::Args;

/// The `--memory-budget` option, flattened into each command that runs scenarios.
#[derive(Debug, Args)]
pub(super) struct BudgetArg {
    /// Stop a run as `unknown` (exit 3) once the process's resident memory passes SIZE,
    /// like 512MiB, 200MB or 2GiB (a bare number is bytes), instead of growing until the
    /// system kills it. Default: half the machine's memory, at most 4 GiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_budget)]
    memory_budget: Option<u64>,
}

impl BudgetArg {
    /// Sets the process's budget: the one given, else back to the default (the CLI can be
    /// called more than once in a process).
    pub(super) fn apply(&self) {
        sim::budget::set_memory_budget(self.memory_budget.unwrap_or(0));
    }
}

/// A size for `--memory-budget`: above zero and representable in bytes.
fn parse_budget(s: &str) -> Result<u64, String> {
    let bytes = super::check::parse_bytes(s)?;
    if bytes == 0 {
        return Err(format!(
            "a memory budget of `{s}` is zero bytes; give a size like 512MiB or 2GiB"
        ));
    }
    u64::try_from(bytes).map_err(|_| format!("`{s}` is too large a size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_zero_or_unrepresentable_ones_do_not() {
        assert_eq!(parse_budget("200MB"), Ok(200_000_000));
        assert_eq!(parse_budget("1GiB"), Ok(1 << 30));
        assert_eq!(parse_budget("4096"), Ok(4096));
        for bad in [
            "0",
            "0MB",
            "0.0GiB",
            "",
            "MB",
            "-1GiB",
            "1e30GB",
            "99999999999TB",
            "2 parsecs",
            "nan",
        ] {
            assert!(parse_budget(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_budget("0.0001B").unwrap_err().contains("zero"));
    }
}
