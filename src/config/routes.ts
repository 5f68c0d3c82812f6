/**
 * Routes: which transport takes a recipient, by its domain. The one place
 * that maps a domain to a transport name; delivery asks `routeFor` and
 * never reads the routes text itself.
 *
 *   routes = "club.example=mx, *.club.example=mx, *=smarthost"
 *
 * Lookup order (whatever the order written): the exact domain, then the
 * nearest `*.parent` wildcard (`*.example` matches a.b.example, not
 * example), then `*`. Without a `*` rule, the rest goes to `smarthost`.
 *
 * Transports: `smarthost` (the configured smarthost and its fallbacks) and
 * `mx` (direct delivery). Accounts (issue 8) add their names to
 * `transports` when they parse routes; a route naming an unknown transport
 * is a config error (exit 78) naming the rule.
 */
import { configError } from '../errors.js';

export type TransportName = string;

export const BUILTIN_TRANSPORTS: readonly TransportName[] = ['smarthost', 'mx'];

export interface RouteTable {
  exact: Map<string, TransportName>;
  /** Keyed by the parent domain: "*.example" is stored as "example". */
  wildcard: Map<string, TransportName>;
  fallback: TransportName;
  /** True when every rule names the same transport: nothing to split. */
  single: boolean;
}

export const DEFAULT_ROUTES = '*=smarthost';

export function parseRoutes(
  text: string,
  transports: readonly TransportName[] = BUILTIN_TRANSPORTS,
  key = 'routes',
): RouteTable {
  const table: RouteTable = { exact: new Map(), wildcard: new Map(), fallback: 'smarthost', single: true };
  const seen = new Set<TransportName>();
  for (const raw of text.split(',')) {
    const rule = raw.trim();
    if (rule === '') continue;
    const eq = rule.indexOf('=');
    const pattern = (eq < 0 ? '' : rule.slice(0, eq)).trim().toLowerCase().replace(/\.$/, '');
    const transport = (eq < 0 ? '' : rule.slice(eq + 1)).trim();
    if (pattern === '' || transport === '') {
      throw configError(`${key}: "${rule}" is not a rule; write domain=transport, e.g. club.example=mx,*=smarthost`);
    }
    if (!transports.includes(transport)) {
      throw configError(`${key}: "${rule}" names the transport "${transport}"; known: ${transports.join(', ')}`);
    }
    let target: Map<string, TransportName> | null;
    let name: string;
    if (pattern === '*') {
      target = null;
      name = '*';
    } else if (pattern.startsWith('*.')) {
      target = table.wildcard;
      name = pattern.slice(2);
    } else {
      target = table.exact;
      name = pattern;
    }
    if (name !== '*' && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
      throw configError(`${key}: "${pattern}" is not a domain, *.domain or *`);
    }
    if (target === null) table.fallback = transport;
    else target.set(name, transport);
    seen.add(transport);
  }
  seen.add(table.fallback);
  table.single = seen.size === 1;
  return table;
}

export function routeFor(table: RouteTable, domain: string): TransportName {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const exact = table.exact.get(name);
  if (exact !== undefined) return exact;
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
    const wildcard = table.wildcard.get(name.slice(dot + 1));
    if (wildcard !== undefined) return wildcard;
  }
  return table.fallback;
}

/** Does any rule send mail to this transport? (A flush skips what nothing uses.) */
export function usesTransport(table: RouteTable, transport: TransportName): boolean {
  return (
    table.fallback === transport ||
    [...table.exact.values()].includes(transport) ||
    [...table.wildcard.values()].includes(transport)
  );
}

/**
 * Does any rule send mail through an account (`smarthost`, or an
 * account's name)? Only a table whose every rule is `mx` does not. A
 * flush asks it for entries with nothing due but a bounce to queue: they
 * go with their sender's account when this is true, direct otherwise.
 */
export function routesUseAccounts(table: RouteTable): boolean {
  return !(table.single && table.fallback === 'mx');
}
