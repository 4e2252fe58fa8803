#!/bin/bash
# Dataset mode as a Slurm job array: one task per shard, then one merge job that waits for all.
#
#   sbatch --array=0-15 deploy/slurm_array.sh /data/clips /scratch/run1 /models/model.onnx
#   # when the array is done (or chained with --dependency=afterok:<array job id>):
#   deno task merge /scratch/run1/shard_*/ --save_dir /scratch/run1/merged
#
# A task that was preempted or failed is rerun with the same index and continues where it
# stopped (--resume). Extra inspect flags go in INSPECT_FLAGS, e.g. "--size 224 --batch_size 16".
#SBATCH --job-name=feature-inspector
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=%x_%A_%a.log
set -euo pipefail
DSET=${1:?clips folder}
OUT=${2:?output folder}
MODEL=${3:?model.onnx}
N=${SLURM_ARRAY_TASK_COUNT:?run with sbatch --array=0-(N-1)}
I=${SLURM_ARRAY_TASK_ID:?run with sbatch --array}
cd "${FEATURE_INSPECTOR_HOME:-$(dirname "$0")/..}"
RESUME=()
[ -f "$OUT/shard_$I/dataset_state.json" ] && RESUME=(--resume)
# shellcheck disable=SC2086
deno task inspect --checkpoint "$MODEL" --dset "$DSET" --all_clips --shard "$I/$N" \
  --save_dir "$OUT/shard_$I" "${RESUME[@]}" ${INSPECT_FLAGS:-}
