//! A small EDN reader, enough for Jepsen/Knossos operation maps.
//!
//! Reads nil, booleans, integers (with an optional `N` suffix), other numbers as text,
//! strings with the usual escapes, keywords, symbols (distinct from keywords: `ni` is not
//! `:ni`), vectors, lists and sets (all as lists; a set sorted, so its order never
//! matters), maps (entries sorted by key, so their order never matters; a repeated key is
//! an error), `;` comments, commas as
//! whitespace, `#_` discards and tagged literals (the tag is dropped and the value kept, so
//! `#jepsen.history.Op{...}` reads as a map). It deliberately does not read characters,
//! ratios, regexes or metadata; those are reported as errors, never guessed.

use crate::value::Value;

/// Nesting deeper than this is refused rather than risking the stack on mangled input.
const MAX_DEPTH: usize = 128;

/// A parse failure at a 1-based line, with what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdnError {
    pub line: usize,
    pub message: String,
}

pub struct Reader<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Reader<'a> {
    pub fn new(src: &'a str, first_line: usize) -> Self {
        Reader {
            src: src.as_bytes(),
            pos: 0,
            line: first_line,
        }
    }

    pub fn line(&self) -> usize {
        self.line
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    /// Skips whitespace, commas and comments.
    pub fn skip_ws(&mut self) {
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.pos += 1,
                b';' => {
                    while self.pos < self.src.len() && self.src[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Skips whitespace, comments and `#_` discarded forms.
    pub fn skip_discards(&mut self) -> Result<(), EdnError> {
        self.skip_discards_at(0)
    }

    /// `skip_discards` inside `depth` levels of nesting (the discarded forms count too).
    fn skip_discards_at(&mut self, depth: usize) -> Result<(), EdnError> {
        loop {
            self.skip_ws();
            if self.src.get(self.pos) == Some(&b'#') && self.src.get(self.pos + 1) == Some(&b'_') {
                self.pos += 2;
                self.read_depth(depth + 1)?;
            } else {
                return Ok(());
            }
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.src.len()
    }

    /// Peeks the next significant byte.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.src.get(self.pos).copied()
    }

    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// Reads one form.
    pub fn read(&mut self) -> Result<Value, EdnError> {
        self.read_depth(0)
    }

    fn read_depth(&mut self, depth: usize) -> Result<Value, EdnError> {
        if depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.skip_ws();
        let Some(&c) = self.src.get(self.pos) else {
            return self.err("expected a value, found the end of the input");
        };
        match c {
            b'[' | b'(' => {
                self.pos += 1;
                let close = if c == b'[' { b']' } else { b')' };
                Ok(Value::List(self.read_seq(close, depth)?))
            }
            b'{' => {
                self.pos += 1;
                let items = self.read_seq(b'}', depth)?;
                if items.len() % 2 != 0 {
                    return self.err("expected a map with an even number of forms");
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                    return self.err(format!(
                        "expected distinct map keys, found {} twice",
                        w[0].0
                    ));
                }
                Ok(Value::Map(pairs))
            }
            b'#' => {
                self.pos += 1;
                match self.src.get(self.pos) {
                    Some(b'{') => {
                        self.pos += 1;
                        let mut items = self.read_seq(b'}', depth)?;
                        items.sort();
                        items.dedup();
                        Ok(Value::List(items))
                    }
                    Some(b'_') => {
                        self.pos += 1;
                        self.read_depth(depth + 1)?;
                        self.read_depth(depth + 1)
                    }
                    Some(c) if c.is_ascii_alphabetic() => {
                        // Tagged literal: drop the tag, keep the value.
                        self.read_token();
                        self.read_depth(depth + 1)
                    }
                    _ => self.err("expected `#{`, `#_` or a tag after `#`"),
                }
            }
            b'"' => self.read_string(),
            b']' | b')' | b'}' => self.err(format!("unexpected `{}`", c as char)),
            b':' => {
                self.pos += 1;
                let tok = self.read_token();
                if tok.is_empty() {
                    return self.err("expected a keyword name after `:`");
                }
                Ok(Value::Keyword(tok.to_string()))
            }
            b'\\' => self.err("character literals are not supported"),
            _ => {
                let tok = self.read_token();
                if tok.is_empty() {
                    return self.err(format!("unexpected character `{}`", c as char));
                }
                Self::atom(tok).or_else(|m| self.err(m))
            }
        }
    }

    fn read_seq(&mut self, close: u8, depth: usize) -> Result<Vec<Value>, EdnError> {
        let mut items = Vec::new();
        loop {
            self.skip_discards_at(depth + 1)?;
            match self.src.get(self.pos) {
                None => {
                    return self.err(format!(
                        "expected `{}`, found the end of the input",
                        close as char
                    ))
                }
                Some(&c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.read_depth(depth + 1)?),
            }
        }
    }

    fn read_token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(&c) = self.src.get(self.pos) {
            if c.is_ascii_whitespace()
                || matches!(
                    c,
                    b',' | b'[' | b']' | b'(' | b')' | b'{' | b'}' | b'"' | b';'
                )
            {
                break;
            }
            self.pos += 1;
        }
        // Token boundaries are ASCII bytes, so the slice is valid UTF-8.
        std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("")
    }

    fn atom(tok: &str) -> Result<Value, String> {
        match tok {
            "nil" => return Ok(Value::Nil),
            "true" => return Ok(Value::Bool(true)),
            "false" => return Ok(Value::Bool(false)),
            _ => {}
        }
        let b = tok.as_bytes();
        let numeric = b[0].is_ascii_digit()
            || (b.len() > 1 && (b[0] == b'-' || b[0] == b'+') && b[1].is_ascii_digit());
        if numeric {
            let t = tok.strip_suffix('N').unwrap_or(tok);
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::Int(i));
            }
            let f = tok.strip_suffix('M').unwrap_or(tok);
            if f.parse::<f64>().is_ok() {
                return Ok(Value::Float(tok.to_string()));
            }
            return Err(format!("expected a number, found `{tok}`"));
        }
        Ok(Value::Symbol(tok.to_string()))
    }

    fn read_string(&mut self) -> Result<Value, EdnError> {
        self.pos += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return self.err("expected a closing `\"`, found the end of the input");
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\n' => {
                    self.line += 1;
                    out.push(c);
                }
                b'\\' => {
                    let Some(&e) = self.src.get(self.pos) else {
                        return self.err("expected an escape after `\\`");
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'u' => {
                            let hex = self
                                .src
                                .get(self.pos..self.pos + 4)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            let ch = hex
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            let Some(ch) = ch else {
                                return self.err("expected four hex digits after `\\u`");
                            };
                            self.pos += 4;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return self.err(format!("unknown string escape `\\{}`", e as char)),
                    }
                }
                _ => out.push(c),
            }
        }
        match String::from_utf8(out) {
            Ok(s) => Ok(Value::Str(s)),
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }
}

/// Writes a value as EDN that [`read_one`] reads back as the same value.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(k, out);
                out.push(' ');
                write_value(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The events as Jepsen/Knossos EDN, one operation map per line, as Jepsen writes
/// `history.edn` (`:time` only when known, `:key` only when set).
pub fn to_edn_lines(events: &[crate::history::Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&format!(
            "{{:process {}, :type :{}, :f :{}",
            e.process,
            e.kind.name(),
            e.f
        ));
        if let Some(k) = &e.key {
            out.push_str(", :key ");
            write_value(k, &mut out);
        }
        out.push_str(", :value ");
        write_value(&e.value, &mut out);
        if let Some(t) = e.time {
            out.push_str(&format!(", :time {t}"));
        }
        out.push_str("}\n");
    }
    out
}

/// Reads the first form of `text` and returns it with the byte offset just past it (what
/// follows is the caller's to judge).
pub fn read_prefix(text: &str, line: usize) -> Result<(Value, usize), EdnError> {
    let mut r = Reader::new(text, line);
    r.skip_discards()?;
    let v = r.read()?;
    Ok((v, r.pos))
}

/// Reads exactly one form from `text` (nothing may follow it but whitespace and comments).
pub fn read_one(text: &str, line: usize) -> Result<Value, EdnError> {
    let mut r = Reader::new(text, line);
    r.skip_discards()?;
    let v = r.read()?;
    r.skip_discards()?;
    if !r.at_end() {
        return Err(EdnError {
            line: r.line(),
            message: "expected the end of the value, found more text".into(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_operation_map() {
        let v = read_one(
            r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"} ; c"#,
            1,
        )
        .unwrap();
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        // Entries sorted by key: :f :key :process :type :value.
        assert_eq!(m[2], (Value::Keyword("process".into()), Value::Int(0)));
        assert_eq!(m[4].1, Value::Str("x 0 0 y".into()));
    }

    #[test]
    fn order_never_matters_in_maps_and_sets_and_symbols_are_not_keywords() {
        let read = |t: &str| read_one(t, 1).unwrap();
        assert_eq!(read("{:a 1 :b #{2 1}}"), read("{:b #{1 2 1} :a 1}"));
        assert_ne!(read("ni"), read(":ni"));
        assert_ne!(read("x"), read("\"x\""));
        assert_eq!(read("foo/bar").to_string(), "foo/bar");
        let e = read_one("{:a 1 :a 2}", 1).unwrap_err();
        assert!(e.message.contains(":a twice"), "{}", e.message);
    }

    #[test]
    fn reads_nested_and_tagged() {
        let v = read_one(
            r#"#jepsen.history.Op{:value [[:append 9 1] (:r 8 nil)] :s #{3 1}}"#,
            1,
        )
        .unwrap();
        assert_eq!(
            v.to_string(),
            "{:s [1 3], :value [[:append 9 1] [:r 8 nil]]}"
        );
    }

    #[test]
    fn errors_name_line_and_expectation() {
        let e = read_one("{:a 1\n :b", 7).unwrap_err();
        assert_eq!(e.line, 8);
        assert!(e.message.contains("expected"), "{}", e.message);
        assert!(read_one("[1 2", 1).is_err());
        assert!(read_one("\"abc", 1).is_err());
        assert!(read_one("{:a}", 1).is_err());
        assert!(read_one("1 2", 1).is_err());
    }
}
