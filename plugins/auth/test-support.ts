import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { RequestEvent } from '../../runtime/src/chain/instruments.ts';
import { testRequest } from '../../runtime/src/chain/test-request.ts';
import type { GatewayRequest, GatewayResponse } from '../../runtime/src/chain/types.ts';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import type { PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { authPlugin } from './index.ts';
import { authOptionsSchema, type AuthOptionsInput } from './options.ts';

/** Test fixtures for the auth plugin's tests (units and end to end). Not part of the plugin. */

export const SECRET = 'test-secret-that-is-at-least-32-bytes-long';
export const nowSec = (): number => Math.floor(Date.now() / 1000);

export function rsaKeys(): { publicKey: KeyObject; privateKey: KeyObject; publicPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { publicKey, privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** A properly signed token (jose), valid for an hour unless the claims say otherwise. */
export function signToken(claims: JWTPayload, key: KeyObject | string = SECRET, header: { alg?: string; kid?: string } = {}): Promise<string> {
  const k = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  const alg = header.alg ?? (typeof key === 'string' || key.type === 'secret' ? 'HS256' : 'RS256');
  return new SignJWT({ iat: nowSec(), exp: nowSec() + 3600, ...claims }).setProtectedHeader({ alg, ...(header.kid ? { kid: header.kid } : {}) }).sign(k);
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A hand-made token: any header, any payload, signed with HMAC over `hmacSecret` (or unsigned). */
export function forgeToken(header: Record<string, unknown>, payload: Record<string, unknown>, hmacSecret?: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature = hmacSecret === undefined ? '' : createHmac('sha256', hmacSecret).update(input).digest('base64url');
  return `${input}.${signature}`;
}

/** An RS256 token signed by hand (for headers jose's SignJWT would not write). */
export function rsaToken(header: Record<string, unknown>, payload: Record<string, unknown>, privateKey: KeyObject): string {
  const input = `${b64({ alg: 'RS256', ...header })}.${b64(payload)}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

export function factoryContext(overrides: Partial<PluginFactoryContext> = {}): PluginFactoryContext {
  const shared = new Map<string, unknown>();
  return {
    instanceName: 'auth',
    logger: silentLogger(),
    config: {} as PluginFactoryContext['config'],
    shared: <T>(key: string, create: () => T) => {
      if (!shared.has(key)) shared.set(key, create());
      return shared.get(key) as T;
    },
    onGatewayEvent: () => () => {},
    userPlugin: () => undefined,
    ...overrides,
  };
}

export interface AuthHarness {
  /** Run one request through the middleware; `seen` is what reached the next handler. */
  run(init?: Partial<GatewayRequest> & { token?: string }): Promise<{ res: GatewayResponse; seen: GatewayRequest | null; events: RequestEvent[] }>;
  calls: number;
  /** The instance's dispose (what a retired routing table calls). */
  dispose(): Promise<void>;
}

/** The auth middleware over a next handler that answers 200 and records what it saw. */
export function authHarness(options: AuthOptionsInput, ctx: Partial<PluginFactoryContext> = {}): AuthHarness {
  const parsed = authOptionsSchema.parse(options);
  const instance = authPlugin.create(parsed, factoryContext(ctx));
  const created = typeof instance === 'function' ? instance : instance.middleware;
  let seen: GatewayRequest | null = null;
  const harness: AuthHarness = {
    calls: 0,
    async dispose() {
      if (typeof instance !== 'function') await instance.dispose?.();
    },
    async run(init = {}) {
      const { token, ...rest } = init;
      const events: RequestEvent[] = [];
      const req = testRequest({ ...rest, headers: { host: 'gateway.test', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...rest.headers } });
      req.instruments = [{ event: (_req, ev) => events.push(ev) }];
      seen = null;
      const handler = created(async (r) => {
        harness.calls++;
        seen = r;
        return { status: 200, headers: {}, body: 'ok' };
      });
      const res = await handler(req);
      return { res, seen, events };
    },
  };
  return harness;
}
