#!/bin/bash
# The listener's own latency per reply, builds alternating: for each round,
# each build in turn starts `bulkmailer listen` on a fresh home with
# bench/listen-latency-preload.mjs, takes the messages of MSGDIR (the
# harness's format: lib/genmsgs.py --n 2000 --out DIR) from the harness's
# client (lib/smtpclient.py, its own process) over one connection, and is
# stopped. Prints, per run, the median microseconds from a command's socket
# read to its reply's write (MAIL/RCPT's 250, DATA's 354, the final dot's
# 250) and from the commit's link(2) to the 250, the CPU of all the
# listener's threads per message (/proc/PID/stat), and the client's rate.
#
#   MSGDIR=/tmp/msgs2k bench/listen-latency.sh ROUNDS BUILT_CHECKOUT...   # e.g. 5 /tmp/before .
#
# Needs the harness's lib/ (../shared/peers/lib beside the checkout, or PEERS_LIB=/path/to/peers/lib)
# and python3; Linux only.
set -euo pipefail
rounds=${1:?rounds}
shift
[ $# -gt 0 ] || { echo "usage: MSGDIR=DIR $0 ROUNDS BUILT_CHECKOUT..." >&2; exit 64; }
msgdir=${MSGDIR:?MSGDIR: a directory of messages (genmsgs.py --out DIR)}
here=$(cd "$(dirname "$0")" && pwd)
lib=${PEERS_LIB:-$here/../../shared/peers/lib}
count=$(ls "$msgdir" | wc -l)
work=$(mktemp -d "${TMPDIR:-/tmp}/bulkmailer-listen-latency.XXXXXX")
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tick=$(getconf CLK_TCK)

for round in $(seq 1 "$rounds"); do
  for build in "$@"; do
    home=$(mktemp -d "$work/home.XXXXXX")
    BULKMAILER_HOME=$home "$build/bin/bulkmailer" config set smarthost smtp://127.0.0.1:9 >/dev/null
    BULKMAILER_HOME=$home LATENCY_OUT=$work/latency node --import "$here/listen-latency-preload.mjs" \
      "$build/bin/bulkmailer" listen --host 127.0.0.1 --port "$port" >"$work/listen.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    read -r cpu0 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
    start=$(date +%s.%N)
    python3 "$lib/smtpclient.py" --port "$port" --msgdir "$msgdir" --conns 1 >/dev/null
    end=$(date +%s.%N)
    read -r cpu1 < <(awk '{print $14 + $15}' "/proc/$pid/stat")
    kill -INT "$pid"
    wait "$pid" || true
    median() { awk -F'\t' -v k="$1" '$1 == k {print $3}' "$work/latency"; }
    printf '%s round %d: MAIL/RCPT %s us, DATA %s us, final dot %s us, link -> 250 %s us; CPU %.0f us/msg; %.0f msg/s\n' \
      "$build" "$round" "$(median 'read -> 250 Accepted')" "$(median 'read -> 354 End data')" \
      "$(median 'read -> 250 Ok: queu')" "$(median 'link -> 250')" \
      "$(echo "($cpu1 - $cpu0) * 1000000 / $tick / $count" | bc -l)" "$(echo "$count / ($end - $start)" | bc -l)"
    rm -rf "$home"
  done
done
