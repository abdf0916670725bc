#!/usr/bin/env bash
# How often the crashes of a scenario land in a vulnerable window: for each scenario, over
# seeds 0..N, the crashes, those that found unsynced data on the crashed disk, and of
# those how many lost or tore some of it (and how many landed during an fsync).
#
#   scripts/crash-windows.sh 20 raft/disk-torn raft/crash-disk-ops twopc/disk-torn
#
# Reads `system_stats.disk_crashes` from `dst run --json` (needs jq); build first with
# `cargo build --release`.
set -euo pipefail
seeds=${1:?usage: crash-windows.sh SEEDS SCENARIO...}
shift
dst=${DST:-target/release/dst}
printf '%-34s %8s %9s %8s %8s\n' scenario crashes unsynced damaged in_sync
for name in "$@"; do
    totals=$(for ((s = 0; s < seeds; s++)); do
        "$dst" run "$name" --seed "$s" --json 2>/dev/null |
            jq -c '.system_stats.disk_crashes // {crashes:0,unsynced:0,damaged:0,in_sync:0}' || true
    done | jq -s '[map(.crashes), map(.unsynced), map(.damaged), map(.in_sync)] | map(add) | @tsv' -r)
    read -r c u d i <<<"$totals"
    printf '%-34s %8s %9s %8s %8s\n' "$name" "$c" "$u" "$d" "$i"
done
