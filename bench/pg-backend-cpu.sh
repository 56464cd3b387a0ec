#!/bin/bash
# CPU time of the PostgreSQL backends serving one runtime-bench run, beside the bench's own
# CPU/call (which counts only its process). Needs the server on this machine and root (to
# read the postgres user's /proc entries); creates and drops the database oaas_backend_cpu.
#
#   bench/pg-backend-cpu.sh BENCH_BINARY REPLICAS [runtime-bench options]
#   e.g. bench/pg-backend-cpu.sh target/release/runtime-bench 3 --calls-c1 10 --calls-c64 10000
#
# The backends' CPU is sampled every 0.3 s (the largest value seen per process is kept, so
# the last fraction of a second of each is lost); printed in ms with the bench's last line.
set -u
BIN=$1; N=$2; shift 2
DB=oaas_backend_cpu
P="psql -h 127.0.0.1 -U postgres -Atq"
$P -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
OUT=$(mktemp)
"$BIN" --only runtime --store "postgres://postgres@127.0.0.1:5432/$DB" --replicas "$N" "$@" \
  2>/dev/null | grep -E '^\| runtime' >"$OUT" &
bench=$!
declare -A most
while kill -0 $bench 2>/dev/null; do
  for p in $(pgrep -u postgres -f "postgres: .* postgres $DB "); do
    s=$(cat /proc/$p/stat 2>/dev/null) || continue
    s=${s##*) }; set -- $s
    t=$(( ${12} + ${13} ))
    [ "${most[$p]:-0}" -lt $t ] && most[$p]=$t
  done
  sleep 0.3
done
ticks=0; for p in "${!most[@]}"; do ticks=$((ticks + ${most[$p]})); done
cat "$OUT"
echo "PostgreSQL backends: ${#most[@]}, CPU $((ticks * 1000 / $(getconf CLK_TCK))) ms"
rm -f "$OUT"
$P -c "DROP DATABASE IF EXISTS $DB"
