//! Vector-clock validation, causal delivery, conflict audit and ShiViz export.

use checkers::causality::{self, audit, parse_trace, shiviz};

fn problems(text: &str) -> Vec<&'static str> {
    let t = parse_trace("trace.jsonl", text).unwrap();
    causality::check(&t)
        .problems
        .iter()
        .map(|p| p.kind)
        .collect()
}

const GOOD: &str = r#"{"node":"a","vc":{"a":1},"kind":"local"}
{"node":"a","vc":{"a":2},"kind":"send","msg":"m1"}
{"node":null,"kind":"partition"}
{"node":"b","vc":{"b":1},"kind":"local"}
{"node":"b","vc":{"a":2,"b":2},"kind":"deliver","msg":"m1"}
{"node":"b","vc":{"a":2,"b":3},"kind":"send","msg":"m2"}
{"node":"a","vc":{"a":3,"b":3},"kind":"deliver","msg":"m2"}"#;

#[test]
fn a_consistent_trace_is_valid() {
    let t = parse_trace("trace.jsonl", GOOD).unwrap();
    let r = causality::check(&t);
    assert!(r.is_valid(), "{:?}", r.problems);
    assert_eq!((r.events, r.hosts, r.messages), (6, 2, 2));
}

#[test]
fn a_byte_order_mark_is_not_part_of_a_trace_or_an_audit() {
    let t = parse_trace("trace.jsonl", &format!("\u{feff}{GOOD}")).unwrap();
    // Six host events; the partition is a world event.
    assert_eq!(causality::check(&t).events, 6);
    assert!(causality::check(&t).is_valid());
    let audit_text = "\u{feff}{\"write\":\"w1\",\"key\":\"x\",\"vc\":{\"a\":1},\"vv\":{\"s\":1}}\n";
    let a = audit::parse_audit("a.jsonl", audit_text);
    assert!(a.is_ok(), "{:?}", a.err());
}

#[test]
fn broken_clocks_are_named() {
    assert_eq!(
        problems(&GOOD.replace(r#"{"b":1}"#, r#"{"b":2}"#)),
        vec!["own-entry"]
    );
    assert_eq!(
        problems(&GOOD.replace(r#"{"a":3,"b":3}"#, r#"{"a":3,"b":2}"#)),
        vec!["receive-before-send"]
    );
    assert_eq!(
        problems(&GOOD.replace(r#"{"b":1}"#, r#"{"a":1,"b":1}"#)),
        vec!["merge"]
    );
    assert_eq!(
        problems(&GOOD.replace(r#"{"a":1}"#, r#"{"a":1,"z":1}"#)),
        vec!["unknown-host"]
    );
    assert_eq!(
        problems(&GOOD.replace(r#""deliver","msg":"m2""#, r#""deliver","msg":"m9""#))[..1],
        ["unknown-message"]
    );
    // A receive that does not know its send.
    assert_eq!(
        problems(&GOOD.replace(r#"{"a":2,"b":2}"#, r#"{"a":1,"b":2}"#))[..1],
        ["receive-before-send"]
    );
}

#[test]
fn causal_delivery_violation_is_found() {
    let text = r#"{"node":"a","vc":{"a":1},"kind":"send","msg":1}
{"node":"a","vc":{"a":2},"kind":"send","msg":2}
{"node":"c","vc":{"a":2,"c":1},"kind":"deliver","msg":2}
{"node":"c","vc":{"a":2,"c":2},"kind":"deliver","msg":1}"#;
    let t = parse_trace("t", text).unwrap();
    let r = causality::check(&t);
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].kind, "causal-delivery");
    assert_eq!(r.problems[0].line, 4);
    // Checking the clocks alone, the same trace is valid and the reordering is counted.
    let clocks = causality::check_clocks(&t);
    assert!(clocks.is_valid(), "{:?}", clocks.problems);
    assert_eq!(clocks.unordered_deliveries, 1);
    // Delivered in send order, the same messages are fine.
    let ok = text.replace(
        r#"{"a":2,"c":1},"kind":"deliver","msg":2}
{"node":"c","vc":{"a":2,"c":2},"kind":"deliver","msg":1}"#,
        r#"{"a":1,"c":1},"kind":"deliver","msg":1}
{"node":"c","vc":{"a":2,"c":2},"kind":"deliver","msg":2}"#,
    );
    assert_ne!(ok, text);
    assert!(causality::check(&parse_trace("t", &ok).unwrap()).is_valid());
}

#[test]
fn govector_logs_round_trip_through_shiviz_export() {
    let log = "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n\na {\"a\":1}\nsend m\nb {\"b\":1}\nlocal\nb {\"a\":1, \"b\":2}\nreceive m\n";
    let t = parse_trace("log.txt", log).unwrap();
    let r = causality::check(&t);
    assert!(r.is_valid(), "{:?}", r.problems);
    assert_eq!(r.messages, 1);
    let out = shiviz::export(&t);
    assert_eq!(
        out,
        "a {\"a\":1}\nsend m\nb {\"b\":1}\nlocal\nb {\"a\":1, \"b\":2}\nreceive m\n"
    );
    let again = parse_trace("again", &out).unwrap();
    assert_eq!(again.events.len(), 3);
    assert_eq!(again.clock(2), t.clock(2));
    // Pointing at an event that does not exist.
    let bad = log.replace("{\"a\":1, \"b\":2}", "{\"a\":5, \"b\":2}");
    let r = causality::check(&parse_trace("bad", &bad).unwrap());
    assert_eq!(r.problems[0].kind, "unknown-parent");
    assert_eq!(r.problems[0].line, 7);
}

#[test]
fn conflict_audit_finds_false_orders_and_lost_updates() {
    let text = r#"{"write":"w1","key":"x","vc":{"a":1},"vv":{"s":1}}
{"write":"w2","key":"x","vc":{"b":1},"vv":{"s":2}}
{"write":"w3","key":"y","vc":{"a":2},"vv":{"s":1}}
{"write":"w4","key":"y","vc":{"a":2,"b":2},"vv":{"s":2}}
{"survivors":["w2"],"key":"x"}
{"survivors":["w4"],"key":"y"}"#;
    let input = audit::parse_audit("audit.jsonl", text).unwrap();
    let found = audit::audit(&input);
    let kinds: Vec<(&str, &str)> = found.iter().map(|c| (c.kind, c.key.as_str())).collect();
    assert_eq!(
        kinds,
        vec![("ordered-concurrent", "x"), ("lost-update", "x")]
    );
    assert!(found[1].message.contains("w1"));
}
