#!/bin/bash
# Where the sendmail command's time goes, part by part: each row below adds
# one part to the one before, and all rows run alternately (round-robin, the
# order rotated each round), so that every row sees the same load. Prints the
# median wall and CPU (user+sys of the process and its children) per run,
# with the middle half's range:
#
#   bench/sendmail-parts.sh [ROUNDS] [PER_ROUND]     # default 10 rounds of 5 runs
#   BEFORE=/other/built/checkout bench/sendmail-parts.sh   # adds that build's queue and launcher rows
#
#   bare          node -e 0
#   empty         node --snapshot-blob with an empty user snapshot (Node's cost for any user snapshot)
#   empty-seeded  the same, built with --hash-seed=<a seed chosen as our builds choose it> and run as our blobs are
#                 (with --no-rehash-snapshot where this Node loads it so, Node 22 and 24)
#   declined      our blob, -bp: declined at once (exit 15): our heap's deserialization and the main's start
#                 (our blobs are run with the seed token in their name, as the launcher runs them; a BEFORE
#                 build's blob without one, as it was)
#   queue-tmpfs   our blob, queueing into a home on /dev/shm: the work without the disk's fsync waits
#   queue         our blob, queueing into a home on disk (TMPDIR): what `node --snapshot-blob` costs
#   launcher      bin/bulkmailer-sendmail with dist's blob (BULKMAILER_SNAPSHOT_CACHE=off): + the shell
#   launcher-user bin/bulkmailer-sendmail with a per-user blob: + its trust check (one `find`)
#   launcher-ca   the launcher row with NODE_EXTRA_CA_CERTS=$CA_BUNDLE (default the system's bundle; the row is left
#                 out when it is not a readable file): what that variable costs the command
#
# Every row must exit 0, apart from declined's 15; the first run that does not stops the bench with the row's name
# and command (a queueing row the snapshot declined would time a Node start, not a message queued).
#
# A 4 KB message to 5 recipients, as the shared harness sends; NODE_EXTRA_CA_CERTS unset, as it does.
# Needs a built checkout (npm run build).
set -euo pipefail
rounds=${1:-10}
per=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
unset NODE_EXTRA_CA_CERTS
work=$(mktemp -d "${TMPDIR:-/tmp}/bulkmailer-sendmail-parts.XXXXXX")
shm=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then shm=$(mktemp -d /dev/shm/bulkmailer-sendmail-parts.XXXXXX); fi
trap 'rm -rf "$work" ${shm:+"$shm"}' EXIT
chmod 700 "$work"
for h in "$work/home" ${shm:+"$shm/home"}; do
  BULKMAILER_HOME=$h node "$here/bin/bulkmailer" config set from bench@bench.example >/dev/null
done
{
  printf 'From: bench@bench.example\nTo: a@one.test\nSubject: sendmail parts bench\n\n'
  for i in $(seq 1 55); do printf 'The quick brown fox jumps over the lazy dog, line %04d of the body.\n' "$i"; done
} >"$work/msg"
echo 'require("node:v8").startupSnapshot.setDeserializeMainFunction(() => {});' >"$work/empty.cjs"
node --snapshot-blob "$work/empty.blob" --build-snapshot "$work/empty.cjs"
empty_seed=$(node --input-type=module -e "import { chooseHashSeed } from '$here/dist/sendmail-snapshot/hash-seed.js'; console.log(chooseHashSeed())")
node --hash-seed="$empty_seed" --snapshot-blob "$work/empty-seeded.blob" --build-snapshot "$work/empty.cjs"
empty_flags="--hash-seed=$empty_seed --no-rehash-snapshot"
node $empty_flags --snapshot-blob "$work/empty-seeded.blob" x 2>/dev/null || empty_flags="--hash-seed=$empty_seed"
# Per-user blobs, each build in its own cache ($XDG_CACHE_HOME).
blob_of() { # CHECKOUT CACHE -> builds a per-user blob there, prints its path
  mkdir -m 700 -p "$2"
  XDG_CACHE_HOME=$2 node "$1/bin/bulkmailer" sendmail-snapshot >/dev/null
  ls "$2"/bulkmailer/*.blob
}
flags_of() { # BLOB -> the V8 flags it runs with: its name's seed token (none in a blob from before seeds)
  s=${1%-*}
  s=${s##*-seed}
  case $s in '' | *[!0-9n]*) ;; *n) echo "--hash-seed=${s%n} --no-rehash-snapshot" ;; *) echo "--hash-seed=$s" ;; esac
}
ours=$(blob_of "$here" "$work/cache")
ours="$(flags_of "$ours") --snapshot-blob $ours"
rows=(
  bare "node -e 0"
  empty "node --snapshot-blob $work/empty.blob x"
  empty-seeded "node $empty_flags --snapshot-blob $work/empty-seeded.blob x"
  declined "node $ours $here/bin/bulkmailer-sendmail -bp"
)
[ -z "$shm" ] || rows+=(queue-tmpfs "BULKMAILER_HOME=$shm/home node $ours $here/bin/bulkmailer-sendmail @RCPTS")
rows+=(
  queue "node $ours $here/bin/bulkmailer-sendmail @RCPTS"
  launcher "BULKMAILER_SNAPSHOT_CACHE=off $here/bin/bulkmailer-sendmail @RCPTS"
  launcher-user "XDG_CACHE_HOME=$work/cache $here/bin/bulkmailer-sendmail @RCPTS"
)
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ ! -r "$ca" ] || rows+=(launcher-ca "NODE_EXTRA_CA_CERTS=$ca BULKMAILER_SNAPSHOT_CACHE=off $here/bin/bulkmailer-sendmail @RCPTS")
if [ -n "${BEFORE:-}" ]; then
  theirs=$(blob_of "$BEFORE" "$work/cache-before")
  theirs="$(flags_of "$theirs") --snapshot-blob $theirs"
  rows+=(
    before-declined "node $theirs $BEFORE/bin/bulkmailer-sendmail -bp"
    before-queue "node $theirs $BEFORE/bin/bulkmailer-sendmail @RCPTS"
    before-launcher "BULKMAILER_SNAPSHOT_CACHE=off $BEFORE/bin/bulkmailer-sendmail @RCPTS"
    before-launcher-user "XDG_CACHE_HOME=$work/cache-before $BEFORE/bin/bulkmailer-sendmail @RCPTS"
  )
  [ ! -r "$ca" ] || rows+=(before-launcher-ca "NODE_EXTRA_CA_CERTS=$ca BULKMAILER_SNAPSHOT_CACHE=off $BEFORE/bin/bulkmailer-sendmail @RCPTS")
fi
echo "node $(node --version), $rounds rounds of $per runs per row, bulkmailer=$here${BEFORE:+ before=$BEFORE}, $(uptime | sed 's/.*load/load/')"
BULKMAILER_HOME=$work/home python3 - "$rounds" "$per" "$work/msg" "${rows[@]}" <<'PY'
import os, shlex, statistics, sys, time
rounds, per, msg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rcpts = ['-f', 'bench@bench.example', 'a@one.test', 'b@two.test', 'c@three.test', 'd@four.test', 'e@five.test']
rows = []
for name, line in zip(sys.argv[4::2], sys.argv[5::2]):
    words, env = shlex.split(line), dict(os.environ)
    while '=' in words[0]:  # leading NAME=value words: the row's environment
        key, value = words.pop(0).split('=', 1)
        env[key] = value
    rows.append((name, [w for word in words for w in (rcpts if word == '@RCPTS' else [word])], env))
# The exit each row must give: 15 for -bp (declined by the snapshot, the launcher's cue for the plain bundle), 0 for every
# other row: a queueing row that exits 15 (declined), 14 (blob refused) or anything else has timed something else.
expected = {'declined': 15, 'before-declined': 15}
devnull = os.open(os.devnull, os.O_WRONLY)
wall = {name: [] for name, _, _ in rows}
cpu = {name: [] for name, _, _ in rows}
for r in range(rounds):
    for name, argv, env in rows[r % len(rows):] + rows[:r % len(rows)]:
        for _ in range(per):
            fd = os.open(msg, os.O_RDONLY)
            t0 = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.dup2(fd, 0)
                os.dup2(devnull, 1)
                try:
                    os.execvpe(argv[0], argv, env)
                finally:
                    os._exit(127)
            _, status, usage = os.wait4(pid, 0)
            t1 = time.perf_counter()
            os.close(fd)
            code = os.waitstatus_to_exitcode(status)
            if code != expected.get(name, 0):  # a queueing row that did not queue is not timing the queueing
                sys.exit(f'{name} exited {code}, not {expected.get(name, 0)}: {shlex.join(argv)}')
            wall[name].append((t1 - t0) * 1000)
            cpu[name].append((usage.ru_utime + usage.ru_stime) * 1000)
def q(values, p):
    values = sorted(values)
    return values[int(p * (len(values) - 1))]
print(f"{'row':22s} {'wall ms: median (p25-p75)':>28s} {'cpu ms: median (p25-p75)':>28s}")
for name, _, _ in rows:
    w, c = wall[name], cpu[name]
    print(f"{name:22s} {statistics.median(w):10.1f} ({q(w, .25):5.1f}-{q(w, .75):5.1f}) {statistics.median(c):15.1f} ({q(c, .25):5.1f}-{q(c, .75):5.1f})")
PY
