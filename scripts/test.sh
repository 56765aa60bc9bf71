#!/usr/bin/env bash
# Set up, then run the lint and the default test suite (slow accuracy tests excluded: add -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check pinnlab tests benchmarks examples
.venv/bin/python -m pytest -q "$@"
