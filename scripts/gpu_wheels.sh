#!/usr/bin/env bash
# The wheel folder scripts/gpu_check.sh --wheels needs on a machine with Python 3.12, jax and numpy but no
# TensorFlow and no network (docs/gpu.md, "A machine with JAX and no TensorFlow"). Run it where pip can
# reach an index; copy the folder over with the repository.
#
#   scripts/gpu_wheels.sh DIR [PYTHON_VERSION]      # default 3.12; about 11 MB
#
# The versions are those the project's environment installs (keras is pinned in pyproject.toml).
set -euo pipefail
dir=${1:?usage: scripts/gpu_wheels.sh DIR [PYTHON_VERSION]}
py=${2:-3.12}
WHEELS=(keras==3.15.1 absl-py==2.5.1 namex==0.1.0 optree==0.20.0 typing_extensions==4.16.0 packaging==26.4
        rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 Pygments==2.21.0 h5py==3.14.0 PyYAML==6.0.4 tqdm==4.70.1)
mkdir -p "$dir"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$py" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$dir" "${WHEELS[@]}"
ls -l "$dir"; du -sh "$dir"
