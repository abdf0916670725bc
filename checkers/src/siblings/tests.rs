//! Small hand-written histories, each breaking exactly one property (or none).

use super::*;
use serde_json::{json, Value as J};

/// A history built event by event; times follow the order of the calls.
#[derive(Default)]
struct H(Vec<String>);

impl H {
    fn ev(mut self, p: i64, ty: &str, f: &str, v: J, extra: J) -> Self {
        let mut o = json!({"process": p, "type": ty, "f": f, "key": "k", "value": v,
            "time": self.0.len() as u64 * 10});
        if let (Some(o), J::Object(e)) = (o.as_object_mut(), extra) {
            o.extend(e);
        }
        self.0.push(o.to_string());
        self
    }
    fn put(self, p: i64, v: i64, sup: J) -> Self {
        self.ev(p, "invoke", "put", json!(v), json!({})).ev(
            p,
            "ok",
            "put",
            json!(v),
            sup_field(sup),
        )
    }
    fn del(self, p: i64, sup: J) -> Self {
        self.ev(p, "invoke", "delete", J::Null, json!({})).ev(
            p,
            "ok",
            "delete",
            J::Null,
            sup_field(sup),
        )
    }
    fn read(self, p: i64, seen: J, fin: bool) -> Self {
        self.ev(p, "invoke", "read", J::Null, json!({"final": fin}))
            .ev(p, "ok", "read", seen, json!({}))
    }
    fn text(&self) -> String {
        self.0.join("\n") + "\n"
    }
}

fn sup_field(sup: J) -> J {
    if sup.is_null() {
        json!({})
    } else {
        json!({ "supersedes": sup })
    }
}

fn run(h: &H, guarantee: Guarantee) -> Report {
    let opts = Options {
        guarantee,
        final_from: None,
    };
    check_str("h", &h.text(), &opts).unwrap()
}

fn kinds(r: &Report) -> Vec<&'static str> {
    let k: BTreeSet<&'static str> = r.violations.iter().map(|v| v.kind).collect();
    k.into_iter().collect()
}

#[test]
fn a_correct_sibling_history_holds() {
    let h = H::default()
        // Two concurrent puts become siblings; a read sees both.
        .ev(1, "invoke", "put", json!(1), json!({}))
        .ev(2, "invoke", "put", json!(2), json!({}))
        .ev(1, "ok", "put", json!(1), json!({"supersedes": []}))
        .ev(2, "ok", "put", json!(2), json!({"supersedes": []}))
        .read(1, json!([1, 2]), false)
        // A put that saw both replaces them; a stale replica still shows the old ones.
        .put(2, 3, json!([1, 2]))
        .read(1, json!([1]), false)
        // A read concurrent with a put may see it.
        .ev(1, "invoke", "put", json!(4), json!({}))
        .read(2, json!([3, 4]), false)
        .ev(1, "ok", "put", json!(4), json!({"supersedes": []}))
        .del(2, json!([3, 4]))
        .read(1, json!([]), true)
        .read(2, J::Null, true);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(r.verdict, "valid", "{:?}", r.violations);
    assert_eq!(r.judged_reads, 2);
    assert_eq!(r.acked_writes, 5);
    // Under quorum the stale read of [1] after 3 was acknowledged is a resurrection, and
    // 2 and 3 are lost to it.
    let r = run(&h, Guarantee::Quorum);
    assert_eq!(
        kinds(&r),
        ["lost-write", "resurrection"],
        "{:?}",
        r.violations
    );
}

#[test]
fn phantoms_are_values_nobody_wrote_to_the_key_before_the_read_returned() {
    let other = |h: H| {
        h.ev(3, "invoke", "put", json!(7), json!({"key": "other"}))
            .ev(3, "ok", "put", json!(7), json!({"key": "other"}))
    };
    let failed = |h: H| {
        h.ev(3, "invoke", "put", json!(8), json!({}))
            .ev(3, "fail", "put", json!(8), json!({}))
    };
    for (h, why) in [
        (
            H::default()
                .put(1, 1, json!([]))
                .read(2, json!([1, 9]), false),
            "never written",
        ),
        (
            other(H::default()).read(2, json!([7]), false),
            "written only to other",
        ),
        (failed(H::default()).read(2, json!([8]), false), "failed"),
        (
            H::default().read(2, json!([5]), false).put(1, 5, json!([])),
            "invoked later",
        ),
        (H::default().put(1, 1, json!([6])), "never written"),
    ] {
        let r = run(&h, Guarantee::Quorum);
        assert_eq!(kinds(&r), ["phantom"], "{}", h.text());
        assert!(r.violations[0].message.contains(why), "{:?}", r.violations);
    }
}

#[test]
fn a_read_never_returns_a_value_with_one_that_superseded_it() {
    let h = H::default()
        .put(1, 1, json!([]))
        .put(1, 2, json!([1]))
        .put(2, 3, json!([2]))
        .read(2, json!([1, 3]), false);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(kinds(&r), ["dominated-sibling"], "{:?}", r.violations);
    assert_eq!(r.violations[0].lines, vec![7, 1, 5]);
    // Without the middle link the two may be concurrent.
    let h = H::default()
        .put(1, 1, json!([]))
        .put(1, 2, json!([]))
        .put(2, 3, json!([2]))
        .read(2, json!([1, 3]), false);
    assert!(run(&h, Guarantee::Eventual).is_valid());
}

#[test]
fn a_value_an_acknowledged_write_superseded_stays_gone_after_quiescence() {
    let h = H::default()
        .put(1, 1, json!([]))
        .del(2, json!([1]))
        .read(1, json!([1]), false)
        .read(1, json!([1]), true);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(kinds(&r), ["resurrection"], "{:?}", r.violations);
    assert_eq!(r.violations_total, 1);
    // A delete that does not say what it superseded may have been concurrent with the put
    // (a blind write at a replica that had not seen it): a correct store keeps both.
    let h = H::default()
        .put(1, 1, json!([]))
        .del(2, J::Null)
        .read(1, json!([1]), true);
    assert!(run(&h, Guarantee::Eventual).is_valid());
    // Seen by an earlier final read, even unacknowledged, a successor holds too.
    let h = H::default()
        .put(1, 1, json!([]))
        .ev(2, "invoke", "put", json!(2), json!({"supersedes": [1]}))
        .ev(2, "info", "put", json!(2), json!({}))
        .read(1, json!([2]), true)
        .read(1, json!([1]), true);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(kinds(&r), ["resurrection"], "{:?}", r.violations);
}

#[test]
fn an_acknowledged_put_is_visible_after_quiescence_unless_something_superseded_it() {
    let lost = H::default().put(1, 1, json!([])).read(2, json!([]), true);
    let r = run(&lost, Guarantee::Eventual);
    assert_eq!(kinds(&r), ["lost-write"], "{:?}", r.violations);
    // An unacknowledged put that may have superseded it must itself be accounted for...
    let h = H::default()
        .put(1, 1, json!([]))
        .ev(2, "invoke", "put", json!(2), json!({}))
        .ev(2, "info", "put", json!(2), json!({}))
        .read(2, json!([]), true);
    assert_eq!(kinds(&run(&h, Guarantee::Eventual)), ["lost-write"]);
    // ... which a later delete (blind, indeterminate) does, through the chain.
    let h = H::default()
        .put(1, 1, json!([]))
        .ev(2, "invoke", "put", json!(2), json!({}))
        .ev(2, "info", "put", json!(2), json!({}))
        .ev(2, "invoke", "delete", J::Null, json!({}))
        .ev(2, "info", "delete", J::Null, json!({}))
        .read(1, json!([]), true);
    assert!(run(&h, Guarantee::Eventual).is_valid());
    // A delete that says it superseded something else does not account for it.
    let h = H::default()
        .put(1, 1, json!([]))
        .put(2, 2, json!([]))
        .del(2, json!([2]))
        .read(1, json!([]), true);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(kinds(&r), ["lost-write"], "{:?}", r.violations);
    assert!(
        r.violations[0].message.contains("put of 1"),
        "{:?}",
        r.violations
    );
    // A put whose value the read shows, and that superseded it, does.
    let h = H::default()
        .put(1, 1, json!([]))
        .put(2, 2, json!([1]))
        .read(1, json!([2]), true);
    assert!(run(&h, Guarantee::Eventual).is_valid());
}

#[test]
fn the_guarantee_decides_which_reads_are_judged() {
    let h = H::default().put(1, 1, json!([])).read(2, json!([]), false);
    let r = run(&h, Guarantee::Eventual);
    assert!(r.is_valid());
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("no read after quiescence")),
        "{:?}",
        r.notes
    );
    assert_eq!(kinds(&run(&h, Guarantee::Quorum)), ["lost-write"]);
    // A read that began before the ack is not judged against it, even under quorum.
    let h = H::default()
        .ev(1, "invoke", "put", json!(1), json!({}))
        .ev(2, "invoke", "read", J::Null, json!({}))
        .ev(1, "ok", "put", json!(1), json!({"supersedes": []}))
        .ev(2, "ok", "read", json!([]), json!({}));
    assert!(run(&h, Guarantee::Quorum).is_valid());
    // --final-from marks reads by time.
    let h = H::default().put(1, 1, json!([])).read(2, json!([]), false);
    let opts = |t| Options {
        guarantee: Guarantee::Eventual,
        final_from: Some(t),
    };
    assert!(!check_str("h", &h.text(), &opts(20)).unwrap().is_valid());
    assert!(check_str("h", &h.text(), &opts(1000)).unwrap().is_valid());
    let untimed = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}";
    assert!(check_str("h", untimed, &opts(0)).is_err());
}

#[test]
fn an_empty_history_is_valid_with_a_note() {
    let r = check_str("h", "\n\n", &Options::default()).unwrap();
    assert!(r.is_valid());
    assert_eq!(r.ops, 0);
    assert!(r.notes[0].contains("empty"), "{:?}", r.notes);
}

#[test]
fn the_same_violation_seen_by_several_reads_is_listed_once() {
    let h = H::default()
        .put(1, 1, json!([]))
        .read(2, json!([]), true)
        .read(2, json!([]), true)
        .read(1, json!([]), true);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(r.violations_total, 1);
    assert_eq!(r.violations[0].repeats, 2);
}

fn sample() -> String {
    H::default()
        .put(1, 1, json!([]))
        .ev(2, "invoke", "put", json!(2), json!({}))
        .read(1, json!([1, 2]), false)
        .ev(2, "info", "put", json!(2), json!({"supersedes": []}))
        .del(1, json!([1, 2]))
        .read(2, json!([]), true)
        .text()
}

#[test]
fn phantoms_of_one_read_are_listed_each() {
    let h = H::default().read(1, json!([7, 8]), false);
    let r = run(&h, Guarantee::Eventual);
    assert_eq!(r.violations_total, 2, "{:?}", r.violations);
}

proptest::proptest! {
    /// A history cut anywhere is either read as the lines before the cut (a cut at a line
    /// end) or refused naming the cut line: never read as something else, never a panic.
    #[test]
    fn a_cut_history_is_refused_at_the_cut_line_or_read_as_its_whole_lines(at in 0usize..2000) {
        let text = sample();
        let at = at.min(text.len());
        let cut = &text[..at];
        let whole_lines = cut.lines().count();
        match check_str("h", cut, &Options::default()) {
            Ok(r) => {
                // Only whole lines were read: every one of them is a complete object.
                let full: Vec<&str> = text.lines().collect();
                for (i, l) in cut.lines().enumerate() {
                    proptest::prop_assert_eq!(l, full[i]);
                }
                proptest::prop_assert!(r.ops <= 6);
            }
            Err(e) => {
                proptest::prop_assert_eq!(e.line, whole_lines, "{}", e);
                proptest::prop_assert!(!e.message.contains('\n'));
            }
        }
    }

    /// Dropping any one line gives a verdict or a one-line error, never a panic.
    #[test]
    fn a_history_missing_a_line_is_judged_or_refused_in_one_line(drop in 0usize..12) {
        let text: String = sample()
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        match check_str("h", &text, &Options::default()) {
            Ok(r) => proptest::prop_assert!(r.verdict == "valid" || r.verdict == "invalid"),
            Err(e) => proptest::prop_assert!(e.line >= 1 && !e.to_string().contains('\n')),
        }
    }
}
