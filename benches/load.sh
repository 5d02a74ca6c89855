#!/usr/bin/env bash
# Load benchmark: redis-benchmark against the real redis-server and ferrodis, alternating
# between the two for every test so that machine noise hits both alike. Prints markdown
# tables: ops/s, p50 and p99 latency per test and pipeline depth with the ferrodis/redis
# ratio, then memory after loading ~1M keys with 16-byte values.
#
# Usage: benches/load.sh            (full run: -c 50 -n 200000, 1M keys)
#        N=2000 KEYS=1000 BIN=target/debug/ferrodis-server benches/load.sh   (smoke test)
#
# Environment: BIN (ferrodis binary, default target/release/ferrodis-server), N (requests
# per test), C (clients), KEYS (key space of the memory row), TESTS, PIPELINES, ROUNDS
# (alternating rounds per test; medians are printed), P_SCALE (request multiplier when pipelined).
set -euo pipefail

cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/ferrodis-server}
N=${N:-200000}
C=${C:-50}
KEYS=${KEYS:-1000000}
TESTS=${TESTS:-ping_inline,ping_mbulk,set,get,incr,mset}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-3}
P_SCALE=${P_SCALE:-5}

for tool in redis-server redis-cli redis-benchmark; do
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

# A port nobody listens on (bash's /dev/tcp connect fails).
free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

wait_ready() {
    local port=$1
    for _ in $(seq 200); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then return 0; fi
        sleep 0.05
    done
    echo "error: server on port $port did not start" >&2
    exit 1
}

REDIS_PORT=$(free_port)
mkdir -p "$work/redis" "$work/ferrodis"
(cd "$work/redis" && exec redis-server --port "$REDIS_PORT" --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1) &
pids+=($!)
REDIS_PID=$!
wait_ready "$REDIS_PORT"

FERRO_PORT=$(free_port)
bin_abs=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
(cd "$work/ferrodis" && exec "$bin_abs" --port "$FERRO_PORT" --save "" >"$work/ferrodis.log" 2>&1) &
pids+=($!)
FERRO_PID=$!
wait_ready "$FERRO_PORT"

echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on port $REDIS_PORT, ferrodis ($BIN) on port $FERRO_PORT"
echo "redis-benchmark -c $C -n $N (x$P_SCALE when pipelined), median of $ROUNDS alternating rounds, $(nproc) cores"
echo

# Prints "rps p50 p99" of one test.
bench() {
    local port=$1 test=$2 pipe=$3 n=$4
    # The row of this test: redis-benchmark runs an LPUSH before the LRANGE tests.
    redis-benchmark -p "$port" -c "$C" -n "$n" -t "$test" -P "$pipe" --csv 2>/dev/null |
        awk -F, -v t="$test" 'NR > 1 { gsub(/"/, ""); if (!done && index($1, toupper(t)) == 1) { print $2, $5, $7; done = 1 } }' || true
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# Median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| test | -P | redis ops/s | ferrodis ops/s | ferrodis/redis | redis p50 ms | ferrodis p50 ms | redis p99 ms | ferrodis p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|"
round=0
for pipe in $PIPELINES; do
    # Pipelined runs are ~10x faster: give them more requests so each lasts long enough.
    n=$N
    [ "$pipe" -gt 1 ] && n=$((N * P_SCALE))
    for test in ${TESTS//,/ }; do
        r_rps=(); f_rps=(); ratios=(); r_p50=(); f_p50=(); r_p99=(); f_p99=()
        for _ in $(seq "$ROUNDS"); do
            # Alternate which server goes first, so drift in machine speed hits both alike.
            if [ $((round % 2)) -eq 0 ]; then
                r=$(bench "$REDIS_PORT" "$test" "$pipe" "$n"); f=$(bench "$FERRO_PORT" "$test" "$pipe" "$n")
            else
                f=$(bench "$FERRO_PORT" "$test" "$pipe" "$n"); r=$(bench "$REDIS_PORT" "$test" "$pipe" "$n")
            fi
            round=$((round + 1))
            read -r a b c <<<"${r:-0 0 0}"; r_rps+=("$a"); r_p50+=("$b"); r_p99+=("$c")
            read -r a b c <<<"${f:-0 0 0}"; f_rps+=("$a"); f_p50+=("$b"); f_p99+=("$c")
            ratios+=("$(ratio "${f_rps[-1]}" "${r_rps[-1]}")")
        done
        echo "| $test | $pipe | $(median "${r_rps[@]}") | $(median "${f_rps[@]}") | $(median "${ratios[@]}") | $(median "${r_p50[@]}") | $(median "${f_p50[@]}") | $(median "${r_p99[@]}") | $(median "${f_p99[@]}") |"
    done
done
echo

# Memory: ~1M keys with 16-byte values (random keys: -n 3x the key space fills ~95% of it).
info_field() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; }
rss_of() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }
human() { awk -v b="$1" 'BEGIN { if (b == "") print "n/a"; else printf "%.1f MB", b / 1048576 }'; }

echo "| server | keys | used_memory | RSS | RSS growth per key |"
echo "|---|---|---|---|---|"
for name in redis ferrodis; do
    if [ "$name" = redis ]; then port=$REDIS_PORT; pid=$REDIS_PID; else port=$FERRO_PORT; pid=$FERRO_PID; fi
    redis-cli -p "$port" flushall >/dev/null
    rss0=$(rss_of "$pid")
    redis-benchmark -p "$port" -c "$C" -n $((KEYS * 3)) -r "$KEYS" -d 16 -t set -P 16 -q >/dev/null 2>&1 || true
    keys=$(redis-cli -p "$port" dbsize)
    used=$(info_field "$port" used_memory)
    rss=$(rss_of "$pid")
    per=$(awk -v r="$rss" -v r0="$rss0" -v k="$keys" 'BEGIN { if (k + 0 > 0) printf "%.0f B", (r - r0) / k; else print "n/a" }')
    echo "| $name | $keys | $(human "$used") | $(human "$rss") | $per |"
done
