#!/bin/sh
# Mutation testing of one system under test: cargo-mutants mutates nodes/src/SYSTEM and,
# for each mutant, builds release and runs that system's built-in scenarios and swarm
# family (scenarios/tests/mutants.rs) over DST_SEEDS seeds (default 8). A mutant the runs
# do not catch is a survivor: a behaviour no check sees, or an equivalent change.
#
#   scripts/mutants.sh SYSTEM [cargo-mutants options]
#   scripts/mutants.sh raft --shard 0/20        # one twentieth of the mutants
#   scripts/mutants.sh twopc -f nodes/src/twopc/participant.rs
#
# The whole of one system takes hours on two cores; shard it. Install the tool with
# `cargo install --locked cargo-mutants`. Results go to mutants.out/ (or --output DIR).
set -eu
if [ $# -lt 1 ]; then
    echo "usage: scripts/mutants.sh raft|gossip|twopc [cargo-mutants options]" >&2
    exit 2
fi
system=$1
shift
case $system in
    raft | gossip | twopc) ;;
    *)
        echo "scripts/mutants.sh: unknown system '$system' (raft, gossip or twopc)" >&2
        exit 2
        ;;
esac
cd "$(dirname "$0")/.."
export DST_MUTANTS_SYSTEM="$system"
export DST_SEEDS="${DST_SEEDS:-8}"
exec cargo mutants \
    --file "nodes/src/$system/*.rs" \
    --package nodes \
    --test-package scenarios \
    --profile mutants \
    --baseline skip \
    "$@" \
    -- --test mutants -- --ignored
