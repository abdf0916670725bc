//! Linearizability checker: verdicts, witnesses, time limits and models on small histories.

use checkers::history::{pair, parse_str};
use checkers::linearizability::{check, check_with, ModelKind, Options, Verdict};
use checkers::Value;
use std::time::Duration;

fn verdict(text: &str, model: ModelKind, init: Option<Value>) -> Verdict {
    let h = parse_str("t", text, None).unwrap();
    check_with(model, init, &pair(&h).unwrap(), &Options::default())
        .unwrap()
        .verdict
}

const STALE: &str = "{:process 0 :type :invoke :f :write :value 1}
{:process 0 :type :ok :f :write :value 1}
{:process 1 :type :invoke :f :write :value 2}
{:process 1 :type :ok :f :write :value 2}
{:process 0 :type :invoke :f :read :value nil}
{:process 0 :type :ok :f :read :value 1}";

#[test]
fn stale_read_has_a_readable_witness() {
    let Verdict::NotLinearizable { witness } = verdict(STALE, ModelKind::Register, None) else {
        panic!("stale read not caught");
    };
    assert_eq!(witness.prefix.len(), 2);
    assert_eq!(witness.state, "2");
    assert!(
        witness.must_precede.contains("read -> 1"),
        "{}",
        witness.must_precede
    );
    assert_eq!(witness.could_not_place.len(), 1);
    assert!(witness.could_not_place[0]
        .reason
        .contains("not legal in state 2"));
    assert!(witness.render(5).contains("could not be placed next"));
}

#[test]
fn concurrent_read_of_either_value_is_fine() {
    let text = "{:process 0 :type :invoke :f :write :value 1}
{:process 1 :type :invoke :f :read :value nil}
{:process 1 :type :ok :f :read :value 1}
{:process 1 :type :invoke :f :read :value nil}
{:process 1 :type :ok :f :read :value nil}
{:process 0 :type :ok :f :write :value 1}";
    // Reading 1 then nil while the write is pending is not linearizable...
    assert!(matches!(
        verdict(text, ModelKind::Register, None),
        Verdict::NotLinearizable { .. }
    ));
    // ...but nil then 1 is.
    let text2 = "{:process 0 :type :invoke :f :write :value 1}
{:process 1 :type :invoke :f :read :value nil}
{:process 1 :type :ok :f :read :value nil}
{:process 1 :type :invoke :f :read :value nil}
{:process 1 :type :ok :f :read :value 1}
{:process 0 :type :ok :f :write :value 1}";
    assert_eq!(
        verdict(text2, ModelKind::Register, None),
        Verdict::Linearizable
    );
}

#[test]
fn init_value_matters() {
    let text = "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value 0}";
    assert!(matches!(
        verdict(text, ModelKind::Register, None),
        Verdict::NotLinearizable { .. }
    ));
    assert_eq!(
        verdict(text, ModelKind::Register, Some(Value::Int(0))),
        Verdict::Linearizable
    );
}

#[test]
fn indeterminate_write_may_happen_late_or_never() {
    let late = "{:process 0 :type :invoke :f :write :value 1}
{:process 0 :type :info :f :write :value 1}
{:process 1 :type :invoke :f :read}
{:process 1 :type :ok :f :read :value nil}
{:process 1 :type :invoke :f :read}
{:process 1 :type :ok :f :read :value 1}";
    assert_eq!(
        verdict(late, ModelKind::CasRegister, None),
        Verdict::Linearizable
    );
    // A failed write certainly did not happen.
    let failed = late.replace(":info", ":fail");
    assert!(matches!(
        verdict(&failed, ModelKind::CasRegister, None),
        Verdict::NotLinearizable { .. }
    ));
}

#[test]
fn cas_register_and_register_differ_on_cas() {
    let text = "{:process 0 :type :invoke :f :cas :value [nil 3]}\n{:process 0 :type :ok :f :cas :value [nil 3]}\n{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value 3}";
    assert_eq!(
        verdict(text, ModelKind::CasRegister, None),
        Verdict::Linearizable
    );
    let h = parse_str("t", text, None).unwrap();
    let e = check_with(
        ModelKind::Register,
        None,
        &pair(&h).unwrap(),
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("cas-register"));
}

#[test]
fn kv_partitions_per_key_and_accepts_independent_tuples() {
    let text = "{:process 0 :type :invoke :f :write :value [:a 1]}
{:process 0 :type :ok :f :write :value [:a 1]}
{:process 0 :type :invoke :f :read :value [:b nil]}
{:process 0 :type :ok :f :read :value [:b nil]}
{:process 0 :type :invoke :f :read :value [:a nil]}
{:process 0 :type :ok :f :read :value [:a 2]}";
    let h = parse_str("t", text, None).unwrap();
    let r = check_with(ModelKind::Kv, None, &pair(&h).unwrap(), &Options::default()).unwrap();
    assert_eq!(r.partitions, 2);
    let Verdict::NotLinearizable { witness } = r.verdict else {
        panic!("bad read of :a not caught")
    };
    assert_eq!(witness.partition.as_deref(), Some(":a"));
}

#[test]
fn set_and_queue_models() {
    let set_ok = "{:process 0 :type :invoke :f :add :value 1}\n{:process 0 :type :ok :f :add :value 1}\n{:process 1 :type :invoke :f :read}\n{:process 1 :type :ok :f :read :value #{1}}";
    assert_eq!(verdict(set_ok, ModelKind::Set, None), Verdict::Linearizable);
    assert!(matches!(
        verdict(&set_ok.replace("#{1}", "#{}"), ModelKind::Set, None),
        Verdict::NotLinearizable { .. }
    ));
    let q = "{:process 0 :type :invoke :f :enqueue :value 1}\n{:process 0 :type :ok :f :enqueue :value 1}\n{:process 0 :type :invoke :f :enqueue :value 2}\n{:process 0 :type :ok :f :enqueue :value 2}\n{:process 1 :type :invoke :f :dequeue}\n{:process 1 :type :ok :f :dequeue :value 1}";
    assert_eq!(verdict(q, ModelKind::Queue, None), Verdict::Linearizable);
    assert!(matches!(
        verdict(
            &q.replace(":dequeue :value 1", ":dequeue :value 2"),
            ModelKind::Queue,
            None
        ),
        Verdict::NotLinearizable { .. }
    ));
}

#[test]
fn time_limit_gives_unknown_never_a_guess() {
    // Many concurrent indeterminate writes make the search space large.
    let mut lines = Vec::new();
    for p in 0..40 {
        lines.push(format!(
            "{{:process {p} :type :invoke :f :write :value {p}}}"
        ));
    }
    for p in 0..40 {
        lines.push(format!("{{:process {} :type :invoke :f :read}}", 100 + p));
        lines.push(format!(
            "{{:process {} :type :ok :f :read :value {}}}",
            100 + p,
            (p * 7) % 40
        ));
    }
    let h = parse_str("t", &lines.join("\n"), None).unwrap();
    let opts = Options {
        timeout: Some(Duration::ZERO),
        ..Options::default()
    };
    let r = check_with(ModelKind::Register, None, &pair(&h).unwrap(), &opts).unwrap();
    let Verdict::Unknown { progress } = r.verdict else {
        panic!("expected unknown, got {:?}", r.verdict.name())
    };
    assert_eq!(progress.partitions, 1);
    assert_eq!(progress.reason, "time limit");
    let opts = Options {
        max_cache_bytes: 10_000,
        ..Options::default()
    };
    let r = check_with(ModelKind::Register, None, &pair(&h).unwrap(), &opts).unwrap();
    let Verdict::Unknown { progress } = r.verdict else {
        panic!("expected unknown, got {:?}", r.verdict.name())
    };
    assert_eq!(progress.reason, "memory limit");
    assert_eq!(progress.partition_ops, 80);
}

/// A user-defined model through the public trait: a counter that only increments.
#[test]
fn user_models_plug_in() {
    use checkers::history::Operation;
    use checkers::linearizability::Model;
    struct Counter;
    impl Model for Counter {
        type Op = Option<i64>; // None: increment; Some(v): read v
        type State = i64;
        fn init(&self) -> i64 {
            0
        }
        fn prepare(&self, op: &Operation) -> Result<Option<i64>, String> {
            match op.f.as_str() {
                "inc" => Ok(None),
                "read" => Ok(op.output.as_ref().and_then(Value::as_int)),
                f => Err(format!("expected inc or read, found {f}")),
            }
        }
        fn step(&self, s: &i64, op: &Option<i64>) -> Option<i64> {
            match op {
                None => Some(s + 1),
                Some(v) => (v == s).then_some(*s),
            }
        }
    }
    let text = "{:process 0 :type :invoke :f :inc}\n{:process 0 :type :ok :f :inc}\n{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value 2}";
    let h = parse_str("t", text, None).unwrap();
    let r = check(&Counter, &pair(&h).unwrap(), &Options::default()).unwrap();
    assert!(matches!(r.verdict, Verdict::NotLinearizable { .. }));
}

/// The issue-14 case: key "0" cannot be decided, five other keys hold violations. Checked
/// key by key in key order this gave up as unknown on key "0" (after gigabytes); scheduled
/// in rounds, a violation of another key is the verdict.
#[test]
fn a_hard_key_does_not_hide_violations_in_others() {
    use checkers::generate::{hard_key_history, HardKeySpec};
    let text = hard_key_history(&HardKeySpec {
        ops: 1500,
        clients: 50,
        keys: 10,
        hard_puts: 40,
        violations: 5,
        seed: 3,
    });
    let h = parse_str("hard.jsonl", &text, None).unwrap();
    let ops = pair(&h).unwrap();
    let mut witnesses = Vec::new();
    for threads in [1, 4] {
        let opts = Options {
            timeout: Some(Duration::from_secs(60)),
            max_cache_bytes: 256 << 20,
            threads,
        };
        let r = check_with(ModelKind::Kv, None, &ops, &opts).unwrap();
        let Verdict::NotLinearizable { witness } = r.verdict else {
            panic!("expected a violation, got {:?}", r.verdict)
        };
        witnesses.push(witness);
    }
    // The first violating key in key order, whatever the threads.
    assert_eq!(witnesses[0].partition.as_deref(), Some("\"1\""));
    assert_eq!(witnesses[0], witnesses[1]);
}

/// Without violations elsewhere, the hard key stays undecided and the report says which
/// partition and why; every other partition is decided.
#[test]
fn unknown_names_the_undecided_partitions() {
    use checkers::generate::{hard_key_history, HardKeySpec};
    let text = hard_key_history(&HardKeySpec {
        ops: 600,
        clients: 10,
        keys: 4,
        hard_puts: 30,
        violations: 0,
        seed: 1,
    });
    let ops = pair(&parse_str("hard.jsonl", &text, None).unwrap()).unwrap();
    let opts = Options {
        timeout: None,
        max_cache_bytes: 8 << 20,
        threads: 2,
    };
    let r = check_with(ModelKind::Kv, None, &ops, &opts).unwrap();
    let Verdict::Unknown { progress } = r.verdict else {
        panic!("expected unknown, got {:?}", r.verdict)
    };
    assert_eq!(progress.partitions, 4);
    assert_eq!(progress.partitions_checked, 3);
    assert_eq!(progress.undecided.len(), 1);
    let u = &progress.undecided[0];
    assert_eq!(u.partition.as_deref(), Some("\"0\""));
    assert_eq!(u.reason, "memory limit");
    assert!(u.cache_bytes <= 8 << 20, "{u:?}");
    assert_eq!(progress.max_cache_bytes, 8 << 20);
}
