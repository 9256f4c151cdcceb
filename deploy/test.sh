#!/usr/bin/env bash
# elflow's test command: installs what is missing, starts the local stack, then runs the linters,
# the type checker and the default test suite against the real TimescaleDB and broker.
# Extra arguments go to pytest (e.g. deploy/test.sh -m slow for the soak/fault tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
deploy/stack.sh up
# Point every elflow command and test at this stack (ports may be overridden, see README).
eval "$(deploy/stack.sh env)"
.venv/bin/elflow db migrate
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
if [ $# -eq 0 ]; then
    set -- -m "not slow"
fi
exec .venv/bin/pytest "$@"
