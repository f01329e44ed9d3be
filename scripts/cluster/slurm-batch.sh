#!/usr/bin/env bash
# A Slurm job array: one camscope batch shard per array task, then a merge job that runs when
# every task has ended. Submit with
#
#   jid=$(sbatch --parsable --export=ALL,IMAGES=/data/val,OUT=/scratch/cams scripts/cluster/slurm-batch.sh)
#   sbatch --dependency=afterok:$jid --export=ALL,OUT=/scratch/cams --wrap \
#       'camscope merge "$OUT" --out "$OUT" || [ $? -eq 3 ]'
#
# A task that is preempted or requeued (--requeue) resumes its shard: photos whose PNG and
# record are in place are skipped. Resubmitting the array after a failure does the same.
#SBATCH --job-name=camscope
#SBATCH --array=0-15
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --output=camscope-%A_%a.log
set -euo pipefail
export RAYON_NUM_THREADS=${SLURM_CPUS_PER_TASK:-4}
# Exit code 3: some photos failed (each is a record in the log); the shard itself finished.
camscope batch --model "${MODEL:-/data/model.safetensors}" --images "$IMAGES" --out "$OUT" \
    --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" --resume || [ $? -eq 3 ]
