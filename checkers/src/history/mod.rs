//! Client histories: events as recorded, and operations paired from them.
//!
//! A history is a sequence of events `invoke`, `ok`, `fail`, `info` from client processes,
//! in the order they happened (file order; when every event carries a `time`, a stable sort
//! by time). Pairing follows Jepsen: a completion closes its process's open invocation,
//! whatever its `f` says; `fail` means the operation certainly did not happen and it is
//! dropped; `info` and a missing completion mean indeterminate (it may take effect at any
//! time after its invocation, or never). Events whose process is not an integer (Jepsen's
//! `:nemesis`) are not client operations and are skipped. This module does not interpret
//! values: that is the job of a model or of the transaction reader.

pub mod compact;
pub mod edn;
pub mod jepsen_log;
pub mod native;

use crate::error::InputError;
use crate::value::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    pub fn parse(name: &str) -> Option<EventKind> {
        match name {
            "invoke" => Some(EventKind::Invoke),
            "ok" => Some(EventKind::Ok),
            "fail" => Some(EventKind::Fail),
            "info" => Some(EventKind::Info),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }
}

/// One recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// 1-based line of the event in its file.
    pub line: usize,
    pub process: i64,
    pub kind: EventKind,
    pub f: String,
    pub key: Option<Value>,
    pub value: Value,
    pub time: Option<u64>,
}

/// A parsed history file.
#[derive(Clone, Debug)]
pub struct History {
    /// Where it came from (file name), for error messages and reports.
    pub source: String,
    pub events: Vec<Event>,
    /// What the reader did that a person should know (a cut-off last line it dropped).
    pub warnings: Vec<String>,
}

impl History {
    pub fn new(source: impl Into<String>, events: Vec<Event>) -> Self {
        History {
            source: source.into(),
            events,
            warnings: Vec::new(),
        }
    }
}

/// Input formats the checkers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (the native format of the design brief).
    Native,
    /// Jepsen/Knossos EDN operation maps: a vector or list of maps, or one map per line.
    Edn,
    /// Jepsen log lines: `INFO  jepsen.util - 3 :invoke :cas [2 1]` or the newer
    /// `INFO [jepsen worker 0] jepsen.util: 3 :invoke :cas [2 1]`, or a test's
    /// `history.txt` (`3 :invoke :cas [2 1]`).
    JepsenLog,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "native" | "json" | "jsonl" => Some(Format::Native),
            "edn" => Some(Format::Edn),
            "jepsen-log" | "log" | "jepsen" => Some(Format::JepsenLog),
            _ => None,
        }
    }

    /// Guesses the format from the first line that shows one, looking past blank lines,
    /// comments and ordinary log output. `None` when no line shows a format.
    pub fn detect(text: &str) -> Option<Format> {
        for line in text.lines() {
            let t = line.trim().trim_start_matches('\u{feff}');
            if t.is_empty() || t.starts_with(';') {
                continue;
            }
            if jepsen_log::looks_like_log_line(t) {
                return Some(Format::JepsenLog);
            }
            let rest = t.trim_start_matches(['{', '[', '(', ' ', '\t']);
            if t.starts_with('{') && rest.starts_with('"') {
                return Some(Format::Native);
            }
            if t.starts_with(['{', '[', '(', '#']) {
                return Some(Format::Edn);
            }
            // Anything else (log chatter before the first operation): keep looking.
        }
        None
    }
}

/// Whether the text holds nothing but whitespace and `;` comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim().trim_start_matches('\u{feff}');
        t.is_empty() || t.starts_with(';')
    })
}

/// Parses history text; `format` None means detect it. A history with no client operations
/// (empty, or only nemesis events) is valid: every checker decides it trivially and says so.
pub fn parse_str(source: &str, text: &str, format: Option<Format>) -> Result<History, InputError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match format {
        Some(f) => f,
        None if is_blank(text) => {
            return Ok(History::new(source, Vec::new()));
        }
        None => Format::detect(text).ok_or_else(|| {
            InputError::new(
                source,
                first_significant_line(text),
                "cannot tell the format: expected native JSON lines (`{\"process\":...}`), EDN maps (`{:process ...}`) or Jepsen log or history.txt lines (`INFO  jepsen.util - 3 :invoke :read nil`); pass --format",
            )
        })?,
    };
    let mut warnings = Vec::new();
    let mut events = match format {
        Format::Native => native::parse(source, text)?,
        Format::Edn => edn_history(source, text)?,
        Format::JepsenLog => jepsen_log::parse(source, text, &mut warnings)?,
    };
    if events.iter().all(|e| e.time.is_some()) && events.windows(2).any(|w| w[0].time > w[1].time) {
        events.sort_by_key(|e| e.time);
    }
    Ok(History {
        source: source.to_string(),
        events,
        warnings,
    })
}

fn first_significant_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.trim().is_empty())
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// Reads and parses a history file.
pub fn read_file(path: &Path, format: Option<Format>) -> Result<History, InputError> {
    let (source, text) = read_text(path)?;
    parse_str(&source, &text, format)
}

/// A file's name as errors give it, and its text; an error naming the line of the first
/// byte that is not UTF-8.
pub fn read_text(path: &Path) -> Result<(String, String), InputError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(&source, 0, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        InputError::new(&source, line, "expected UTF-8 text")
    })?;
    Ok((source, text))
}

/// Reads a history from EDN: a top-level vector or list of maps, or a sequence of maps.
/// `#_` discards before the history are skipped by the reader's whitespace rules.
fn edn_history(source: &str, text: &str) -> Result<Vec<Event>, InputError> {
    let mut r = edn::Reader::new(text, 1);
    let mut events = Vec::new();
    let to_err = |e: edn::EdnError| InputError::new(source, e.line, e.message);
    r.skip_discards().map_err(to_err)?;
    if let Some(open @ (b'[' | b'(')) = r.peek() {
        let close = if open == b'[' { b']' } else { b')' };
        r.bump();
        loop {
            r.skip_discards().map_err(to_err)?;
            match r.peek() {
                None => {
                    return Err(InputError::new(
                        source,
                        r.line(),
                        format!(
                            "expected `{}` closing the history, found the end of the file",
                            close as char
                        ),
                    ))
                }
                Some(c) if c == close => {
                    r.bump();
                    break;
                }
                Some(_) => {
                    let line = r.line();
                    let v = r.read().map_err(to_err)?;
                    push_edn_event(source, line, &v, &mut events)?;
                }
            }
        }
        r.skip_discards().map_err(to_err)?;
        if !r.at_end() {
            return Err(InputError::new(
                source,
                r.line(),
                "expected the end of the file after the history",
            ));
        }
    } else {
        while !r.at_end() {
            r.skip_discards().map_err(to_err)?;
            if r.at_end() {
                break;
            }
            let line = r.line();
            let v = r.read().map_err(to_err)?;
            push_edn_event(source, line, &v, &mut events)?;
        }
    }
    Ok(events)
}

fn push_edn_event(
    source: &str,
    line: usize,
    v: &Value,
    out: &mut Vec<Event>,
) -> Result<(), InputError> {
    let Value::Map(m) = v else {
        return Err(InputError::new(
            source,
            line,
            format!(
                "expected an operation map `{{:process ..., :type ...}}`, found {}",
                short(v)
            ),
        ));
    };
    let get = |name: &str| {
        m.iter()
            .find(|(k, _)| k.as_name() == Some(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(e) = event_from_fields(Fields::look_up(get), line)
        .map_err(|m| InputError::new(source, line, m))?
    {
        out.push(e);
    }
    Ok(())
}

/// The fields of one event as read, before they are checked; taken by value so that
/// strings and values move into the event.
#[derive(Default)]
pub(crate) struct Fields {
    pub process: Option<Value>,
    /// The `type` field.
    pub kind: Option<Value>,
    pub f: Option<Value>,
    pub key: Option<Value>,
    pub value: Option<Value>,
    pub time: Option<Value>,
}

impl Fields {
    /// The fields as a map-like reader finds them by name.
    pub(crate) fn look_up(get: impl Fn(&str) -> Option<Value>) -> Fields {
        Fields {
            process: get("process"),
            kind: get("type"),
            f: get("f"),
            key: get("key"),
            value: get("value"),
            time: get("time"),
        }
    }
}

/// Builds an event from named fields; `Ok(None)` for non-client (nemesis) events.
pub(crate) fn event_from_fields(fields: Fields, line: usize) -> Result<Option<Event>, String> {
    let process = match fields.process {
        Some(Value::Int(p)) => p,
        Some(Value::Keyword(_) | Value::Symbol(_) | Value::Str(_)) => return Ok(None),
        Some(other) => {
            return Err(format!(
                "expected an integer `process`, found {}",
                short(&other)
            ))
        }
        None => return Err("expected a `process` field".into()),
    };
    let kind = match fields.kind {
        Some(t) => t.as_name().and_then(EventKind::parse).ok_or_else(|| {
            format!(
                "expected `type` invoke, ok, fail or info, found {}",
                short(&t)
            )
        })?,
        None => return Err("expected a `type` field (invoke, ok, fail or info)".into()),
    };
    let f = match fields.f {
        Some(Value::Keyword(s) | Value::Symbol(s) | Value::Str(s)) => s,
        Some(v) => v.to_string(),
        None => return Err("expected an `f` field naming the operation".into()),
    };
    let time = match fields.time {
        None | Some(Value::Nil) => None,
        Some(Value::Int(t)) if t >= 0 => Some(t as u64),
        Some(other) => {
            return Err(format!(
                "expected a non-negative integer `time`, found {}",
                short(&other)
            ))
        }
    };
    Ok(Some(Event {
        line,
        process,
        kind,
        f,
        key: fields.key.filter(|k| !k.is_nil()),
        value: fields.value.unwrap_or(Value::Nil),
        time,
    }))
}

/// A value shortened for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

/// An operation: an invocation with its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Position in invocation order.
    pub index: usize,
    pub process: i64,
    pub f: String,
    pub key: Option<Value>,
    /// The invocation's value.
    pub input: Value,
    /// The completion's value; `None` when indeterminate (`info` or never completed).
    pub output: Option<Value>,
    /// Event position of the invocation (the history's order of events).
    pub call: usize,
    /// Event position of the completion; `None` when indeterminate.
    pub ret: Option<usize>,
    pub line: usize,
    pub ret_line: Option<usize>,
}

impl Operation {
    pub fn is_indeterminate(&self) -> bool {
        self.ret.is_none()
    }

    /// Human-readable: `P3 cas [2 1] ok`, `P0 read -> 3`, `P2 write 4 (indeterminate)`.
    pub fn describe(&self) -> String {
        let mut s = format!("P{} {}", self.process, self.f);
        if let Some(k) = &self.key {
            s.push_str(&format!(" {k}"));
        }
        match &self.output {
            Some(out) if out != &self.input && !self.input.is_nil() => {
                s.push_str(&format!(" {} -> {}", short(&self.input), short(out)))
            }
            Some(out) if self.input.is_nil() => s.push_str(&format!(" -> {}", short(out))),
            Some(_) => s.push_str(&format!(" {}", short(&self.input))),
            None => {
                if !self.input.is_nil() {
                    s.push_str(&format!(" {}", short(&self.input)));
                }
                s.push_str(" (indeterminate)");
            }
        }
        s.push_str(&format!(" [line {}]", self.line));
        s
    }
}

/// A paired history.
#[derive(Clone, Debug)]
pub struct Operations {
    pub source: String,
    pub ops: Vec<Operation>,
    /// How many failed operations were dropped.
    pub failed: usize,
    /// Failed operations, kept for checkers that need them (aborted reads).
    pub failed_ops: Vec<Operation>,
}

/// Pairs invocations with completions (see the module doc for the rules).
pub fn pair(h: &History) -> Result<Operations, InputError> {
    pair_iter(&h.source, h.events.iter().cloned(), h.events.len() / 2)
}

/// Like [`pair`], consuming the history so that its events' values are moved into the
/// operations, not copied (copying and then dropping them cost more than parsing them).
pub fn pair_owned(h: History) -> Result<Operations, InputError> {
    let expect = h.events.len() / 2;
    pair_iter(&h.source, h.events.into_iter(), expect)
}

/// How a paired operation ended, as [`pair_stream`] hands it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// `ok`, `info`, or never completed (the operation's `ret` says which).
    Kept,
    /// `fail`: it certainly did not happen.
    Failed,
}

/// Pairs events given in history order, handing each operation to `done` as soon as its
/// completion is read (operations never completed come last, in invocation order), with
/// its values moved out of the events. `index` is the operation's position among all
/// invocations; `call` and `ret` count the events given.
pub(crate) fn pair_stream(
    source: &str,
    events: impl Iterator<Item = Event>,
    mut done: impl FnMut(Operation, Ended) -> Result<(), InputError>,
) -> Result<(), InputError> {
    let mut open: BTreeMap<i64, Operation> = BTreeMap::new();
    let mut invoked = 0;
    for (pos, e) in events.enumerate() {
        match e.kind {
            EventKind::Invoke => {
                if let Some(prev) = open.get(&e.process) {
                    return Err(InputError::new(
                        source,
                        e.line,
                        format!(
                            "expected a completion for process {} (its invocation at line {} is still open) before it invokes again",
                            e.process, prev.line
                        ),
                    ));
                }
                open.insert(
                    e.process,
                    Operation {
                        index: invoked,
                        process: e.process,
                        f: e.f,
                        key: e.key,
                        input: e.value,
                        output: None,
                        call: pos,
                        ret: None,
                        line: e.line,
                        ret_line: None,
                    },
                );
                invoked += 1;
            }
            kind => {
                let Some(mut op) = open.remove(&e.process) else {
                    return Err(InputError::new(
                        source,
                        e.line,
                        format!(
                            "expected an open invocation for process {} before this completion",
                            e.process
                        ),
                    ));
                };
                op.ret_line = Some(e.line);
                if op.key.is_none() {
                    op.key = e.key;
                }
                let ended = match kind {
                    EventKind::Ok => {
                        op.output = Some(e.value);
                        op.ret = Some(pos);
                        Ended::Kept
                    }
                    EventKind::Fail => Ended::Failed,
                    // Indeterminate: keeps output None and ret None.
                    _ => Ended::Kept,
                };
                done(op, ended)?;
            }
        }
    }
    let mut never: Vec<Operation> = open.into_values().collect();
    never.sort_by_key(|op| op.index);
    for op in never {
        done(op, Ended::Kept)?;
    }
    Ok(())
}

/// Pairs events given in history order, moving each event's values into its operation;
/// `expect_ops` sizes the operation list (a hint only).
pub(crate) fn pair_iter(
    source: &str,
    events: impl Iterator<Item = Event>,
    expect_ops: usize,
) -> Result<Operations, InputError> {
    let mut ops: Vec<Operation> = Vec::with_capacity(expect_ops);
    let mut failed_ops = Vec::new();
    pair_stream(source, events, |op, ended| {
        match ended {
            Ended::Kept => ops.push(op),
            Ended::Failed => failed_ops.push(op),
        }
        Ok(())
    })?;
    // Handed over by completion; kept in invocation order, numbered among themselves.
    ops.sort_by_key(|op| op.index);
    if !failed_ops.is_empty() {
        for (i, op) in ops.iter_mut().enumerate() {
            op.index = i;
        }
    }
    Ok(Operations {
        source: source.to_string(),
        ops,
        failed: failed_ops.len(),
        failed_ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(Format::detect("{\"process\":1}"), Some(Format::Native));
        assert_eq!(Format::detect("; c\n{:process 1}"), Some(Format::Edn));
        assert_eq!(Format::detect("[{:process 1}]"), Some(Format::Edn));
        assert_eq!(
            Format::detect("INFO  jepsen.util - 3\t:invoke\t:cas\t[2 1]"),
            Some(Format::JepsenLog)
        );
        assert_eq!(Format::detect("hello"), None);
        // history.txt, after chatter a log may hold.
        assert_eq!(
            Format::detect("Running test\n3\t:invoke\t:read\tnil\n"),
            Some(Format::JepsenLog)
        );
    }

    #[test]
    fn pairs_by_process_and_drops_fails() {
        let text = "{:process 0 :type :invoke :f :write :value 1}\n\
                    {:process 1 :type :invoke :f :cas :value [1 2]}\n\
                    {:process 0 :type :ok :f :write :value 1}\n\
                    {:process 1 :type :fail :f :cas :value [1 2]}\n\
                    {:process 2 :type :invoke :f :read}\n\
                    {:process 2 :type :info :f :crash}\n\
                    {:process :nemesis :type :info :f :start}\n\
                    {:process 3 :type :invoke :f :write :value 5}\n";
        let h = parse_str("t.edn", text, None).unwrap();
        let ops = pair(&h).unwrap();
        assert_eq!(ops.failed, 1);
        assert_eq!(ops.ops.len(), 3);
        assert_eq!(ops.ops[0].output, Some(Value::Int(1)));
        assert!(
            ops.ops[1].is_indeterminate(),
            "crash completion pairs with the read"
        );
        assert_eq!(ops.ops[1].f, "read");
        assert!(
            ops.ops[2].is_indeterminate(),
            "no completion counts as info"
        );
    }

    #[test]
    fn pairing_errors_name_the_line() {
        let h = parse_str("t.edn", "{:process 0 :type :ok :f :read :value 1}", None).unwrap();
        let e = pair(&h).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("t.edn", 1));
        let h = parse_str(
            "t.edn",
            "{:process 0 :type :invoke :f :read}\n{:process 0 :type :invoke :f :read}",
            None,
        )
        .unwrap();
        assert_eq!(pair(&h).unwrap_err().line, 2);
    }
}
