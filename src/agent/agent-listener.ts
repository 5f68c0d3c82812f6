/**
 * The SMTP listener inside the agent (config listener.enabled): started
 * through src/frontends/listener, imported only when enabled. A listener
 * that cannot start (port taken, policy refused, module missing) is logged
 * and the agent goes on delivering: the queue matters more than intake.
 * SIGHUP tries again.
 */
export interface AgentListener {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startAgentListener(home: string, log: (line: string) => void): Promise<AgentListener | null> {
  try {
    const { startListener } = await import('../frontends/listener/start-listener.js');
    const running = await startListener({ home });
    log(`listener: accepting mail on ${running.host}:${running.port}`);
    return { address: { host: running.host, port: running.port }, close: () => running.close() };
  } catch (err) {
    log(`listener: not started: ${(err as Error).message}`);
    return null;
  }
}
