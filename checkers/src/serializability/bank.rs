//! The bank workload: transfers move money between accounts (`["add", account, delta]`
//! micro-ops, a negative and a positive delta) and audits read every account
//! (`["r", account, balance]`). Money is neither made nor lost, so every committed audit of
//! the same accounts must see the same total (Jepsen's bank checker). The total each audit
//! is judged against is the one most audits of those accounts saw (the first such, on a
//! tie), so one bad audit is reported as one anomaly. It deliberately does not build a
//! dependency graph for transfers (their reads are not recorded) nor check that balances stay
//! non-negative (systems differ on overdrafts).

use super::{label, Anomaly, Status, Txn};
use crate::value::Value;
use std::collections::BTreeMap;

/// A committed audit: the accounts it read and the total it saw.
struct Audit<'a> {
    txn: &'a Txn,
    keys: Vec<&'a Value>,
    total: i64,
}

pub(super) fn infer(txns: &[Txn]) -> Vec<Anomaly> {
    let mut groups: BTreeMap<Vec<&Value>, Vec<Audit<'_>>> = BTreeMap::new();
    for t in txns.iter().filter(|t| t.status == Status::Committed) {
        let mut keys = Vec::new();
        let mut total = 0i64;
        let mut audit = !t.mops.is_empty();
        for m in &t.mops {
            match m {
                super::Mop::Read {
                    key,
                    value: Some(Value::Int(b)),
                } => {
                    keys.push(key);
                    total = total.saturating_add(*b);
                }
                _ => audit = false,
            }
        }
        if audit {
            keys.sort();
            groups.entry(keys.clone()).or_default().push(Audit {
                txn: t,
                keys,
                total,
            });
        }
    }
    let mut out = Vec::new();
    for audits in groups.values() {
        let mut counts: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
        for (i, a) in audits.iter().enumerate() {
            let e = counts.entry(a.total).or_insert((0, i));
            e.0 += 1;
        }
        let (&expected, &(_, first)) = counts
            .iter()
            .max_by_key(|(_, &(n, first))| (n, std::cmp::Reverse(first)))
            .expect("a group has an audit");
        let reference = &audits[first];
        for a in audits.iter().filter(|a| a.total != expected) {
            out.push(Anomaly {
                kind: "wrong-total".into(),
                txns: vec![label(a.txn), label(reference.txn)],
                lines: vec![a.txn.line, reference.txn.line],
                explanation: vec![format!(
                    "T{} read {} accounts totalling {}, but T{} (and most audits of them) saw {expected}: money was made or lost",
                    a.txn.id,
                    a.keys.len(),
                    a.total,
                    reference.txn.id
                )],
            });
        }
    }
    out
}
