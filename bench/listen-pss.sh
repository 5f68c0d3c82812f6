#!/bin/bash
# The memory of `bulkmailer listen` as the shared harness sees it, builds
# alternating: for each round, each build in turn starts `listen` on a fresh
# home, takes 300 messages (4 KB, 5 recipients; lib/genmsgs.py) from the
# harness's own client (lib/smtpclient.py, its own process) over 1 and over
# 8 connections, and is stopped. MESSAGES=N takes N messages instead of 300
# (generated alike), MSGDIR=DIR the messages already in DIR (the harness's
# format, e.g. genmsgs.py's output; their count is MESSAGES's default then),
# CLIENTS="1 8" the connection counts. Sampled every 20 ms from
# /proc/PID/smaps_rollup: the listener's anonymous PSS (its heap, malloc,
# stacks: no other process shares them), idle after start-up and at the
# peak, and its file-backed resident pages at the peak (Node's binary and
# libraries: the harness counts them whole when no other Node runs; PSS on a
# machine with other Node processes shares them out). Also the listener's
# CPU per message (/proc/PID/stat) and the messages per second the client
# saw. Prints each run and the medians.
#
#   bench/listen-pss.sh ROUNDS BUILT_CHECKOUT...      # e.g. 5 /tmp/before .
#   MESSAGES=2000 CLIENTS=8 bench/listen-pss.sh 3 /tmp/before .
#   MSGDIR=/tmp/msgs20k bench/listen-pss.sh 3 /tmp/before .
#
# Needs the harness's lib/ (../shared/peers/lib beside the checkout, or PEERS_LIB=/path/to/peers/lib)
# and python3; Linux only.
set -euo pipefail
rounds=${1:?rounds}
shift
[ $# -gt 0 ] || { echo "usage: $0 ROUNDS BUILT_CHECKOUT..." >&2; exit 64; }
lib=${PEERS_LIB:-$(cd "$(dirname "$0")/.." && pwd)/../shared/peers/lib}
work=$(mktemp -d "${TMPDIR:-/tmp}/bulkmailer-listen-pss.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ -n "${MSGDIR:-}" ]; then
  msgs=$(cd "$MSGDIR" && pwd)
  : "${MESSAGES:=$(find "$msgs" -maxdepth 1 -name '*.eml' | wc -l)}"
else
  msgs=$work/msgs
  : "${MESSAGES:=300}"
  python3 "$lib/genmsgs.py" --n "$MESSAGES" --out "$msgs" >/dev/null
fi

sampler='
import sys, time, signal
pid, stop = sys.argv[1], []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
anon = filed = 0
while not stop:
    try:
        d = {k: int(v.split()[0]) for k, _, v in (l.partition(":") for l in open(f"/proc/{pid}/smaps_rollup")) if k in ("Rss", "Anonymous", "Pss_Anon")}
    except (OSError, ValueError):
        break
    anon, filed = max(anon, d["Pss_Anon"]), max(filed, d["Rss"] - d["Anonymous"])
    time.sleep(0.02)
print(f"anonPeak {anon / 1024:.1f} filePeak {filed / 1024:.1f}")
'

run() { # build clients -> one line of figures
  local home=$work/home pid port idle c0 sp cpu
  rm -rf "$home"; mkdir -m 700 "$home"
  printf '{"smarthost":"smtp://127.0.0.1:9","from":"bench@bench.localdomain"}' >"$home/config.json"
  chmod 600 "$home/config.json"
  # Executed as a program, as the harness and a user start it (bin/bulkmailer's shell part sets listen's malloc arenas).
  BULKMAILER_HOME=$home "$1/bin/bulkmailer" listen --host 127.0.0.1 --port 0 >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/out")
  if [ -z "$port" ]; then
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    echo "FAILED: no \"listening on\" within 30 s ($(tail -n 1 "$work/err"))"
    return
  fi
  sleep 0.5 # start-up's garbage settles
  idle=$(awk '/^Pss_Anon/{printf "%.1f", $2 / 1024}' "/proc/$pid/smaps_rollup")
  python3 -c "$sampler" "$pid" >"$work/peak" &
  sp=$!
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local status=0 t0 t1
  t0=$(date +%s.%N)
  python3 "$lib/smtpclient.py" --port "$port" --msgdir "$msgs" --conns "$2" >/dev/null 2>"$work/client.err" || status=$?
  if [ "$status" -ne 0 ]; then
    # Not counted: a run whose messages did not all go in measures nothing.
    echo "FAILED: the client exited $status ($(tail -n 1 "$work/client.err"))"
    kill "$sp" "$pid"; wait "$sp" "$pid" 2>/dev/null || true
    return
  fi
  t1=$(date +%s.%N)
  cpu=$(awk -v c0="$c0" -v n="$MESSAGES" '{printf "%.2f", ($14 + $15 - c0) * 10 / n}' "/proc/$pid/stat")
  kill "$sp"; wait "$sp" || true
  echo "cpu $cpu rate $(awk -v a="$t0" -v b="$t1" -v n="$MESSAGES" 'BEGIN{printf "%.0f", n / (b - a)}') anonIdle $idle $(cat "$work/peak")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # The spool's per-entry lock directory lives on tmpfs (src/spool/entry-lock-dir.ts): removed with the home.
  node -e "import(process.argv[1]).then((s) => s.removeEntryLockTarget(process.argv[2]))" "$1/dist/spool/index.js" "$home"
}

builds=()
for build in "$@"; do builds+=("$(cd "$build" && pwd)"); done
for round in $(seq 1 "$rounds"); do
  for clients in ${CLIENTS:-1 8}; do
    for build in "${builds[@]}"; do echo "$build clients=$clients $(run "$build" "$clients")" | tee -a "$work/runs"; done
  done
done
echo "medians over $rounds rounds:"
python3 - "$work/runs" <<'EOF'
import sys, re, statistics, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    if " cpu " not in line:
        print("not counted:", line.strip())
        continue
    key = line.split(" cpu ")[0]
    for name, value in re.findall(r"(cpu|rate|anonIdle|anonPeak|filePeak) ([0-9.]+)", line):
        rows[key][name].append(float(value))
for key, figures in rows.items():
    print(key, " ".join(f"{n} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for n, v in figures.items()))
EOF
