//! Jepsen's operation lines, in the three places Jepsen writes them: its log
//! (`INFO  jepsen.util - 3 :invoke :cas [2 1]`), the newer log layout
//! (`INFO [jepsen worker 0] jepsen.util: 3 :invoke :cas [2 1]`), and a test's `history.txt`,
//! where the line is the operation alone (`3 :invoke :cas [2 1]`).
//!
//! An operation is a process, a `:type` keyword, an `:f` keyword and the value, read as EDN
//! (empty means nil); Jepsen may add the operation's `:error` after a tab, which is ignored
//! (the type already says whether the operation failed or is indeterminate). Separators
//! may be tabs or spaces. Other log lines (startup chatter, stack traces) are skipped
//! wherever they are, and so are nemesis lines (`:nemesis` as the process). A line that
//! starts like an operation but does not finish like one is an error: silently skipping it
//! could change the verdict.
//!
//! Jepsen writes its log as the test runs, so a log copied from a crashed or running test can
//! end inside a line. A last line without a newline may be cut anywhere, even where the rest
//! still parses (`:read 1` of `:read 12`, or an empty value read as nil), so it is never read:
//! it is dropped with a warning naming it. Every other line ends with a newline and is whole.

use super::{edn, Event, EventKind};
use crate::error::InputError;

/// Whether a line has the operation shape `[... - ]<process> :<type> :<f> ...`.
pub fn looks_like_log_line(line: &str) -> bool {
    match split_op(line) {
        Some(op) => {
            let mut it = op.rest.split_whitespace();
            matches!(it.next(), Some(t) if t.starts_with(':') && EventKind::parse(&t[1..]).is_some())
        }
        None => false,
    }
}

/// Where an operation's fields start on a line.
struct OpStart<'a> {
    process: &'a str,
    /// The fields after the process.
    rest: &'a str,
    /// The line can only be an operation (Jepsen's own logger, or a `history.txt` line), so
    /// a malformed one is an error rather than chatter to skip.
    strict: bool,
}

/// Splits a `history.txt` line (`<process> :<type> ...`), a `... jepsen.util - <process>
/// <rest>` or `jepsen.util: ` line, or for other loggers `prefix - <process> <rest>`.
fn split_op(line: &str) -> Option<OpStart<'_>> {
    if let Some(op) = bare_op(line) {
        return Some(op);
    }
    let (after, strict) = match line.find("jepsen.util") {
        Some(i) => {
            let rest = line[i + "jepsen.util".len()..].trim_start();
            let after = rest
                .strip_prefix('-')
                .or_else(|| rest.strip_prefix(':'))?
                .trim_start();
            (after, true)
        }
        None => {
            let idx = line.find(" - ")?;
            (line[idx + 3..].trim_start(), false)
        }
    };
    let end = after
        .find(|c: char| c.is_whitespace())
        .unwrap_or(after.len());
    let process = &after[..end];
    if process.is_empty() {
        return None;
    }
    Some(OpStart {
        process,
        rest: after[end..].trim_start(),
        strict,
    })
}

/// A `history.txt` line: an integer or keyword process, then a keyword. Tried first, so a
/// value holding ` - ` is never mistaken for a logger prefix.
fn bare_op(line: &str) -> Option<OpStart<'_>> {
    let t = line.trim_start();
    let end = t.find(|c: char| c.is_whitespace())?;
    let process = &t[..end];
    let rest = t[end..].trim_start();
    let numeric = process.parse::<i64>().is_ok();
    let keyword = process.len() > 1 && process.starts_with(':');
    ((numeric || keyword) && rest.starts_with(':')).then_some(OpStart {
        process,
        rest,
        strict: numeric,
    })
}

pub fn parse(
    source: &str,
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Event>, InputError> {
    let mut events = Vec::new();
    let lines = text.lines().count();
    let cut = !text.is_empty() && !text.ends_with('\n');
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if cut && lineno == lines {
            if !line.trim().is_empty() {
                warnings.push(format!(
                    "{source}:{lineno}: the last line has no newline, so it may be cut short (Jepsen writes its log as it runs); it was not read"
                ));
            }
            break;
        }
        let Some(OpStart {
            process: proc_tok,
            rest,
            strict,
        }) = split_op(line)
        else {
            continue;
        };
        let mut parts = rest.splitn(2, |c: char| c.is_whitespace());
        let type_tok = parts.next().unwrap_or("");
        let kind = type_tok.strip_prefix(':').and_then(EventKind::parse);
        let Some(kind) = kind else {
            if strict && proc_tok.parse::<i64>().is_ok() {
                return Err(InputError::new(source, lineno, format!("expected :invoke, :ok, :fail or :info after the process, found `{type_tok}`")));
            }
            continue;
        };
        let Ok(process) = proc_tok.parse::<i64>() else {
            if proc_tok.starts_with(':') {
                continue; // :nemesis and friends
            }
            return Err(InputError::new(
                source,
                lineno,
                format!("expected an integer process before `{type_tok}`, found `{proc_tok}`"),
            ));
        };
        let rest = parts.next().unwrap_or("").trim_start();
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        let f_tok = &rest[..end];
        let Some(f) = f_tok.strip_prefix(':').filter(|f| !f.is_empty()) else {
            return Err(InputError::new(
                source,
                lineno,
                format!("expected an :f keyword after `{type_tok}`, found `{f_tok}`"),
            ));
        };
        let value = read_value(rest[end..].trim_start()).map_err(|m| {
            InputError::new(
                source,
                lineno,
                format!("value `{}`: {m}", rest[end..].trim()),
            )
        })?;
        events.push(Event {
            line: lineno,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
            time: None,
        });
    }
    Ok(events)
}

/// The value field: one EDN form, then nothing, or a tab and Jepsen's `:error` text.
fn read_value(text: &str) -> Result<crate::value::Value, String> {
    if text.trim().is_empty() {
        return Ok(crate::value::Value::Nil);
    }
    let (value, used) = edn::read_prefix(text, 1).map_err(|e| e.message)?;
    let after = &text[used..];
    let tail = after.trim_start_matches([' ', '\r']);
    if tail.is_empty() || tail.starts_with(';') || after.starts_with('\t') {
        Ok(value)
    } else {
        Err("expected the end of the value, found more text".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn parses_tabs_and_spaces() {
        let ev = parse("l", "INFO  jepsen.util - 3\t:invoke\t:cas\t[2 1]\nnoise line\nINFO  jepsen.util - 12 :ok :read nil\nINFO  jepsen.util - :nemesis :info :start nil\n", &mut Vec::new()).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].value, Value::List(vec![Value::Int(2), Value::Int(1)]));
        assert_eq!(ev[1].process, 12);
        assert_eq!(ev[1].kind, EventKind::Ok);
    }

    #[test]
    fn malformed_operation_lines_are_errors() {
        let w = &mut Vec::new();
        let e = parse("l", "INFO  jepsen.util - 3\t:invoke\t:cas\t[2 1\n", w).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse("l", "INFO  jepsen.util - 3\t:invoke\tcas\n", w).is_err());
        assert!(parse("l", "INFO  jepsen.util - 3\t:done\t:cas\n", w).is_err());
    }

    #[test]
    fn reads_the_newer_layout_among_ordinary_lines() {
        let text = "INFO [2024-01-02 10:00:00,000] main - jepsen.core Running test\n\
            INFO [jepsen worker 0] jepsen.util: 3\t:invoke\t:write\t4\n\
            WARN [jepsen node n1] jepsen.db - something: 1 - 2\n\
            INFO [jepsen worker 0] jepsen.util: 3\t:ok\t:write\t4\n";
        let ev = parse("l", text, &mut Vec::new()).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(
            (ev[0].line, ev[0].process, ev[0].kind),
            (2, 3, EventKind::Invoke)
        );
        assert_eq!(ev[1].value, Value::Int(4));
    }

    #[test]
    fn a_cut_last_line_is_dropped_with_a_warning() {
        let whole =
            "INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t12\n";
        let mut w = Vec::new();
        assert_eq!(parse("l", whole, &mut w).unwrap().len(), 2);
        assert!(w.is_empty());
        for cut in ["\t:ok\t:read\t1", "\t:ok\t:read\t", "\t:ok\t:read\tni"] {
            let text =
                format!("INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1{cut}");
            let mut w = Vec::new();
            let ev = parse("l", &text, &mut w).unwrap();
            assert_eq!(ev.len(), 1, "{cut:?}: the cut line must not be read");
            assert_eq!(w.len(), 1);
            assert!(
                w[0].starts_with("l:2: the last line has no newline"),
                "{}",
                w[0]
            );
        }
    }

    #[test]
    fn reads_history_txt_lines_and_ignores_the_error_field() {
        // A test's history.txt: the operation alone, with `:error` after a tab.
        let text = "0\t:invoke\t:write\t\"a - b\"\n\
            :nemesis\t:info\t:start\tnil\n\
            0\t:info\t:write\t\"a - b\"\t:timeout\n\
            1\t:invoke\t:cas\t[2 1]\n\
            1\t:fail\t:cas\t[2 1]\t[:cas-failed \"expected 2\"]\n";
        let ev = parse("history.txt", text, &mut Vec::new()).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].value, Value::Str("a - b".into()));
        assert_eq!((ev[1].line, ev[1].kind), (3, EventKind::Info));
        assert_eq!(ev[1].value, Value::Str("a - b".into()));
        assert_eq!(ev[3].value, Value::List(vec![Value::Int(2), Value::Int(1)]));
        // Only a tab introduces the error field: more text after a space is not a value.
        let e = parse("h", "1\t:ok\t:read\t3 4\n", &mut Vec::new()).unwrap_err();
        assert!(e.message.contains("found more text"), "{}", e.message);
        // A history.txt line with a bad type is an error, not chatter.
        let e = parse("h", "1\t:done\t:read\t3\n", &mut Vec::new()).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(looks_like_log_line("7\t:ok\t:read\tnil"));
        assert!(!looks_like_log_line("12:00:01 starting"));
    }
}
