/**
 * The machine's network interfaces as the watcher sees them: the external
 * (non-loopback) addresses, and a fingerprint that changes when one appears,
 * disappears or changes address (Wi-Fi joined, VPN up, cable pulled).
 *
 * os.networkInterfaces() is one local getifaddrs(3) call: no network
 * traffic, cheap enough to poll every few seconds. It can throw on exotic
 * systems (seen on some Android/WSL builds); then we answer "no interfaces",
 * which only makes the watcher less eager, never wrong about delivery (the
 * smarthost probe has the final word).
 */
import os from 'node:os';

export type InterfaceTable = NodeJS.Dict<os.NetworkInterfaceInfo[]>;
export type ReadInterfaces = () => InterfaceTable;

export interface ExternalAddress {
  name: string;
  family: 'IPv4' | 'IPv6';
  address: string;
}

export function readInterfaces(): InterfaceTable {
  try {
    return os.networkInterfaces();
  } catch {
    return {};
  }
}

/** Non-internal addresses, sorted, so two reads of an unchanged machine compare equal. */
export function externalAddresses(table: InterfaceTable): ExternalAddress[] {
  const out: ExternalAddress[] = [];
  for (const [name, infos] of Object.entries(table)) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      out.push({ name, family: info.family, address: info.address });
    }
  }
  return out.sort((a, b) => `${a.name} ${a.address}`.localeCompare(`${b.name} ${b.address}`));
}

/** One line per external address: "wlan0 IPv4 192.168.1.20". */
export function interfaceFingerprint(table: InterfaceTable): string[] {
  return externalAddresses(table).map((a) => `${a.name} ${a.family} ${a.address}`);
}

export interface InterfaceDiff {
  added: string[];
  removed: string[];
}

export function diffFingerprints(before: readonly string[], after: readonly string[]): InterfaceDiff {
  const old = new Set(before);
  const now = new Set(after);
  return {
    added: after.filter((line) => !old.has(line)),
    removed: before.filter((line) => !now.has(line)),
  };
}
