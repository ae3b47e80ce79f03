#!/usr/bin/env bash
# Queue the ablation grid (docs/ablations.md) on the DuIE 2.0 subset: the full system, then one
# experiment per component switched off, all with the same data.source overrides.
#
#   scripts/ablation_grid.sh [--dry-run] [-S key=value ...]
#
# Extra -S options go to every experiment (e.g. -S cv.epochs=8 -S 'cv.folds=[0,1,2,3]' for a
# cheaper grid). Environment: DUIE_DIR (default ../shared/data/duie2, made absolute because queued
# experiments run in a temporary copy of the repository), ABLATION_PREFIX (default abl-: experiment
# names), ONLY (space-separated grid names to queue, default all), DVC (default: the venv's dvc).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
if [[ "${1:-}" == "--dry-run" ]]; then dry_run=1; shift; fi
extra=("$@")
prefix="${ABLATION_PREFIX:-abl-}"
if [[ -n "${DVC:-}" ]]; then read -r -a dvc <<< "$DVC"
elif [[ -x .venv/bin/dvc ]]; then dvc=(.venv/bin/dvc)
else dvc=(dvc); fi
duie_dir="${DUIE_DIR:-../shared/data/duie2}"
if [[ ! -d "$duie_dir" ]]; then
  echo "DuIE 2.0 folder $duie_dir not found (set DUIE_DIR)" >&2
  exit 1
fi
duie_dir="$(cd "$duie_dir" && pwd)"
data=(-S data.format=duie2 -S "data.source.dir=$duie_dir" -S data.source.schema=duie_schema.json
      -S data.source.train=duie_train.json -S 'data.source.dev=""' -S data.source.test=duie_test1.json)

# name | overrides (each one -S argument, separated by spaces; values without spaces)
grid=(
  "full|"
  "no-word-vectors|model.use_word_vectors=false"
  "no-prior|cv.families=[plain]"
  "no-ema|train.ema=false"
  "no-augment|train.augment=false"
  "dgcnn-6-layers|model.dilations=[1,2,5,1,2,5]"
  "concat-subject|model.subject_encoder=concat"
  "no-attention|model.use_attention=false"
  "no-gates|model.use_gates=false"
  "thresholds-0.5-0.5|decode.end_threshold=0.5"
  "no-cleaning|clean.enabled=false"
  "single-model|ensemble.mode=single"
  "family-average|ensemble.mode=average"
  "bilstm-baseline|model.arch=bilstm"
)

queued=0 failed=()
for entry in "${grid[@]}"; do
  name="${entry%%|*}"
  if [[ -n "${ONLY:-}" && " $ONLY " != *" $name "* ]]; then continue; fi
  read -r -a overrides <<< "${entry#*|}"
  sets=() clash=""
  for kv in "${overrides[@]}"; do
    sets+=(-S "$kv")
    for arg in "${extra[@]}"; do [[ "$arg" == "${kv%%=*}="* ]] && clash="$arg"; done
  done
  if [[ -n "$clash" ]]; then   # the extra -S comes last and would undo this row's switch
    echo "skipping $prefix$name: the extra -S $clash overrides its switch (${entry#*|})" >&2
    continue
  fi
  cmd=("${dvc[@]}" exp run --queue -n "$prefix$name" "${data[@]}" "${sets[@]}" "${extra[@]}")
  if (( dry_run )); then
    printf '%q ' "${cmd[@]}"; echo
  elif "${cmd[@]}"; then
    queued=$((queued + 1))
  else
    failed+=("$prefix$name")
  fi
done

if (( dry_run )); then exit 0; fi
echo "queued $queued experiment(s) (prefix $prefix)."
if (( ${#failed[@]} )); then
  echo "could not queue: ${failed[*]} (name taken? remove with: dvc exp remove <name>, or set ABLATION_PREFIX)" >&2
fi
cat <<EOF
Run them one at a time (each trains every CV model; a GPU helps), each with its own copy of src/:
  PYTHONPATH=src ${dvc[*]} queue start -j 1
  ${dvc[*]} queue status                    # progress; logs: ${dvc[*]} queue logs <name>
Then compare:
  ${dvc[*]} exp show --only-changed
  .venv/bin/python scripts/ablation_table.py --prefix $prefix --baseline ${prefix}full   # -> reports/ablations.md
EOF
if (( ${#failed[@]} )); then exit 1; fi
