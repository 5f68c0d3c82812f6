/**
 * The listener's JavaScript without its spool, for bench/listen-latency.sh (SERVER=discard):
 * a given build's SMTP intake with the listener's address checks, each
 * message through prepareMessage, a queue id, its entry state built and
 * serialized, then dropped (no file is written). The CPU it takes per
 * message is the JavaScript side of `bulkmailer listen`, apart from the
 * spool's file operations and fsyncs, and moves far less with the
 * machine's load than the listener's own.
 *
 *   node bench/intake-discard.mjs BUILT_CHECKOUT PORT    # serves 127.0.0.1:PORT until SIGINT/SIGTERM
 */
const [root, port] = process.argv.slice(2);
const dist = (file) => import(`${root}/dist/${file}`);
const { IntakeServer } = await dist('frontends/smtp-intake/intake-server.js');
const { prepareMessage } = await dist('message/prepare-message.js');
const { isEnvelopeAddress, normalizeRecipients } = await dist('model/address.js');
const { newQueueId, allBuckets } = await dist('model/queue-id.js');
const { newEntryState, serializeEntryState } = await dist('model/entry-state.js');

const buckets = allBuckets();
let messages = 0;
const server = new IntakeServer({ name: 'discard', banner: 'ready', maxMessageSize: 50 * 1024 * 1024, tls: null, auth: false }, {
  onMailFrom: (address) => (address !== '' && !isEnvelopeAddress(address) ? { code: 553, text: 'Error: bad sender' } : null),
  onRcptTo: (address) => (isEnvelopeAddress(address) ? null : { code: 553, text: 'Error: bad recipient' }),
  async onData(message, session) {
    const from = session.mailFrom ?? '';
    const recipients = [...session.recipients];
    const prepared = await prepareMessage(message);
    let size = 0;
    for await (const chunk of prepared.message) size += chunk.length;
    const now = Date.now();
    // A bucket per message in turn, as the enqueue's commit groups pick one.
    const id = newQueueId(now, buckets[messages++ % buckets.length]);
    const state = newEntryState({ id, from, recipients: normalizeRecipients(recipients), now, size, subject: prepared.subject, messageId: prepared.messageId });
    serializeEntryState(state);
    return { code: 250, text: `Ok: queued as ${id}` };
  },
});
server.server.listen(Number(port), '127.0.0.1');
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(0));
