//! Jepsen log lines: `INFO  jepsen.util - 3 :invoke :cas [2 1]`.
//!
//! Only lines naming a process, a `:type` keyword and an `:f` keyword after ` - ` are
//! operations; the value is the rest of the line, read as EDN (empty means nil). Separators
//! may be tabs or spaces. Other log lines (startup chatter, stack traces) are skipped, and so
//! are nemesis lines (`:nemesis` as the process). A line that starts like an operation but
//! does not finish like one is an error: silently skipping it could change the verdict.

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

/// Splits `prefix - <process> <rest>` into the process token and the rest.
fn split_op(line: &str) -> Option<(&str, &str)> {
    let idx = line.find(" - ")?;
    let after = line[idx + 3..].trim_start();
    let end = after
        .find(|c: char| c.is_whitespace())
        .unwrap_or(after.len());
    let proc_tok = &after[..end];
    if proc_tok.is_empty() {
        return None;
    }
    Some((proc_tok, after[end..].trim_start()))
}

pub fn parse(source: &str, text: &str) -> Result<Vec<Event>, InputError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
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
        let ev = parse("l", "INFO  jepsen.util - 3\t:invoke\t:cas\t[2 1]\nnoise line\nINFO  jepsen.util - 12 :ok :read nil\nINFO  jepsen.util - :nemesis :info :start nil").unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].value, Value::List(vec![Value::Int(2), Value::Int(1)]));
        assert_eq!(ev[1].process, 12);
        assert_eq!(ev[1].kind, EventKind::Ok);
    }

    #[test]
    fn malformed_operation_lines_are_errors() {
        let e = parse("l", "INFO  jepsen.util - 3\t:invoke\t:cas\t[2 1").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse("l", "INFO  jepsen.util - 3\t:invoke\tcas").is_err());
        assert!(parse("l", "INFO  jepsen.util - 3\t:done\t:cas").is_err());
    }
}
