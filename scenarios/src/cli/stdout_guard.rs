//! Standard output that cannot be written (`dst list > /dev/full`, a full disk): the
//! standard library's `print!` panics then. The command becomes one line on stderr and
//! exit code 2 instead of a panic message and exit 101. (A closed pipe is not handled
//! here: `dst` ends quietly on SIGPIPE, as `cat` does.)

use std::any::Any;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// What the standard library's print macros panic with when stdout fails.
const PRINT_FAILURE: &str = "failed printing to stdout";

/// Runs the command `f` (returning its exit code); a failure to write stdout, during the
/// command or when flushing it at the end, gives one line on stderr and exit code 2.
pub fn guarded(f: impl FnOnce() -> i32) -> i32 {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !text(info.payload()).is_some_and(|t| t.starts_with(PRINT_FAILURE)) {
                previous(info)
            }
        }));
    });
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => match std::io::stdout().flush() {
            Ok(()) => code,
            Err(e) => {
                eprintln!("error: cannot write to stdout: {e}");
                2
            }
        },
        Err(payload) => match text(&*payload).and_then(|t| t.strip_prefix(PRINT_FAILURE)) {
            Some(why) => {
                eprintln!("error: cannot write to stdout{why}");
                2
            }
            None => std::panic::resume_unwind(payload),
        },
    }
}

fn text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}
