#!/bin/bash
# Side-by-side hand-over rates against Postfix, through the shared harness
# (../shared/peers, needs root): the sendmail command (one process per
# message, sequential) and the SMTP listener (one client, or SMTP_CONNS
# parallel clients). Each round runs Postfix and bulkmailer back to back,
# alternating which goes first, and prints both rates and their ratio; the
# summary is the median of the per-round rates and ratios, with the
# smallest and largest ratio as the spread. Only the enqueue phase is
# compared (the drain is another benchmark).
#
#   bench/peers.sh sendmail 5            # 5 rounds, N=300 messages x 5 recipients
#   bench/peers.sh smtp 5                # listener, one client
#   SMTP_CONNS=8 bench/peers.sh smtp 5   # listener, 8 parallel clients
#   N=500 R=5 PEERS_DIR=/path/to/peers BULKMAILER_DIR=/other/checkout bench/peers.sh sendmail 3
#
# BULKMAILER_DIR defaults to this checkout (built: `npm ci` or `npm run build`).
# Raw harness lines go to stderr-free files under ${TMPDIR:-/tmp}/bulkmailer-peers.*.
set -euo pipefail
door=${1:?usage: bench/peers.sh sendmail|smtp [ROUNDS]}
rounds=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
: "${PEERS_DIR:=$here/../../shared/peers}"
[ -x "$PEERS_DIR/run.sh" ] || PEERS_DIR=/work/shared/peers
: "${BULKMAILER_DIR:=$here}" "${N:=300}" "${R:=5}"
export BULKMAILER_DIR
case $door in
  sendmail) ours=bulkmailer; theirs=postfix ;;
  smtp) ours=bulkmailer-smtp; theirs=postfix-smtp ;;
  *) echo "door must be sendmail or smtp" >&2; exit 64 ;;
esac
raw=$(mktemp "${TMPDIR:-/tmp}/bulkmailer-peers.XXXXXX")
rate() { # PEER -> enqueue msgs/s (or NA)
  "$PEERS_DIR/run.sh" "$1" "$N" "$R" 2>/dev/null | tee -a "$raw" |
    awk '/phase=enqueue/ { for (i = 1; i <= NF; i++) if ($i ~ /^msgs_per_s=/) { sub(/.*=/, "", $i); v = $i } } END { print (v == "" ? "NA" : v) }'
}
echo "door=$door conns=${SMTP_CONNS:-1} n=$N r=$R rounds=$rounds bulkmailer=$BULKMAILER_DIR node=$(node --version) raw=$raw"
results=()
for i in $(seq 1 "$rounds"); do
  if (( i % 2 )); then a=$(rate "$theirs"); b=$(rate "$ours"); else b=$(rate "$ours"); a=$(rate "$theirs"); fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", b / a; else print "NA" }')
  echo "round $i: $theirs $a msg/s, $ours $b msg/s, ratio $ratio"
  results+=("$a $b $ratio")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if "NA" not in l]
if not rows: sys.exit("no complete round")
col = lambda k: [float(r[k]) for r in rows]
print(f"median: postfix {statistics.median(col(0)):.1f} msg/s, bulkmailer {statistics.median(col(1)):.1f} msg/s, "
      f"ratio {statistics.median(col(2)):.2f} (per-round ratios {min(col(2)):.2f}-{max(col(2)):.2f}, {len(rows)} rounds)")
'
