#!/usr/bin/env bash
# A real submission, end to end: installs jux-submit into .venv, starts the Jux-compatible
# server from tests/jux_server on 127.0.0.1 (an API key required, like a team server), submits
# the reports in examples/reports with it, and prints what the server stored.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! [ -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

work=$(mktemp -d)
key="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
.venv/bin/python -m tests.jux_server --port 0 --port-file "$work/port" --api-key "$key" \
    --log "$work/server-log.json" >"$work/server.out" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$work/port")"
echo "== Jux test server listening on $url"

echo "== jux-submit --api-url $url --working-directory examples/reports '**/*.xml'"
status=0
JUX_API_KEY="$key" .venv/bin/jux-submit --api-url "$url" --working-directory examples/reports \
    '**/*.xml' --json "$work/results.json" || status=$?

kill -TERM "$server"
wait "$server" 2>/dev/null || true
echo "== what the server stored"
.venv/bin/python - "$work/server-log.json" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
for run in log["runs"]:
    p, c = run["properties"], run["counts"]
    print(f"  run {run['test_run_id']}: project={p.get('project')} branch={p.get('git:branch')} "
          f"commit={(p.get('git:commit') or '')[:12]} source={p.get('jux:source_file')} "
          f"tests={c['test_count']} failures={c['failure_count']}")
bad = [v for r in log["requests"] for v in r["violations"]]
print(f"  {len(log['runs'])} run(s) stored; contract violations: {len(bad)}")
sys.exit(1 if bad else 0)
PY
exit "$status"
