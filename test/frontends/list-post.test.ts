/**
 * End to end for list software: a list post of 500 recipients in one SMTP
 * transaction through the listener (as Mailman sends it), then one flush to
 * a real smarthost on 127.0.0.1: each member receives the post exactly once,
 * byte for byte, and the spool is empty afterwards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { startListener } from '../../src/frontends/listener/start-listener.js';
import { flushQueue } from '../../src/flush/flush.js';
import { listEntryIds, listStateFileIdsIncludingFinished, openSpool } from '../../src/spool/index.js';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';

describe('list post through the listener', () => {
  it('500 recipients in one transaction, flushed: each receives it once', async () => {
    const temp = await makeTempHome();
    const smarthost = await startCaptureServer();
    await writeConfig(temp.home, { smarthost: smarthost.url, maxRecipientsPerTransaction: 100, concurrency: 4 });
    const listener = await startListener({ home: temp.home, port: 0, nudge: false });
    try {
      const members = Array.from({ length: 500 }, (_, i) => `member${String(i).padStart(3, '0')}@list${i % 7}.example.org`);
      const raw =
        'From: Announce <announce@lists.example.org>\r\nTo: announce@lists.example.org\r\nSubject: [announce] Release 1.0\r\n' +
        'Message-ID: <release-1.0@lists.example.org>\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nList-Id: <announce.lists.example.org>\r\n\r\n' +
        'Release 1.0 is out.\r\n';
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, ignoreTLS: true });
      const info = await transport.sendMail({ envelope: { from: 'announce-bounces@lists.example.org', to: members }, raw });
      transport.close();
      assert.equal(info.accepted.length, 500);
      const spool = await openSpool(temp.home);
      assert.equal((await listEntryIds(spool)).length, 1);

      const result = await flushQueue({ home: temp.home });
      assert.equal(result.outcome, 'done');
      assert.equal(result.exitCode, 0);
      assert.equal(result.sent, 500);
      const counts = smarthost.deliveriesByRecipient();
      assert.equal(counts.size, 500);
      for (const member of members) assert.equal(counts.get(member), 1, member);
      for (const message of smarthost.messages) {
        assert.equal(message.from, 'announce-bounces@lists.example.org');
        assert.equal(message.raw.toString(), raw);
      }
      assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
    } finally {
      await listener.close();
      await smarthost.close();
      await temp.cleanup();
    }
  });
});
