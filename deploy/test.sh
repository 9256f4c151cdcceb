#!/usr/bin/env bash
# elflow's test command: installs what is missing, starts the local stack, then runs the linters,
# the type checker and the default test suite against the real TimescaleDB and broker.
# Extra arguments go to pytest instead (e.g. deploy/test.sh -m slow for the soak/fault tests).
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
if [ $# -gt 0 ]; then
    exec .venv/bin/pytest "$@"
fi
# The default suite: independent tests on ELFLOW_TEST_WORKERS workers (each test has its own
# database and topics), then the few that restart a shared service, alone.
.venv/bin/pytest -n "${ELFLOW_TEST_WORKERS:-3}" -m "not slow and not exclusive"
exec .venv/bin/pytest -m "exclusive and not slow"
