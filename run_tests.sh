#!/usr/bin/env bash
# The whole test suite: unit, functional, integration (PostgreSQL, RabbitMQ) and
# end-to-end (the real openstack CLI through Cascade against two real regions).
# Installs what it needs and starts what is down. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

tools/ensure-services
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]' >/dev/null
devstack/lite/regions up
.venv/bin/ruff check cascade api mapping sync tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest -q --durations=25 "$@"
