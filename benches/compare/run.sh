#!/usr/bin/env bash
# promodb vs DuckDB vs ClickHouse (chDB): GROUP BY and append, see groupby_append.py;
# with `funnel` first, promodb window_funnel vs ClickHouse windowFunnel, see funnel.py;
# with `suite` first, the war-room query suite (suite/*.sql) in all three, see suite.py.
#
#   benches/compare/run.sh [--out FILE] [--append-runs N] ...
#   benches/compare/run.sh funnel [--out FILE]
#   benches/compare/run.sh suite [--only REGEX] [--modes memory,parquet] [--check-only]
#                                [--plan-each-run] [--skip-rss] [--out FILE]
#
# Env: ROWS (orders rows, or user_events rows for funnel, default 10000000), APPEND_ROWS
# (user_events rows, default ROWS), USERS (funnel only, default 500000), SCALE (suite only:
# `promodb gen --scale`, default 10000000),
# PROMODB_BIN (default: built here with `cargo build --release -p promodb-cli`), PYTHON
# (default python3). Creates benches/compare/.venv on first use; works from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

if [ -z "${PROMODB_BIN:-}" ]; then
    repo="$(cd "$here/../.." && pwd)"
    (cd "$repo" && cargo build --release --quiet -p promodb-cli)
    target_dir="$(cd "$repo" && cargo metadata --format-version 1 --no-deps \
        | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    export PROMODB_BIN="$target_dir/release/promodb"
fi

script=groupby_append.py
case "${1:-}" in
    funnel) script=funnel.py; shift ;;
    suite) script=suite.py; shift ;;
esac

export ROWS="${ROWS:-10000000}"
exec "$venv/bin/python" "$here/$script" "$@"
