#!/usr/bin/env bash
# GNU parallel on one machine (or several, with --sshlogin and a shared folder): a camscope
# batch run in N shards, J at a time, then one merge. Running the script again resumes:
# finished shards are skipped photo by photo, a killed one goes on where it stopped.
#
#   scripts/cluster/parallel.sh IMAGES_DIR OUT_DIR [N=8] [J=2] [extra batch flags…]
#
# Exit code 3 (some photos failed, each reported in the log) still counts as a finished shard.
set -euo pipefail
camscope=${CAMSCOPE:-camscope}
if [ "${1:-}" = --one-shard ]; then
    # What parallel runs: one shard.
    i=$2 images=$3 out=$4 n=$5
    shift 5
    "$camscope" batch --images "$images" --out "$out" --shard "$i/$n" --resume "$@" || [ $? -eq 3 ]
    exit
fi
images=$1 out=$2 n=${3:-8} j=${4:-2}
shift $(( $# < 4 ? $# : 4 ))
# J processes share the cores: each gets its share of threads.
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-$(( ( $(nproc) + j - 1 ) / j ))}
export CAMSCOPE=$camscope
seq 0 $((n - 1)) | parallel --quote --jobs "$j" --halt now,fail=1 --tag --line-buffer \
    "$0" --one-shard {} "$images" "$out" "$n" "$@"
"$camscope" merge "$out" --out "$out" || [ $? -eq 3 ]
