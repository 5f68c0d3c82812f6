/**
 * Routes: exact domain, then the nearest *.parent, then *; unknown
 * transports and malformed rules are config errors (exit 78).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoutes, routeFor, routesUseAccounts, usesTransport } from '../../src/config/routes.js';
import { makeTempHome } from '../support/home.js';
import { runCli } from '../support/cli.js';

test('exact, then the nearest *.parent, then *', () => {
  const table = parseRoutes('*=smarthost, *.example=mx, club.example=smarthost, *.lists.club.example=mx');
  assert.equal(routeFor(table, 'club.example'), 'smarthost');
  assert.equal(routeFor(table, 'Other.Example.'), 'mx');
  assert.equal(routeFor(table, 'a.lists.club.example'), 'mx');
  assert.equal(routeFor(table, 'lists.club.example'), 'mx', '*.example matches below example');
  assert.equal(routeFor(table, 'example'), 'smarthost', '*.example does not match example itself');
  assert.equal(routeFor(table, 'gmail.com'), 'smarthost');
  assert.equal(table.single, false);
});

test('the default sends everything to the smarthost; *=mx everything direct', () => {
  const table = parseRoutes('*=smarthost');
  assert.equal(table.single, true);
  assert.equal(routeFor(table, 'any.example'), 'smarthost');
  assert.equal(usesTransport(table, 'mx'), false);
  const direct = parseRoutes('*=mx');
  assert.equal(routeFor(direct, 'any.example'), 'mx');
  assert.equal(usesTransport(direct, 'smarthost'), false);
  // Without a * rule the rest goes to the smarthost.
  const partial = parseRoutes('club.example=mx');
  assert.equal(routeFor(partial, 'x.example'), 'smarthost');
  assert.equal(partial.single, false);
});

test('routes use accounts unless every rule is mx', () => {
  const accounts = ['smarthost', 'mx', 'work'];
  assert.equal(routesUseAccounts(parseRoutes('*=smarthost')), true);
  assert.equal(routesUseAccounts(parseRoutes('*=mx')), false);
  assert.equal(routesUseAccounts(parseRoutes('club.example=mx, *.club.example=mx, *=mx')), false, 'every rule mx');
  assert.equal(routesUseAccounts(parseRoutes('club.example=mx')), true, 'the rest goes to the smarthost');
  assert.equal(routesUseAccounts(parseRoutes('*=mx, club.example=smarthost')), true, 'one rule through an account');
  assert.equal(routesUseAccounts(parseRoutes('*=work', accounts)), true, "an account's name");
  assert.equal(routesUseAccounts(parseRoutes('*=mx, *.work.example=work', accounts)), true);
});

test('bad rules and unknown transports are config errors that name the rule', () => {
  const isConfig = (pattern: RegExp) => (err: Error & { exitCode?: number }) => err.exitCode === 78 && pattern.test(err.message);
  assert.throws(() => parseRoutes('club.example'), isConfig(/"club\.example" is not a rule/));
  assert.throws(() => parseRoutes('club.example=postfix'), isConfig(/transport "postfix"; known: smarthost, mx/));
  assert.throws(() => parseRoutes('bad domain=mx'), isConfig(/not a domain/));
  // Accounts extend the known transports.
  assert.equal(routeFor(parseRoutes('club.example=work', ['smarthost', 'mx', 'work']), 'club.example'), 'work');
});

test('config set refuses a route to an unknown transport and a resolver that is a name (exit 78), keeps a good one', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const bad = await runCli(['config', 'set', 'routes', 'club.example=postfix'], { home });
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /transport "postfix"/);
  const resolver = await runCli(['config', 'set', 'mx.resolvers', 'dns.example'], { home });
  assert.equal(resolver.code, 78);
  const good = await runCli(['config', 'set', 'routes', 'club.example=mx,*=smarthost'], { home });
  assert.equal(good.code, 0, good.stderr);
  assert.equal((await runCli(['config', 'get', 'routes'], { home })).stdout.trim(), 'club.example=mx,*=smarthost');
});
