//! The gossip bug catalog: named switches, off by default, each a mistake real
//! eventually consistent stores and SWIM implementations have made.

crate::bug_catalog! {
    LwwWallClock = "lww-wall-clock":
        "versions are resolved last-writer-wins by the coordinator's wall clock instead of version vectors: a skewed clock loses causally later writes",
    NoTombstones = "no-tombstones":
        "a delete removes the key outright, leaving no tombstone, so anti-entropy brings the deleted value back",
    NoRefute = "no-refute":
        "a live node that learns it is suspected does not raise its incarnation, so it is declared dead for good",
    MergeDropsSibling = "merge-drops-sibling":
        "anti-entropy merge keeps one of two concurrent versions (the higher write id) instead of both siblings",
    AckBeforeFsync = "ack-before-fsync":
        "replicas and coordinators acknowledge a write once its snapshot is in the page cache and fsync once a second in the background (a periodic commit-log sync): a power loss takes the last second of acknowledged writes",
    CountDuplicateAcks = "count-duplicate-acks":
        "the coordinator counts replication acks without asking which replica sent them, so a duplicated ack stands for a copy that does not exist",
    DeadIsFinal = "dead-is-final":
        "a member declared dead is never taken back, even when it announces a higher incarnation: after a partition heals, both sides keep each other dead",
    SuspectNeverDead = "suspect-never-dead":
        "suspicion has no timeout: a crashed member stays suspect forever and is never declared dead, so failure detection is never complete",
    DeafAfterRestart = "deaf-after-restart":
        "a restarted server rejoins the membership and anti-entropy but never answers a client again (its client handler is set up once, at first boot)",
    NoSnapshotChecksum = "no-snapshot-checksum":
        "a restarted server trusts any snapshot that decodes, without checking its checksum, so a flipped bit becomes data it serves and spreads",
}
