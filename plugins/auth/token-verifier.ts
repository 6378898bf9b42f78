import type { GatewayRequest } from '../../runtime/src/chain/types.ts';
import { ConfigError, formatPath } from '../../runtime/src/config/config-error.ts';
import type { PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { RefCountedSlot } from '../shared/ref-counted-slot.ts';
import { JwksCache, type JwksSettings } from './jwks-cache.ts';
import { importJwk, importPem, importSecret, type KeyImport, type VerificationKey } from './keys.ts';
import type { AuthOptions } from './options.ts';
import { ASYMMETRIC_ALGORITHMS, verifyJwt, type KeySources, type Verified } from './verify-jwt.ts';

/** Signature (or delegated) verification of one token; the claim checks come after. */
export type TokenVerifier = (token: string, req: GatewayRequest) => Promise<Verified>;

/** A verifier and what it holds: `release` when the instance is disposed (idempotent). */
export interface VerifierHandle {
  readonly verify: TokenVerifier;
  release(): void;
}

export function createTokenVerifier(opts: AuthOptions, ctx: PluginFactoryContext): VerifierHandle {
  return opts.verifier !== undefined ? { verify: delegatedVerifier(opts.verifier, ctx), release() {} } : jwtVerifier(opts, ctx);
}

function jwtVerifier(opts: AuthOptions, ctx: PluginFactoryContext): VerifierHandle {
  const keys = staticKeys(opts);
  // Acquired last: nothing after it in this function can throw and leave it held.
  const jwks = opts.jwks === undefined ? null : acquireJwks(opts.jwks, ctx);
  const sources: KeySources = {
    static: keys,
    jwks: jwks?.cache ?? null,
    jwksAlgorithms: new Set(opts.jwks?.algorithms ?? ASYMMETRIC_ALGORITHMS),
  };
  return { verify: (token) => verifyJwt(token, sources), release: () => jwks?.release() };
}

function staticKeys(opts: AuthOptions): VerificationKey[] {
  const imports: KeyImport[] = [];
  if (opts.secret !== undefined) imports.push(importSecret(undefined, opts.secret));
  for (const k of opts.keys) {
    if (k.secret !== undefined) imports.push(importSecret(k.kid, k.secret, k.algorithms));
    else if (k.publicKey !== undefined) imports.push(importPem(k.kid, k.publicKey, k.algorithms));
    else if (k.jwk !== undefined) imports.push(importJwk({ ...k.jwk, ...(k.kid !== undefined ? { kid: k.kid } : {}) }, k.algorithms));
  }
  return imports.map((imported) => {
    // The options schema imported the same keys already; this cannot fail for validated options.
    if (!imported.ok) throw new Error(`auth: ${imported.message}`);
    return imported.key;
  });
}

/**
 * The JWKS cache of one distinct setting, shared by every instance that uses it and kept across
 * config reloads (see RefCountedSlot): a reload must not empty it (and so refetch, or fail
 * requests while the identity provider is down). When no instance uses a setting any more (the
 * URL or a timing changed, the instance went), its cache and connection pool are closed.
 */
export class JwksSlot extends RefCountedSlot<JwksCache> {}

function acquireJwks(jwks: NonNullable<AuthOptions['jwks']>, ctx: PluginFactoryContext): { cache: JwksCache; release(): void } {
  const settings: JwksSettings = {
    url: jwks.url,
    timeoutMs: jwks.timeout,
    maxAgeMs: jwks.maxAge,
    cooldownMs: jwks.cooldown,
    staleIfErrorMs: jwks.staleIfError,
    algorithms: jwks.algorithms,
  };
  const url = new URL(jwks.url);
  if (url.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    ctx.logger.warn({ jwks: jwks.url }, 'the JWKS is fetched over plain HTTP: anyone on the path can substitute keys; use https');
  }
  const slot = ctx.shared(`auth:jwks:${JSON.stringify(settings)}`, () => new JwksSlot(() => new JwksCache(settings, ctx.logger)));
  const cache = slot.acquire();
  cache.warm();
  let released = false;
  return {
    cache,
    release() {
      if (released) return;
      released = true;
      slot.release();
    },
  };
}

function delegatedVerifier(name: string, ctx: PluginFactoryContext): TokenVerifier {
  const at = formatPath(['plugins', ctx.instanceName, 'options', 'verifier']);
  const handle = ctx.userPlugin(name);
  if (handle === undefined) throw new ConfigError([{ path: at, message: `no user plugin instance named "${name}" in plugins` }]);
  if (!handle.hooks.includes('verifier')) throw new ConfigError([{ path: at, message: `plugin instance "${name}" has no verifier hook` }]);
  return async function delegatedVerify(token, req) {
    let result;
    try {
      result = await handle.verify(token, req);
    } catch {
      // The handle logged the failure and emitted a plugin-error event; to the client it is a 503.
      return { ok: false, reason: 'verifier-unavailable' };
    }
    if (!result.ok) return { ok: false, reason: 'rejected' };
    const claims: unknown = result.claims;
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return { ok: false, reason: 'verifier-unavailable' };
    return { ok: true, claims: claims as Record<string, unknown> };
  };
}
