/**
 * The adapter over nodemailer's private fields (src/delivery/nodemailer-private.ts)
 * against the installed nodemailer and a real SMTP server on 127.0.0.1:
 * if an upgrade renames or reshapes `_envelope` or `_supportedExtensions`,
 * this fails before promise 3 (a transaction broken after an accepted
 * recipient stays pending: a possible duplicate, never a loss) silently does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { corkUntilNextTurn, offeredExtensions, transactionSoFar } from '../../src/delivery/nodemailer-private.js';
import { connectSmtp } from '../../src/delivery/smtp-session.js';
import { startCaptureServer } from '../support/capture-server.js';

function send(connection: SMTPConnection, to: string[]): Promise<Error | null> {
  return new Promise((resolve) => {
    connection.send({ from: 'list@example.org', to }, 'Subject: x\r\n\r\nbody\r\n', (err) => resolve(err ?? null));
  });
}

test('a link cut after DATA: the adapter still knows which recipients the server had accepted', async (t) => {
  const server = await startCaptureServer({
    rcptReply: (address) => (address === 'nobody@example.net' ? { code: 550, message: '5.1.1 no such user' } : null),
    dropAfter: 0,
  });
  t.after(() => server.close());
  const connection = new SMTPConnection({ host: '127.0.0.1', port: server.port, logger: false, ignoreTLS: true });
  t.after(() => connection.close());
  await connectSmtp(connection);
  connection.on('error', () => {}); // the cut below is also reported as an event
  assert.equal(transactionSoFar(connection), null, 'no transaction yet');
  assert.ok(offeredExtensions(connection).includes('PIPELINING'), `extensions: ${offeredExtensions(connection).join(' ')}`);

  const err = await send(connection, ['a@example.net', 'nobody@example.net', 'b@example.net']);
  assert.ok(err !== null, 'the cut fails the send');
  const sofar = transactionSoFar(connection);
  assert.ok(sofar !== null, 'the envelope of the broken transaction is still readable');
  assert.deepEqual(sofar.accepted, ['a@example.net', 'b@example.net']);
  assert.equal(sofar.rejectedErrors.length, 1);
  assert.equal(sofar.rejectedErrors[0]!.recipient, 'nobody@example.net');
  assert.equal(sofar.rejectedErrors[0]!.responseCode, 550);
});

test('anything else in those fields reads as nothing known, never a throw', () => {
  const fake = (fields: Record<string, unknown>) => fields as unknown as SMTPConnection;
  assert.equal(transactionSoFar(fake({ _envelope: false })), null);
  assert.deepEqual(transactionSoFar(fake({ _envelope: { accepted: 'a', rejectedErrors: [1, { message: 'm' }] } })), {
    accepted: [],
    rejectedErrors: [{ message: 'm' }],
  });
  assert.deepEqual(offeredExtensions(fake({})), []);
  assert.deepEqual(offeredExtensions(fake({ _supportedExtensions: ['SMTPUTF8', 7] })), ['SMTPUTF8']);
});

test('the socket can be corked: two writes in one turn leave together, and it is uncorked at the next turn', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const connection = new SMTPConnection({ host: '127.0.0.1', port: server.port, logger: false, ignoreTLS: true });
  t.after(() => connection.close());
  await connectSmtp(connection);
  const socket = (connection as unknown as { _socket: { writableCorked: number } })._socket;
  assert.equal(socket.writableCorked, 0);
  assert.equal(corkUntilNextTurn(connection), true, 'nodemailer still keeps its socket in _socket');
  assert.equal(socket.writableCorked, 1, 'corked');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(socket.writableCorked, 0, 'uncorked at the next turn');
  // The session still works after it.
  assert.equal(await send(connection, ['a@example.net']), null);
  assert.equal(server.messages.length, 1);
  assert.equal(corkUntilNextTurn({} as unknown as SMTPConnection), false, 'no socket: nothing to cork, no throw');
});
