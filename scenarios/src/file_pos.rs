//! Where in a scenario file an error is: serde and the scenario checks often know only the
//! table a problem is in (a `[[faults]]` entry, `[net]`, a latency distribution), and an
//! error pointing at the table's header leaves the user to guess which of its keys is at
//! fault. These helpers narrow such a position to the `key = value` the message is about:
//! a key the message names, else a value it quotes.
//!
//! This is a reading of the text, not a TOML parser: it looks at `key = value` pairs line
//! by line (inline tables included) and never decides whether the file is valid. When no
//! pair matches, the caller keeps the position it had.

use std::ops::Range;

/// Keys whose names messages use in prose ("fault at 1s", "invalid duration", "for"), so
/// naming them is no sign that they are at fault. Their values still count.
const PROSE: [&str; 4] = ["at", "for", "fault", "duration"];

/// The span of the table whose header starts at `start` with its body and subtables, up
/// to the next header of another table (or the next entry of the same array of tables).
/// A `start` that is not at a header is returned as an empty span there.
pub(crate) fn table_extent(text: &str, start: usize) -> Range<usize> {
    let Some(name) = header_name(text.get(start..).unwrap_or("")) else {
        return start..start;
    };
    let sub = format!("{name}.");
    let mut offset = start;
    let mut lines = text[start..].split_inclusive('\n');
    if let Some(first) = lines.next() {
        offset += first.len();
    }
    for line in lines {
        if let Some(other) = header_name(line.trim_start()) {
            if !other.starts_with(&sub) {
                break;
            }
        }
        offset += line.len();
    }
    start..offset
}

/// `[a.b]` or `[[a.b]]` at the start of `line`: the dotted name.
fn header_name(line: &str) -> Option<String> {
    let rest = line.strip_prefix('[')?;
    let rest = rest.strip_prefix('[').unwrap_or(rest);
    let name = rest.split(']').next()?;
    Some(name.split('.').map(str::trim).collect::<Vec<_>>().join("."))
}

/// The offset of the `key = value` inside `span` that `message` is about, if any: the
/// pair whose key the message names (as a word) wins over one whose value it quotes; the
/// longer quoted value wins among those (`-1` over `1`); the first wins a tie.
pub(crate) fn pair_named_in(text: &str, span: Range<usize>, message: &str) -> Option<usize> {
    let span = span.start.min(text.len())..span.end.min(text.len());
    // What follows "expected" lists what would have been right (`like "10ms"`, `one of
    // `partition`, ...`): the value at fault is named before it.
    let message = message.split("expected").next().unwrap_or(message);
    let mut best: Option<((u8, usize), usize)> = None;
    let mut offset = span.start;
    // Start at the beginning of the line the span starts in.
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    offset = line_start;
    for line in text[line_start..span.end].split_inclusive('\n') {
        for (at, key, value) in pairs(line) {
            let key = key.rsplit('.').next().unwrap_or(key).trim_matches('"');
            let key_named = !PROSE.contains(&key) && word_in(message, key);
            let bare = value.trim_matches('"');
            let value_named = match value {
                // serde names the type, not the value, of arrays and tables.
                "[" => message.contains("invalid type: sequence"),
                "{" => message.contains("invalid type: map"),
                // A TOML datetime reaches serde as a map too.
                v if is_datetime(v) => message.contains("invalid type: map"),
                _ => {
                    word_in(message, value)
                        || (!bare.is_empty() && word_in(message, bare))
                        || message.contains(&format!("`{bare}`"))
                }
            };
            let score = (
                u8::from(key_named) * 2 + u8::from(value_named),
                if value_named { value.len() } else { 0 },
            );
            if score.0 > 0 && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, offset + at));
            }
        }
        offset += line.len();
    }
    best.map(|(_, at)| at)
}

/// The `key = value` pairs of one line with the offset of each key: a plain line, or the
/// pairs of an inline table (`{ node = "n1", ppm = 5 }`). An array or inline table value
/// is given as its opening bracket; the pairs inside an inline table follow.
fn pairs(line: &str) -> Vec<(usize, &str, &str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_string = false;
    let mut key_start: Option<usize> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => break,
            b'"' if key_start.is_none() => {
                // A quoted key or a string value that is not a pair: skip the string.
                in_string = true;
            }
            b'=' => {
                if let Some(k) = key_start.take() {
                    let key = line[k..i].trim();
                    let rest = &line[i + 1..];
                    let v_off = i + 1 + (rest.len() - rest.trim_start().len());
                    let value = value_at(&line[v_off..]);
                    if !key.is_empty() {
                        // An array or inline table is recorded as its opening bracket.
                        out.push((k, key, value));
                    }
                    // Continue after the value (or into an inline table / array).
                    i = if value.starts_with(['[', '{']) {
                        v_off
                    } else {
                        v_off + value.len()
                    };
                    continue;
                }
            }
            b'{' | b',' | b'[' | b']' | b'}' => key_start = None,
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.' => {
                if key_start.is_none() {
                    key_start = Some(i);
                }
            }
            b' ' | b'\t' => {}
            _ => key_start = None,
        }
        i += 1;
    }
    out
}

/// `1979-05-27`, `1979-05-27T07:32:00Z`, ...: a bare TOML date or datetime.
fn is_datetime(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

/// The text of the value that starts `s`: a basic string with its quotes, else up to the
/// next `,`, `}`, `]`, `#` or the end of the line.
fn value_at(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return &s[..i + 2],
                _ => escaped = false,
            }
        }
        return s.trim_end();
    }
    if s.starts_with(['[', '{']) {
        return &s[..1];
    }
    let end = s.find([',', '}', ']', '#', '\n']).unwrap_or(s.len());
    s[..end].trim_end()
}

/// Whether `word` occurs in `text` (ASCII case ignored) with no letter, digit, `_`, `-`
/// or `.` right before or after it.
fn word_in(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let (t, w) = (text.to_ascii_lowercase(), word.to_ascii_lowercase());
    // `-` and `.` join numbers: `1` is not in `-1` or `0.1`.
    let is_word = |c: Option<char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let mut from = 0;
    while let Some(i) = t[from..].find(&w) {
        let at = from + i;
        let before = t[..at].chars().next_back();
        let after = t[at + w.len()..].chars().next();
        // A word that starts or ends with a non-word character (`-1`, `"x"`) carries its
        // own boundary on that side.
        let starts_open = !w.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let ends_open = !w.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if (starts_open || !is_word(before)) && (ends_open || !is_word(after)) {
            return true;
        }
        from = at + w.len().max(1);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n\n[net]\nlinks = []\n\n[net.default]\nloss = -0.5\nduplicate = 0.0\n\n[net.default.latency]\ndist = \"uniform\"\nmin = \"1ms\"\nmax = \"0s\"\n\n[disk]\nsector_size = 512\n\n[[faults]]\nat = \"1s\"\nfault = \"clock-strobe\"\nnode = \"n2\"\nperiod = \"0s\"\n\n[[faults]]\nat = \"2s\"\nfault = \"crash\"\nnode = 1\n";

    fn line(offset: usize) -> &'static str {
        let start = TEXT[..offset].rfind('\n').map_or(0, |i| i + 1);
        TEXT[start..].lines().next().unwrap()
    }

    #[test]
    fn a_table_spans_its_body_and_subtables_up_to_the_next_table() {
        let net = TEXT.find("[net]").unwrap();
        let r = table_extent(TEXT, net);
        assert!(TEXT[r.clone()].contains("max = \"0s\""));
        assert!(!TEXT[r].contains("[disk]"));
        let f = TEXT.find("[[faults]]").unwrap();
        let r = table_extent(TEXT, f);
        assert!(TEXT[r.clone()].contains("period"));
        assert!(!TEXT[r].contains("crash\""));
        assert_eq!(table_extent(TEXT, 2), 2..2);
    }

    #[test]
    fn the_pair_a_message_names_is_found() {
        let net = table_extent(TEXT, TEXT.find("[net]").unwrap());
        let at = |span: Range<usize>, msg: &str| pair_named_in(TEXT, span, msg).map(line);
        assert_eq!(
            at(net.clone(), "loss probability -0.5 is not in [0, 1]"),
            Some("loss = -0.5")
        );
        assert_eq!(
            at(net.clone(), "uniform latency has max 0 below min 1ms"),
            Some("min = \"1ms\"")
        );
        assert_eq!(at(net.clone(), "invalid type: string \"zz\""), None);
        assert_eq!(
            at(
                net,
                "invalid duration \"0s\": expected a number, like \"1ms\""
            ),
            Some("max = \"0s\"")
        );
        let f = table_extent(TEXT, TEXT.find("[[faults]]").unwrap());
        assert_eq!(
            at(f.clone(), "fault at 1s: a strobe period must be above zero"),
            Some("period = \"0s\"")
        );
        assert_eq!(
            at(
                f.clone(),
                "fault at 1s names node n2 but the servers are n1..n1"
            ),
            Some("node = \"n2\"")
        );
        assert_eq!(
            at(f, "unknown variant `clock-strobe`, expected one of"),
            Some("fault = \"clock-strobe\"")
        );
        let whole = 0..TEXT.len();
        assert_eq!(
            at(whole.clone(), "invalid value: integer `-1`, expected u64"),
            None
        );
        assert_eq!(
            at(whole, "faults are not in time order at 2s"),
            Some("at = \"2s\"")
        );
    }

    #[test]
    fn inline_tables_have_pairs_and_strings_are_not_keys() {
        let text = "clocks = [{ node = \"n1\", bogus = 1 }]\ndescription = \"a = b\"\n";
        assert_eq!(
            pair_named_in(text, 0..text.len(), "unknown field `bogus`, expected"),
            Some(text.find("bogus").unwrap())
        );
        assert_eq!(pair_named_in(text, 0..text.len(), "about b"), None);
    }

    #[test]
    fn words_need_boundaries() {
        assert!(word_in("loss probability -0.5 is", "-0.5"));
        assert!(word_in("probability NaN is", "nan"));
        assert!(!word_in("ends at 800ms", "0s"));
        assert!(word_in("integer `-1`", "-1"));
        assert!(!word_in("max_ops must", "max"));
    }
}
