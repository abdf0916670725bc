//! Jepsen log lines: `INFO  jepsen.util - 3 :invoke :cas [2 1]`, or in newer Jepsen
//! versions `INFO [jepsen worker 0] jepsen.util: 3 :invoke :cas [2 1]`.
//!
//! Only lines naming a process, a `:type` keyword and an `:f` keyword after `jepsen.util -`,
//! `jepsen.util:` or (other loggers) ` - ` are operations; the value is the rest of the line,
//! read as EDN (empty means nil). Separators may be tabs or spaces. Other log lines (startup
//! chatter, stack traces) are skipped wherever they are, and so are nemesis lines (`:nemesis`
//! as the process). A line that starts like an operation but does not finish like one is an
//! error: silently skipping it could change the verdict.
//!
//! Jepsen writes its log as the test runs, so a log copied from a crashed or running test can
//! end inside a line. A last line without a newline may be cut anywhere, even where the rest
//! still parses (`:read 1` of `:read 12`, or an empty value read as nil), so it is never read:
//! it is dropped with a warning naming it. Every other line ends with a newline and is whole.

use super::{edn, Event, EventKind};
use crate::error::InputError;

/// Whether a line has the operation shape `... - <process> :<type> :<f> ...`.
pub fn looks_like_log_line(line: &str) -> bool {
    match split_op(line) {
        Some((_, rest)) => {
            let mut it = rest.split_whitespace();
            matches!(it.next(), Some(t) if t.starts_with(':') && EventKind::parse(&t[1..]).is_some())
        }
        None => false,
    }
}

/// Splits `... jepsen.util - <process> <rest>` (or `jepsen.util: `, or for other loggers
/// `prefix - <process> <rest>`) into the process token and the rest.
fn split_op(line: &str) -> Option<(&str, &str)> {
    let after = match line.find("jepsen.util") {
        Some(i) => {
            let rest = line[i + "jepsen.util".len()..].trim_start();
            rest.strip_prefix('-')
                .or_else(|| rest.strip_prefix(':'))?
                .trim_start()
        }
        None => {
            let idx = line.find(" - ")?;
            line[idx + 3..].trim_start()
        }
    };
    let end = after
        .find(|c: char| c.is_whitespace())
        .unwrap_or(after.len());
    let proc_tok = &after[..end];
    if proc_tok.is_empty() {
        return None;
    }
    Some((proc_tok, after[end..].trim_start()))
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
        let Some((proc_tok, rest)) = split_op(line) else {
            continue;
        };
        let is_util = line.contains("jepsen.util");
        let mut parts = rest.splitn(2, |c: char| c.is_whitespace());
        let type_tok = parts.next().unwrap_or("");
        let kind = type_tok.strip_prefix(':').and_then(EventKind::parse);
        let Some(kind) = kind else {
            if is_util && proc_tok.parse::<i64>().is_ok() {
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
        let value_text = rest[end..].trim();
        let value = if value_text.is_empty() {
            crate::value::Value::Nil
        } else {
            edn::read_one(value_text, lineno).map_err(|e| {
                InputError::new(
                    source,
                    lineno,
                    format!("value `{value_text}`: {}", e.message),
                )
            })?
        };
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
}
