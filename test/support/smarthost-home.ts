/**
 * The usual start of a delivery test: a capture smarthost on 127.0.0.1
 * and a fresh home whose config sends to it (plus any other keys), both
 * gone after the test; or two, for two accounts split by routes.
 */
import { startCaptureServer, type CaptureOptions, type CaptureServer } from './capture-server.js';
import { makeTempHome, writeConfig } from './home.js';
import { homeWithSpool } from './spool-fixtures.js';
import type { Spool } from '../../src/spool/index.js';

export async function smarthostAndHome(
  t: { after: (fn: () => Promise<void>) => void },
  config: Record<string, unknown> = {},
  capture: CaptureOptions = {},
): Promise<{ server: CaptureServer; home: string }> {
  const server = await startCaptureServer(capture);
  t.after(() => server.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { smarthost: server.url, ...config });
  return { server, home };
}

/**
 * Two accounts on two capture smarthosts: the default one, and `relay`,
 * which partner.example is routed to (its own sender is
 * relay-only@nowhere.example); a fresh home and spool, all gone after the
 * test. `relayUrl` may add credentials to relay's URL.
 */
export async function partnerRoutedHome(
  t: { after: (fn: () => Promise<void>) => void },
  options: { main?: CaptureOptions; relay?: CaptureOptions; relayUrl?: (relay: CaptureServer) => string; config?: Record<string, unknown> } = {},
): Promise<{ main: CaptureServer; relay: CaptureServer; home: string; spool: Spool }> {
  const main = await startCaptureServer(options.main);
  const relay = await startCaptureServer(options.relay);
  t.after(async () => {
    await main.close();
    await relay.close();
  });
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, {
    smarthost: main.url,
    routes: 'partner.example=relay,*=smarthost',
    accounts: { relay: { smarthost: options.relayUrl?.(relay) ?? relay.url, senders: ['relay-only@nowhere.example'] } },
    ...options.config,
  });
  return { main, relay, home, spool };
}
