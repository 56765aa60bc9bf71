#!/usr/bin/env bash
# Set up, then solve viscous Burgers end to end (Adam then L-BFGS, float64) into runs/burgers1d*.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/pinnlab solve configs/burgers1d.yaml "$@"
