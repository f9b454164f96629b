#!/usr/bin/env bash
# A web vulnerability scan of Parlour with wapiti3, anonymous and logged in as staff.
#
#   tools/scan.sh
#       starts a throwaway demo instance (its own data directory, a free port, rate limits
#       raised so attacks reach the code instead of a 429) and scans it
#   SCAN_URL=https://staging.example.com SCAN_EMAIL=... SCAN_PASSWORD=... tools/scan.sh
#       scans a running instance (it WILL submit every form with attack payloads: never production)
#
# wapiti3 comes from PyPI into its own virtual environment ($SCAN_VENV, default
# .scan-venv), never the project's: the newest release for this Python (3.2.x on 3.11, 3.3.x
# on 3.12+). Reports: $SCAN_OUT (default scan-report)/{anonymous,staff}.json, and a
# summary on standard output. $SCAN_MINUTES (default 10) bounds each scan. What the scan
# found and why each remaining finding is a false positive: docs/security.md.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SCAN_VENV:-.scan-venv}
OUT=${SCAN_OUT:-scan-report}
MINUTES=${SCAN_MINUTES:-10}
if [ -x .venv/bin/parlour ]; then PARLOUR=.venv/bin/parlour; PYTHON=.venv/bin/python; else PARLOUR=parlour; PYTHON=python3; fi
if [ ! -x "$VENV/bin/wapiti" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check 'wapiti3>=3.2.3,<3.4'
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

URL=${SCAN_URL:-}
if [ -z "$URL" ]; then
    PORT=$($PYTHON -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    URL="http://127.0.0.1:$PORT"
    PARLOUR_DATA_DIR="$WORK/data" PARLOUR_LOG_LEVEL=warning \
    PARLOUR_BOOKING_RATE_LIMIT="100000/1 minute" PARLOUR_LOGIN_RATE_LIMIT="100000/1 minute" \
    PARLOUR_REVIEW_RATE_LIMIT="100000/1 minute" \
        $PARLOUR serve --demo --port "$PORT" >"$WORK/serve.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 600); do curl -fs -o /dev/null "$URL/readyz" && break; sleep 0.1; done
    curl -fs -o /dev/null "$URL/readyz" || { echo "scan: the demo instance did not start:"; cat "$WORK/serve.log"; exit 1; }
    login=$(sed -n 's/.*Staff login: \(.*\) \/ \(.*\)$/\1 \2/p' "$WORK/serve.log")
    SCAN_EMAIL=${login% *}
    SCAN_PASSWORD=${login#* }
fi
URL=${URL%/}

# A real login, as a browser makes it: the form's CSRF token, then the session cookie.
JAR="$WORK/cookies"
token=$(curl -fs -c "$JAR" -b "$JAR" "$URL/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -fs -o /dev/null -c "$JAR" -b "$JAR" -H "Origin: $URL" -d "csrf_token=$token" \
    --data-urlencode "email=$SCAN_EMAIL" --data-urlencode "password=$SCAN_PASSWORD" "$URL/login"
session=$(awk '$6 ~ /parlour_session$/ {print $6 "=" $7}' "$JAR")
[ -n "$session" ] || { echo "scan: the login as $SCAN_EMAIL did not give a session"; exit 1; }

scan() {  # NAME [wapiti options]
    local name=$1; shift
    echo "--- wapiti, $name: $URL (at most $MINUTES minutes)"
    "$VENV/bin/wapiti" -u "$URL/" --scope folder --flush-session --no-bugreport \
        --max-scan-time $((MINUTES * 60)) --max-attack-time 60 \
        -f json -o "$OUT/$name.json" "$@" >"$OUT/$name.log" 2>&1 || true
    [ -s "$OUT/$name.json" ] || { echo "scan: wapiti wrote no report; see $OUT/$name.log"; exit 1; }
}
scan anonymous
# Logged in: everything staff can reach, except what would end this very session or account.
scan staff -C "$session" -s "$URL/admin" \
    -x "$URL/logout" -x "$URL/admin/account/*" -x "$URL/admin/users/role" -x "$URL/admin/users/end-sessions"

$PYTHON - "$OUT" <<'PY'
import json, sys
from pathlib import Path

for name in ("anonymous", "staff"):
    report = json.loads((Path(sys.argv[1]) / f"{name}.json").read_text())
    found = [
        (kind, category, finding)
        for kind, section in (("vulnerability", "vulnerabilities"), ("anomaly", "anomalies"),
                              ("additional", "additionals"))
        for category, findings in sorted(report.get(section, {}).items())
        for finding in findings
    ]
    print(f"\n{name}: {report['infos'].get('crawled_pages_nbr', 0)} pages crawled, {len(found)} findings")
    for kind, category, finding in found:
        where = f"{finding.get('method', '')} {finding.get('path', '')}".strip()
        print(f"  {kind}: {category}: {where}: {finding.get('info', '')[:160]}")
PY
