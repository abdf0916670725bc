//! The two-phase-commit bug catalog: named switches, off by default, each a mistake that
//! real transaction managers have shipped. A scenario or `--bug twopc:NAME` turns them on.

crate::bug_catalog! {
    NoDurableDecision = "no-durable-decision":
        "the coordinator sends its commit decision without logging it, so after a crash it presumes abort for a transaction it committed",
    NoDurablePrepare = "no-durable-prepare":
        "a participant votes yes without logging the prepare, so after a crash it forgets the transaction and its writes",
    UnilateralAbortAfterYes = "unilateral-abort-after-yes":
        "a participant that voted yes aborts on its own when the decision is slow to come",
    ReleaseLocksBeforeDecision = "release-locks-before-decision":
        "a participant releases its locks as soon as it votes yes, before the decision",
    PresumeCommitOnTimeout = "presume-commit-on-timeout":
        "an in-doubt participant that hears nothing from the coordinator for a while commits on its own",
    KeepAbortedLocks = "keep-aborted-locks":
        "a participant releases its locks only for committed transactions: an aborted transaction's keys stay locked, so every later transaction on them is refused",
    RefuseTornTail = "refuse-torn-tail":
        "recovery takes a torn tail no sync marker vouches for (a crash in mid-append) for damage and refuses to start, so an ordinary crash takes the node out for good",
    NoInDoubtQuery = "no-in-doubt-query":
        "an in-doubt participant waits for the coordinator to resend the decision and never asks; a coordinator that crashed forgets its unlogged aborts, so the participant stays in doubt, holding its locks, for good",
    NoRecordChecksum = "no-record-checksum":
        "recovery trusts any log record that decodes, without checking its checksum, so a flipped bit in a vote, a staged write or a decision is replayed as the truth",
}
