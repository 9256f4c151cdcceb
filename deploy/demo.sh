#!/usr/bin/env bash
# elflow's main command on a fresh machine: install everything, start the local stack, migrate,
# then run the demo (feed DataHub documents through Kafka and the Bytewax flow into TimescaleDB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
deploy/stack.sh up
# Point every elflow command and test at this stack (ports may be overridden, see README).
eval "$(deploy/stack.sh env)"
.venv/bin/elflow db migrate
exec .venv/bin/elflow demo "$@"
