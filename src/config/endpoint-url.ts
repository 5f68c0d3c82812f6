/**
 * HTTP endpoints the program sends secrets to (OAuth2 token endpoints, with
 * a client secret and refresh token in the body): https only, or http to a
 * loopback host, the same rule as credentials to a smarthost (nothing
 * secret crosses the network in clear). Fails with a config error (78)
 * naming the key; the URL is shown without any user:password part.
 */
import { configError } from '../errors.js';
import { isLoopbackHost, redactUrl } from './smarthost.js';

export function checkEndpointUrl(text: string, key: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw configError(`${key}: "${redactUrl(text)}" is not a URL`, 'E_CONFIG_URL');
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw configError(
    `${key}: ${url.protocol === 'http:' ? `http:// to ${url.hostname} would send secrets in clear; use https://` : `"${url.protocol}" is not https:`}`,
    'E_CONFIG_URL',
  );
}
