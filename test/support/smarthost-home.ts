/**
 * The usual start of a delivery test: a capture smarthost on 127.0.0.1
 * and a fresh home whose config sends to it (plus any other keys), both
 * gone after the test.
 */
import { startCaptureServer, type CaptureOptions, type CaptureServer } from './capture-server.js';
import { makeTempHome, writeConfig } from './home.js';

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
