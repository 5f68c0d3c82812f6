#!/bin/bash
# The listener's JavaScript side per message, builds alternating: for each
# round, each build in turn serves bench/intake-discard.mjs (its intake,
# prepareMessage, queue id and entry state; nothing written), takes the
# messages of MSGDIR (lib/genmsgs.py --n 2000 --out DIR) from the harness's
# client over one connection, and is stopped. Prints per run the server's
# user and system CPU per message (all threads, /proc/PID/stat) and the
# client's rate.
#
#   MSGDIR=/tmp/msgs2k bench/intake-discard.sh ROUNDS BUILT_CHECKOUT...   # e.g. 6 /tmp/before .
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
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tick=$(getconf CLK_TCK)

for round in $(seq 1 "$rounds"); do
  for build in "$@"; do
    node "$here/intake-discard.mjs" "$(cd "$build" && pwd)" "$port" &
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    start=$(date +%s.%N)
    python3 "$lib/smtpclient.py" --port "$port" --msgdir "$msgdir" --conns 1 >/dev/null
    end=$(date +%s.%N)
    read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill -INT "$pid"
    wait "$pid" || true
    printf '%s round %d: user %.0f us/msg, sys %.0f us/msg, %.0f msg/s\n' "$build" "$round" \
      "$(echo "($user1 - $user0) * 1000000 / $tick / $count" | bc -l)" "$(echo "($sys1 - $sys0) * 1000000 / $tick / $count" | bc -l)" \
      "$(echo "$count / ($end - $start)" | bc -l)"
  done
done
