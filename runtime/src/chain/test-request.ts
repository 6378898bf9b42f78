import type { GatewayRequest } from './types.ts';

/** A GatewayRequest for unit tests of middleware: GET / from 127.0.0.1 on a route named "test", overridable field by field. */
export function testRequest(overrides: Partial<GatewayRequest> = {}): GatewayRequest {
  return {
    method: 'GET',
    path: '/',
    query: '',
    headers: { host: 'gateway.test' },
    params: {},
    clientIp: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    fromTrustedProxy: false,
    protocol: 'http',
    body: null,
    signal: new AbortController().signal,
    route: { name: 'test', path: '/' } as GatewayRequest['route'],
    state: {},
    claims: null,
    instruments: null,
    upgrade: false,
    ...overrides,
  };
}
