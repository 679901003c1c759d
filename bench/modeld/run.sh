#!/usr/bin/env bash
# bench/modeld/run.sh: N concurrent model calls (default 1000), each with
# LATENCY_MS of scripted latency (default 1000), against a fresh modeld;
# ROUNDS rounds (default 5) on the same server.  Prints every round and
# writes results.txt next to this script.
#
#   bench/modeld/run.sh [N=1000] [LATENCY_MS=1000] [ROUNDS=5]
#
# Target: every call answered within about 1.5 s of wall time.
# The load generator is load.c (libcurl multi, one thread), built here.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${1:-1000}
LAT=${2:-1000}
ROUNDS=${3:-5}

make -s -C "$ROOT/hosts/modeld"
mkdir -p "$HERE/.build"
cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -o "$HERE/.build/load" "$HERE/load.c" \
    $(pkg-config --cflags --libs libcurl jansson)
ulimit -n "$(ulimit -Hn)"

# shellcheck source=../../test/lib/modeld.sh
source "$ROOT/test/lib/modeld.sh"
trap modeld_stop EXIT
modeld_start --api-key bench-key

lines=()
walls=()
for r in $(seq 1 "$ROUNDS"); do
    line=$("$HERE/.build/load" "$MODELD_URL" "$MODELD_API_KEY" "$N" "$LAT" "$MODELD_PID")
    echo "round $r: $line"
    lines+=("round $r: $line")
    walls+=("$(sed -n 's/.*"wall_ms":\([0-9]*\).*/\1/p' <<<"$line")")
done
sorted=($(printf '%s\n' "${walls[@]}" | sort -n))
median=${sorted[$(( ${#sorted[@]} / 2 ))]}
summary="summary: $N concurrent calls with ${LAT} ms latency each: median wall ${median} ms, min ${sorted[0]} ms, max ${sorted[-1]} ms over $ROUNDS rounds"
echo "$summary"

{
    echo "# modeld load benchmark"
    echo "# $N concurrent calls at once, each with [[modeld: latency=$LAT]]; half Anthropic, half"
    echo "# OpenAI, half planning, half execution; one fresh connection per call."
    echo "# Client: bench/modeld/load.c (libcurl multi, one thread) on the same machine."
    echo "# rerun: bench/modeld/run.sh $N $LAT $ROUNDS"
    echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ); host: $(nproc) cores, $(uname -sr)"
    echo "# analysis and the 32 KiB-pool experiment: bench/modeld/README.md"
    echo "$summary"
    printf '%s\n' "${lines[@]}"
} >"$HERE/results.txt"
echo "wrote $HERE/results.txt"
