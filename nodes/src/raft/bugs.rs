//! Raft's bug catalog: named switches, off by default, each a mistake real
//! implementations have made. A scenario or `--bug raft:NAME` turns them on.

crate::bug_catalog! {
    CommitPreviousTerm = "commit-previous-term":
        "a leader commits entries of earlier terms by counting replicas, so it appends no no-op at election (Raft paper, Figure 8)",
    NoPersistVote = "no-persist-vote":
        "the vote is not persisted, so a restarted node can vote twice in a term",
    NoFsync = "no-fsync":
        "log and vote are written but never fsynced before replies that depend on them",
    NoTruncateConflict = "no-truncate-conflict":
        "a follower keeps its conflicting entries instead of truncating them",
    VoteWithoutLogCheck = "vote-without-log-check":
        "votes are granted without checking that the candidate's log is up to date",
    StaleRead = "stale-read":
        "any node that believes it is leader serves reads locally, without ReadIndex",
    LeaseWithoutSkewMargin = "lease-without-skew-margin":
        "lease reads trust the local clock with no margin for skew or drift",
    NoDedup = "no-dedup":
        "retried client requests are applied again instead of answered from the session",
    AcceptStaleReply = "accept-stale-reply":
        "replies from an older term are acted on (votes counted, progress updated)",
    ApplyTornTail = "apply-torn-tail":
        "recovery skips checksums and applies a torn or corrupt log tail",
    TimersWallClock = "timers-wall-clock":
        "election timers, heartbeats and the lease read the wall clock (CLOCK_REALTIME) instead of the monotonic clock, so a clock step stretches a lease",
    OptimisticMatchIndex = "optimistic-match-index":
        "the leader counts what it sent a follower as replicated (match index advanced on send, as a pipelining shortcut) and commits before a majority holds the entry",
    ConflictHintPastTerm = "conflict-hint-past-term":
        "a follower that rejects an append hints where its conflicting term ends instead of where it starts, so the leader backs off forward and that follower never catches up",
    DamageAsTornTail = "damage-as-torn-tail":
        "recovery cuts synced entries the disk damaged as if they were a torn unsynced tail, and votes as if it never had them",
}
