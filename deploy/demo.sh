#!/usr/bin/env bash
# Two Parlour instances on one Redis behind nginx (deploy/nginx.conf): a login made through one
# instance holds on the other, and survives either instance going away.
#
#   deploy/demo.sh          (needs redis-server and nginx: sudo apt-get install redis-server nginx-light)
#
# Ports 8001, 8002 (instances), 8080 (nginx) and 6390 (Redis) must be free. Everything lives in a
# temporary directory and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in redis-server nginx curl; do
    command -v "$tool" >/dev/null || { echo "demo: $tool is missing (apt-get install redis-server nginx-light curl)"; exit 1; }
done
if [ -x .venv/bin/parlour ]; then PARLOUR=.venv/bin/parlour; else PARLOUR=parlour; fi

WORK=$(mktemp -d)
declare -A PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

export REDIS_URL=redis://127.0.0.1:6390/0
export PARLOUR_DATA_BACKEND=redis            # bookings and the catalogue in Redis too
export PARLOUR_DATA_DIR="$WORK/data"
export PARLOUR_SECRET_KEY=demo-secret-key-the-same-on-every-instance
export PARLOUR_TRUSTED_PROXIES=127.0.0.1/32   # believe nginx's X-Forwarded-For
export PARLOUR_PUBLIC_ORIGIN=http://127.0.0.1:8080  # links and the Host check: nginx's address
export PARLOUR_LOG_LEVEL=warning

wait_for() {  # URL: until it answers 200, at most 20 s
    for _ in $(seq 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "demo: $1 never answered"; exit 1
}

redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS[redis]=$!
for _ in $(seq 100); do redis-cli -p 6390 ping >/dev/null 2>&1 && break; sleep 0.1; done

$PARLOUR demo >/dev/null
printf 'correct horse battery staple\n' | $PARLOUR create-user --email owner@example.com --role admin --password-stdin >/dev/null

start_instance() {  # NAME PORT
    $PARLOUR serve --port "$2" >"$WORK/$1.log" 2>&1 &
    PIDS[$1]=$!
    wait_for "http://127.0.0.1:$2/readyz"
}
start_instance one 8001
start_instance two 8002

mkdir -p "$WORK/logs" "$WORK/tmp"
nginx -p "$WORK" -c "$PWD/deploy/nginx.conf" -g "daemon off; pid $WORK/nginx.pid;" &
PIDS[nginx]=$!
wait_for http://127.0.0.1:8080/healthz

SITE=http://127.0.0.1:8080
JAR="$WORK/cookies"
echo "Round-robin through nginx, no stickiness:"
for _ in 1 2 3 4; do echo "  /healthz answered by $(curl -fs "$SITE/healthz" | sed 's/.*"instance":"\([^"]*\)".*/\1/')"; done

token=$(curl -fs -c "$JAR" -b "$JAR" "$SITE/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
curl -fs -o /dev/null -c "$JAR" -b "$JAR" -d "csrf_token=$token" -d "next=/admin" \
    --data-urlencode "email=owner@example.com" --data-urlencode "password=correct horse battery staple" "$SITE/login"

signed_in() {  # the staff desk answers 200 to this browser, not a redirect to /login
    curl -s -o /dev/null -w '%{http_code}' -b "$JAR" "$SITE/admin"
}
echo "Logged in once. The staff desk, four times (each instance in turn): $(for _ in 1 2 3 4; do printf '%s ' "$(signed_in)"; done)"

desk() { printf '%s %s' "$(signed_in)" "$(signed_in)"; }

kill "${PIDS[one]}"; wait "${PIDS[one]}" 2>/dev/null || true
echo "Instance one stopped.  Staff desk: $(desk)"
start_instance one 8001
# nginx rests an instance it saw fail for fail_timeout (2 s): a rolling restart waits for
# the proxy to route to the new process before it stops the next one.
for _ in $(seq 100); do
    curl -fs "$SITE/healthz" | grep -q ":${PIDS[one]}\"" && break; sleep 0.1
done
kill "${PIDS[two]}"; wait "${PIDS[two]}" 2>/dev/null || true
echo "Instance one back (new process), two stopped.  Staff desk: $(desk)"
all=$(for _ in 1 2 3 4; do printf '%s ' "$(signed_in)"; done)
if [ "$all" = "200 200 200 200 " ]; then
    echo "The login held on every instance: sessions live in Redis, not in a process."
else
    echo "demo: the staff desk answered $all; expected 200 every time"; exit 1
fi
