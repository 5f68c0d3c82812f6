#!/bin/bash
# The listener's own latency per reply and its CPU, builds alternating: for
# each round, each build in turn starts `bulkmailer listen` on a fresh home
# with bench/listen-latency-preload.mjs, takes the messages of MSGDIR (the
# harness's format: lib/genmsgs.py --n 2000 --out DIR) from the harness's
# client (lib/smtpclient.py, its own process) over one connection, and is
# stopped. Prints, per run, the median microseconds from a command's socket
# read to its reply's write (MAIL/RCPT's 250, DATA's 354, the final dot's
# 250) and from the commit's link(2) to the 250, the user and system CPU of
# all the server's threads per message (/proc/PID/stat), and the client's
# rate. SERVER=discard serves bench/intake-discard.mjs instead (the build's
# intake, preparation, queue id and entry state, nothing written): the
# JavaScript side's CPU without the spool's file work and its noise.
#
#   MSGDIR=/tmp/msgs2k bench/listen-latency.sh ROUNDS BUILT_CHECKOUT...   # e.g. 5 /tmp/before .
#   SERVER=discard MSGDIR=/tmp/msgs2k bench/listen-latency.sh 6 /tmp/before .
#
# Needs the harness's lib/ (../shared/peers/lib beside the checkout, or PEERS_LIB=/path/to/peers/lib)
# and python3; Linux only.
set -euo pipefail
rounds=${1:?rounds}
shift
[ $# -gt 0 ] || { echo "usage: MSGDIR=DIR [SERVER=discard] $0 ROUNDS BUILT_CHECKOUT..." >&2; exit 64; }
msgdir=${MSGDIR:?MSGDIR: a directory of messages (genmsgs.py --out DIR)}
server=${SERVER:-listen}
here=$(cd "$(dirname "$0")" && pwd)
lib=${PEERS_LIB:-$here/../../shared/peers/lib}
count=$(ls "$msgdir" | wc -l)
work=$(mktemp -d "${TMPDIR:-/tmp}/bulkmailer-listen-latency.XXXXXX")
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tick=$(getconf CLK_TCK)
per_message() { echo "($1) * 1000000 / $tick / $count" | bc -l; }
median() { awk -F'\t' -v k="$1" '$1 == k {print $3}' "$work/latency"; }

for round in $(seq 1 "$rounds"); do
  for build in "$@"; do
    root=$(cd "$build" && pwd)
    home=$(mktemp -d "$work/home.XXXXXX")
    rm -f "$work/latency"
    if [ "$server" = discard ]; then
      LATENCY_OUT=$work/latency node --import "$here/listen-latency-preload.mjs" "$here/intake-discard.mjs" "$root" "$port" &
    else
      BULKMAILER_HOME=$home "$root/bin/bulkmailer" config set smarthost smtp://127.0.0.1:9 >/dev/null
      BULKMAILER_HOME=$home LATENCY_OUT=$work/latency node --import "$here/listen-latency-preload.mjs" \
        "$root/bin/bulkmailer" listen --host 127.0.0.1 --port "$port" >"$work/listen.log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    start=$(date +%s.%N)
    python3 "$lib/smtpclient.py" --port "$port" --msgdir "$msgdir" --conns 1 >/dev/null
    end=$(date +%s.%N)
    read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill -INT "$pid"
    wait "$pid" || true
    printf '%s round %d: MAIL/RCPT %s us, DATA %s us, final dot %s us, link -> 250 %s us; CPU user %.0f sys %.0f us/msg; %.0f msg/s\n' \
      "$build" "$round" "$(median 'read -> 250 Accepted')" "$(median 'read -> 354 End data')" \
      "$(median 'read -> 250 Ok: queu')" "$(median 'link -> 250')" \
      "$(per_message "$user1 - $user0")" "$(per_message "$sys1 - $sys0")" "$(echo "$count / ($end - $start)" | bc -l)"
    rm -rf "$home"
  done
done
