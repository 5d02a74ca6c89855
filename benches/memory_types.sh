#!/usr/bin/env bash
# Memory benchmark for small collections: 100k hashes of 10 small fields, 100k sets of 10
# integers and 100k sorted sets of 10 members, loaded into redis-server and ferrodis in the
# same run; prints used_memory and RSS growth per key and the ferrodis/redis ratio.
#
# Usage: benches/memory_types.sh        (BIN=target/release/ferrodis-server, KEYS=100000)
set -euo pipefail

cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/ferrodis-server}
KEYS=${KEYS:-100000}
for tool in redis-server redis-cli; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "error: $BIN not found; build it with: cargo build --release" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
}
wait_ready() {
    for _ in $(seq 200); do
        [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
        sleep 0.05
    done
    echo "error: server on port $1 did not start" >&2; exit 1
}

# RESP commands for one data set, written once and piped into both servers.
gen() {
    awk -v n="$KEYS" -v kind="$1" 'function cmd(a, m,   i, s) {
            s = "*" m "\r\n"; for (i = 1; i <= m; i++) s = s "$" length(a[i]) "\r\n" a[i] "\r\n"; printf "%s", s }
        BEGIN {
            for (k = 0; k < n; k++) {
                m = 2
                if (kind == "hash") { a[1] = "HSET"; a[2] = "hash:" k; for (f = 0; f < 10; f++) { a[++m] = "field" f; a[++m] = "value" f } }
                if (kind == "set")  { a[1] = "SADD"; a[2] = "set:" k;  for (f = 0; f < 10; f++) { a[++m] = f * 1000 + k % 1000 } }
                if (kind == "zset") { a[1] = "ZADD"; a[2] = "zset:" k; for (f = 0; f < 10; f++) { a[++m] = f * 1.5; a[++m] = "member" f } }
                cmd(a, m)
            }
        }' > "$work/$1.resp"
}

rss_of() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }
used_of() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

echo "$KEYS keys per type, redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') vs $BIN"
echo
echo "| data | redis used_memory/key | ferrodis used_memory/key | ratio | redis RSS/key | ferrodis RSS/key | RSS ratio | encodings (redis / ferrodis) |"
echo "|---|---|---|---|---|---|---|---|"
# Fresh servers for every data type: memory freed by a FLUSHALL would be reused by the next
# load and hide its RSS growth.
start_servers() {
    mkdir -p "$work/redis" "$work/ferrodis"
    REDIS_PORT=$(free_port)
    (cd "$work/redis" && exec redis-server --port "$REDIS_PORT" --save "" --appendonly no >"$work/redis.log" 2>&1) &
    pids+=($!); REDIS_PID=$!
    wait_ready "$REDIS_PORT"
    FERRO_PORT=$(free_port)
    (cd "$work/ferrodis" && exec "$bin_abs" --port "$FERRO_PORT" --save "" >"$work/ferrodis.log" 2>&1) &
    pids+=($!); FERRO_PID=$!
    wait_ready "$FERRO_PORT"
}
stop_servers() {
    kill "$REDIS_PID" "$FERRO_PID" 2>/dev/null || true
    wait "$REDIS_PID" "$FERRO_PID" 2>/dev/null || true
}
bin_abs=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

for kind in hash set zset; do
    gen "$kind"
    start_servers
    row=()
    for port_pid in "$REDIS_PORT:$REDIS_PID" "$FERRO_PORT:$FERRO_PID"; do
        port=${port_pid%%:*}; pid=${port_pid##*:}
        u0=$(used_of "$port"); r0=$(rss_of "$pid")
        redis-cli -p "$port" --pipe < "$work/$kind.resp" >/dev/null
        u1=$(used_of "$port"); r1=$(rss_of "$pid")
        enc=$(redis-cli -p "$port" object encoding "$kind:1")
        row+=("$(( (u1 - u0) / KEYS ))" "$(( (r1 - r0) / KEYS ))" "$enc")
    done
    ratio=$(awk -v a="${row[3]}" -v b="${row[0]}" 'BEGIN { printf "%.2f", a / b }')
    rratio=$(awk -v a="${row[4]}" -v b="${row[1]}" 'BEGIN { printf "%.2f", a / b }')
    stop_servers
    echo "| 100k $kind | ${row[0]} B | ${row[3]} B | $ratio | ${row[1]} B | ${row[4]} B | $rratio | ${row[2]} / ${row[5]} |"
done
