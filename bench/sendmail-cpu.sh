#!/bin/bash
# CPU time per message of the sendmail command (one process per message,
# sequential, a 4 KB message to 5 recipients, durable before exit 0), beside
# a bare `node -e 0` start, interleaved in rounds so all see the same load:
#
#   bench/sendmail-cpu.sh [ROUNDS] [PER_ROUND]        # default 5 rounds of 20
#   BULKMAILER_DIR=/other/checkout bench/sendmail-cpu.sh
#
# Three ways per round: bare Node; the command as users run it
# (bin/bulkmailer-sendmail executed: the launcher, from the start-up
# snapshot when it has one); and `node bin/bulkmailer-sendmail`, which runs
# the plain bundle (what the launcher falls back to). Prints per round the
# ms of CPU (user+sys, children, including the launcher's shell) and of wall
# time per run for each, then the medians with their range. The spool is a
# temp home (TMPDIR) with config `from` set; nothing listens for nudges.
# Needs a built checkout (for another checkout without a launcher, the
# "sendmail" and "plain" rows are the same thing).
set -euo pipefail
rounds=${1:-5}
per=${2:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
: "${BULKMAILER_DIR:=$here}"
unset NODE_EXTRA_CA_CERTS # as the shared harness does: it makes every node start parse a CA bundle
work=$(mktemp -d "${TMPDIR:-/tmp}/bulkmailer-sendmail-cpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BULKMAILER_HOME=$work/home
node "$BULKMAILER_DIR/bin/bulkmailer" config set from bench@bench.example >/dev/null
{
  printf 'From: bench@bench.example\nTo: a@one.test\nSubject: sendmail cpu bench\n\n'
  for i in $(seq 1 70); do printf 'The quick brown fox jumps over the lazy dog, line %04d of the body.\n' "$i"; done
} >"$work/msg"

measure() { # LABEL CMD... -> "LABEL cpu_ms wall_ms" per run
  local label=$1; shift
  local t0 t1 c0 c1 me=$BASHPID
  c0=$(awk '{ print $16 + $17 }' "/proc/$me/stat") # waited-for children's utime+stime, in clock ticks
  t0=$(date +%s%N)
  for _ in $(seq 1 "$per"); do "$@" <"$work/msg" >/dev/null || { echo "$label failed" >&2; exit 1; }; done
  t1=$(date +%s%N)
  c1=$(awk '{ print $16 + $17 }' "/proc/$me/stat")
  awk -v l="$label" -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v n="$per" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%s %.1f %.1f\n", l, c * 1000 / hz / n, t / 1e6 / n }'
}

echo "node $(node --version), $per runs per round, bulkmailer=$BULKMAILER_DIR"
rcpts=(-f bench@bench.example a@one.test b@two.test c@three.test d@four.test e@five.test)
out=$work/out
for r in $(seq 1 "$rounds"); do
  a=$(measure bare node -e 0)
  b=$(measure sendmail "$BULKMAILER_DIR/bin/bulkmailer-sendmail" "${rcpts[@]}")
  c=$(measure plain node "$BULKMAILER_DIR/bin/bulkmailer-sendmail" "${rcpts[@]}")
  echo "round $r: bare node cpu/wall ms ${a#bare } | sendmail ${b#sendmail } | plain bundle ${c#plain }"
  printf '%s\n' "$a" "$b" "$c" >>"$out"
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for label in ("bare", "sendmail", "plain"):
    cpu = [float(r[1]) for r in rows if r[0] == label]
    wall = [float(r[2]) for r in rows if r[0] == label]
    print(f"median {label}: cpu {statistics.median(cpu):.1f} ms ({min(cpu):.1f}-{max(cpu):.1f}), wall {statistics.median(wall):.1f} ms ({min(wall):.1f}-{max(wall):.1f})")
PY
