/**
 * Loaded into `bulkmailer listen` with `node --import` by bench/listen-latency.sh:
 * the listener's own latency per reply, from the socket's 'data' event
 * that a reply answers to the socket.write() of the reply (the commands'
 * handling, not the wire), by the reply's first characters; and from the
 * commit's last step (the state file's link(2), spool/enqueue.ts) to the
 * write of its 250. Written at exit to $LATENCY_OUT, one line per kind:
 * count, median and mean in microseconds over all but the first 200
 * (warm-up). A measuring aid: it wraps net.Socket.prototype.emit and
 * write and fs.linkSync, which costs every build the same.
 */
import fs from 'node:fs';
import net from 'node:net';

const WARM_UP = 200;
const lastRead = new WeakMap();
const byKind = new Map();
let lastLink = null;

function record(kind, since) {
  let list = byKind.get(kind);
  if (list === undefined) byKind.set(kind, (list = []));
  list.push(Number(process.hrtime.bigint() - since) / 1000);
}

const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (event, ...args) {
  if (event === 'data') lastRead.set(this, process.hrtime.bigint());
  return emit.call(this, event, ...args);
};
const linkSync = fs.linkSync;
fs.linkSync = function (...args) {
  const result = linkSync.apply(this, args);
  lastLink = process.hrtime.bigint();
  return result;
};
const write = net.Socket.prototype.write;
net.Socket.prototype.write = function (chunk, ...args) {
  const text = String(chunk);
  if (lastLink !== null && text.startsWith('250 Ok')) {
    record('link -> 250', lastLink);
    lastLink = null;
  }
  const since = lastRead.get(this);
  // The queue id in '250 Ok: queued as ...' is cut: one kind for every message.
  if (since !== undefined) record(`read -> ${text.slice(0, 12)}`, since);
  return write.call(this, chunk, ...args);
};

process.on('exit', () => {
  const lines = [];
  for (const [kind, all] of byKind) {
    const kept = all.slice(WARM_UP).sort((a, b) => a - b);
    if (kept.length === 0) continue;
    const mean = kept.reduce((sum, x) => sum + x, 0) / kept.length;
    lines.push(`${kind}\t${all.length}\t${kept[kept.length >> 1].toFixed(1)}\t${mean.toFixed(1)}`);
  }
  fs.writeFileSync(process.env.LATENCY_OUT, lines.join('\n') + '\n');
});
