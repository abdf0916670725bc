//! What Jepsen, Knossos and Porcupine write is read as they mean it, and a damaged history
//! is either read as its undamaged part would be or refused with one line: never a panic,
//! never a silently different verdict.

use checkers::causality;
use checkers::generate::{self, LinBug, LinModel, LinSpec};
use checkers::history::{edn, native, pair, parse_str, Event, Format};
use checkers::linearizability::{check_with, ModelKind, Options, Verdict};
use checkers::serializability::{self as ser, Workload};
use proptest::prelude::*;

fn lin(text: &str, kind: ModelKind) -> Result<(String, Vec<String>), checkers::InputError> {
    lin_as(text, kind, None)
}

fn lin_as(
    text: &str,
    kind: ModelKind,
    format: Option<Format>,
) -> Result<(String, Vec<String>), checkers::InputError> {
    let h = parse_str("h", text, format)?;
    let warnings = h.warnings.clone();
    let r = check_with(kind, None, &pair(&h)?, &Options::default())?;
    let mut notes = r.notes;
    notes.extend(warnings);
    Ok((r.verdict.name().to_string(), notes))
}

const OPS: &str = "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 2}\n";

#[test]
fn edn_as_vector_list_or_lines_with_comments_discards_tags_and_bom() {
    let maps: Vec<&str> = OPS.lines().collect();
    let variants = [
        OPS.to_string(),
        format!("[{}]", maps.join("\n")),
        format!("({})", maps.join("\n")),
        format!(
            "; a Knossos history\n(\n{}\n #_ {{:process 9, :type :ok}} )\n",
            maps.join(" ; op\n")
        ),
        format!("\u{feff}{}", OPS),
        maps.iter()
            .map(|m| format!("#jepsen.history.Op{m}"))
            .collect::<Vec<_>>()
            .join("\n"),
        format!("#_ [:ignored]\n{OPS}"),
    ];
    for v in &variants {
        let (verdict, _) = lin(v, ModelKind::Register).unwrap_or_else(|e| panic!("{v}\n{e}"));
        assert_eq!(verdict, "not-linearizable", "{v}");
    }
    // A list that never closes is refused, naming where the file ended.
    let e = parse_str("h", &format!("({}", maps.join("\n")), None).unwrap_err();
    assert!(e.message.contains("`)`"), "{e}");
}

#[test]
fn nemesis_only_and_empty_histories_are_linearizable_with_a_note() {
    for text in [
        "",
        "\n\n",
        "; nothing happened\n",
        "{:process :nemesis, :type :info, :f :start, :value nil}\n{:process :nemesis, :type :info, :f :stop, :value nil}\n",
        "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n",
        "[]",
        "()",
    ] {
        let (verdict, notes) = lin(text, ModelKind::CasRegister).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(verdict, "linearizable", "{text:?}");
        assert!(notes.iter().any(|n| n.contains("no client operations")), "{text:?}: {notes:?}");
        let ops = pair(&parse_str("h", text, None).unwrap()).unwrap();
        let r = ser::check(&ops, Workload::ListAppend, &ser::Options::default()).unwrap();
        assert!(r.is_valid());
    }
}

#[test]
fn jepsen_logs_in_both_layouts_with_log_lines_anywhere() {
    let old = "INFO  jepsen.core - Running test jepsen.etcd\n\
        INFO  jepsen.util - 3\t:invoke\t:write\t1\n\
        WARN  jepsen.db - node n1: restarting - 2\n\
        INFO  jepsen.util - 3\t:ok\t:write\t1\n\
        INFO  jepsen.util - 4\t:invoke\t:read\tnil\n\
        INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
        INFO  jepsen.util - 4\t:ok\t:read\t2\n";
    let new = "2024-05-01 12:00:00,001{GMT}\tINFO\t[main] jepsen.core: Running test\n\
        INFO [2024-05-01 12:00:01,000] jepsen worker 0 - jepsen.util 3\t:invoke\t:write\t1\n\
        INFO [jepsen worker 0] jepsen.util: 3\t:invoke\t:write\t1\n\
        INFO [jepsen worker 0] jepsen.util: 3\t:ok\t:write\t1\n\
        INFO [jepsen node n1] jepsen.control: something\n\
        INFO [jepsen worker 1] jepsen.util: 4\t:invoke\t:read\tnil\n\
        INFO [jepsen worker 1] jepsen.util: 4\t:ok\t:read\t2\n";
    assert_eq!(Format::detect(old), Some(Format::JepsenLog));
    assert_eq!(Format::detect(new), Some(Format::JepsenLog));
    assert_eq!(lin(old, ModelKind::Register).unwrap().0, "not-linearizable");
    let h = parse_str("h", new, None);
    // The second line is not an operation of either layout (its process follows no
    // `jepsen.util -`/`jepsen.util:`), so it is an ordinary line; the rest reads as four ops.
    let h = h.unwrap();
    assert_eq!(h.events.len(), 4);
    assert_eq!(h.events[0].line, 3);
    assert_eq!(lin(new, ModelKind::Register).unwrap().0, "not-linearizable");
}

#[test]
fn trace_lines_without_node_or_vc_are_errors() {
    let good = "{\"node\":\"a\",\"vc\":{\"a\":1},\"kind\":\"send\",\"msg\":1}\n{\"node\":null,\"kind\":\"partition\"}\n{\"node\":\"b\",\"vc\":{\"a\":1,\"b\":1},\"kind\":\"deliver\",\"msg\":1}\n";
    assert!(causality::parse_trace("t", good).is_ok());
    for (bad, field) in [
        (good.replace("\"node\":\"b\"", "\"nod\":\"b\""), "`node`"),
        (
            good.replace(",\"vc\":{\"a\":1,\"b\":1}", ",\"vv\":{\"a\":1,\"b\":1}"),
            "`vc`",
        ),
    ] {
        let e = causality::parse_trace("t", &bad).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains(field), "{e}");
    }
}

/// Generated histories in each format, with the model that judges them.
fn samples() -> Vec<(String, ModelKind)> {
    let mut out = Vec::new();
    for (model, kind, bug, seed) in [
        (LinModel::CasRegister, ModelKind::CasRegister, None, 1),
        (
            LinModel::CasRegister,
            ModelKind::CasRegister,
            Some(LinBug::StaleRead),
            2,
        ),
        (LinModel::Kv, ModelKind::Kv, Some(LinBug::LostWrite), 3),
        (LinModel::Kv, ModelKind::Kv, None, 4),
    ] {
        let text = generate::lin_history(&LinSpec {
            model,
            ops: 14,
            clients: 3,
            keys: 2,
            crash_percent: 10,
            seed,
            bug,
        });
        let h = parse_str("g", &text, Some(Format::Native)).unwrap();
        let events: Vec<Event> = h.events;
        out.push((native::to_json_lines(&events), kind));
        out.push((edn::to_edn_lines(&events), kind));
        if kind == ModelKind::CasRegister {
            out.push((log_lines(&events), kind));
            out.push((history_txt(&events), kind));
        }
    }
    out
}

/// Jepsen's log layout for a history (registers only: the log has no key field).
fn log_lines(events: &[Event]) -> String {
    let mut s = String::from("INFO  jepsen.core - Running test\n");
    for e in events {
        let mut v = String::new();
        edn::write_value(&e.value, &mut v);
        s.push_str(&format!(
            "INFO  jepsen.util - {}\t:{}\t:{}\t{v}\n",
            e.process,
            e.kind.name(),
            e.f
        ));
    }
    s
}

/// A Jepsen test's history.txt: the operation alone, indeterminate ones with an error field.
fn history_txt(events: &[Event]) -> String {
    let mut s = String::new();
    for e in events {
        let mut v = String::new();
        edn::write_value(&e.value, &mut v);
        let error = if e.kind.name() == "info" {
            "\t:timeout"
        } else {
            ""
        };
        s.push_str(&format!(
            "{}\t:{}\t:{}\t{v}{error}\n",
            e.process,
            e.kind.name(),
            e.f
        ));
    }
    s
}

#[derive(Debug, Clone)]
enum Mangle {
    /// Keep only the first n bytes (at a char boundary).
    Truncate(usize),
    /// Flip one bit of one byte.
    Flip(usize, u8),
    /// Drop one line.
    DropLine(usize),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        any::<usize>().prop_map(Mangle::Truncate),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mangle::Flip(i, b)),
        any::<usize>().prop_map(Mangle::DropLine),
    ]
}

fn apply(text: &str, m: &Mangle) -> Vec<u8> {
    let b = text.as_bytes();
    match m {
        Mangle::Truncate(i) => b[..i % (b.len() + 1)].to_vec(),
        Mangle::Flip(i, bit) => {
            let mut v = b.to_vec();
            let i = i % v.len();
            v[i] ^= 1 << bit;
            v
        }
        Mangle::DropLine(i) => {
            let lines: Vec<&str> = text.lines().collect();
            let i = i % lines.len();
            let mut out = String::new();
            for (k, l) in lines.iter().enumerate() {
                if k != i {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
    }
}

/// The verdict, or the error as it would be printed (which must be one line).
fn outcome(bytes: &[u8], kind: ModelKind, format: Option<Format>) -> Result<String, String> {
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8".to_string())?;
    match lin_as(&text, kind, format) {
        Ok((v, _)) => Ok(v),
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "a multi-line error: {line:?}");
            assert!(e.line <= text.lines().count() + 1, "{line}");
            Err(line)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Cut anywhere, a history reads as its complete lines would (or is refused): a cut
    /// last line never changes the verdict silently. Flipped bytes and dropped lines give a
    /// verdict or one clean line, never a panic.
    #[test]
    fn mangled_histories_keep_their_meaning_or_fail_in_one_line(
        which in 0usize..12, m in mangle(),
    ) {
        let (text, kind) = samples().swap_remove(which);
        let base = outcome(text.as_bytes(), kind, None);
        prop_assert!(base.is_ok(), "{base:?}");
        let bytes = apply(&text, &m);
        let got = outcome(&bytes, kind, None);
        if let Mangle::Truncate(_) = m {
            let whole = match bytes.iter().rposition(|&b| b == b'\n') {
                Some(i) => &bytes[..=i],
                None => &bytes[..0],
            };
            // Read as the cut text was (detection may need the cut line to see the format).
            let format = std::str::from_utf8(&bytes).ok().and_then(Format::detect);
            let expect = outcome(whole, kind, format);
            if let Ok(v) = &got {
                // Unless the cut fell exactly before a newline: then the last line is whole
                // (a closing `}` shows it), and the verdict is that of the lines through it.
                let at_line_end = text.as_bytes().get(bytes.len()) == Some(&b'\n');
                let through = outcome(&text.as_bytes()[..(bytes.len() + 1).min(text.len())], kind, format);
                prop_assert!(
                    Ok(v.clone()) == expect || (at_line_end && Ok(v.clone()) == through),
                    "cut {} of {}: {v} vs {expect:?} / {through:?}", bytes.len(), text.len()
                );
            }
        }
    }
}

#[test]
fn a_cut_jepsen_line_is_never_read_as_a_different_value() {
    // The cases: `:ok :read ` cut before its value was read as nil; `ni` as `:ni`.
    let head = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n";
    for tail in [
        "INFO  jepsen.util - 1\t:ok\t:read\t",
        "INFO  jepsen.util - 1\t:ok\t:read\tni",
    ] {
        let h = parse_str("h", &format!("{head}{tail}"), None).unwrap();
        assert_eq!(h.events.len(), 3, "{tail:?}");
        assert!(h.warnings[0].contains("h:4"), "{:?}", h.warnings);
        // Unread, the read is indeterminate: linearizable, as the complete lines are.
        let r = check_with(
            ModelKind::Register,
            None,
            &pair(&h).unwrap(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::Linearizable);
    }
}
