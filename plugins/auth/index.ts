import { emitRequestEvent } from '../../runtime/src/chain/instruments.ts';
import type { GatewayRequest, GatewayResponse, Middleware } from '../../runtime/src/chain/types.ts';
import type { BuiltinInstance, BuiltinPlugin, PluginFactoryContext } from '../../runtime/src/plugins/builtin-plugin.ts';
import { BAD_TOKEN, NO_TOKEN, bearerToken } from './bearer.ts';
import { compileRejections } from './challenge.ts';
import { checkClaims, compileClaimRules, compileRoleCheck, deepFreeze } from './claims.ts';
import { createTokenVerifier, type TokenVerifier } from './token-verifier.ts';
import { authOptionsSchema, type AuthOptions } from './options.ts';
import { compilePropagation } from './propagate.ts';
import type { AuthFailure } from './reasons.ts';
import { TokenCache, type CachedToken } from './token-cache.ts';

export type { AuthOptions } from './options.ts';
export { AUTH_FAILURES, type AuthFailure } from './reasons.ts';

type Outcome = { ok: true; entry: CachedToken } | { ok: false; reason: AuthFailure };

/**
 * Built-in `auth`: Bearer JWT verification (keys from a secret, PEM/JWK or a remote JWKS), or a
 * user plugin's `verifier` hook; claim checks, roles, claims into `req.claims` and upstream
 * headers. See README.md for the options and the policy behind them.
 */
export const authPlugin: BuiltinPlugin<AuthOptions> = {
  name: 'auth',
  options: authOptionsSchema,
  create(opts: AuthOptions, ctx: PluginFactoryContext): BuiltinInstance {
    const verifier = createTokenVerifier(opts, ctx);
    try {
      return { middleware: authMiddleware(opts, ctx, verifier.verify), dispose: () => verifier.release() };
    } catch (err) {
      verifier.release();
      throw err;
    }
  },
};

function authMiddleware(opts: AuthOptions, ctx: PluginFactoryContext, verify: TokenVerifier): Middleware {
  const delegated = opts.verifier !== undefined;
  const rules = compileClaimRules(opts, delegated);
  const hasRoles = compileRoleCheck(opts.roles);
  const propagation = compilePropagation(opts.propagate);
  const rejection = compileRejections(opts.realm);
  const cache = opts.cache === false ? null : new TokenCache(opts.cache.maxEntries, opts.cache.ttl);
  const { optional, forwardToken } = opts;
  const plugin = ctx.instanceName;
  const log = ctx.logger;

  function refuse(req: GatewayRequest, reason: AuthFailure): GatewayResponse {
    emitRequestEvent(req, { type: 'auth-failed', plugin, reason });
    log.debug({ route: req.route.name, reason }, 'request refused');
    return rejection(reason);
  }

  async function verifyAndCheck(token: string, req: GatewayRequest): Promise<Outcome> {
    const verified = await verify(token, req);
    if (!verified.ok) return verified;
    const claims = deepFreeze(verified.claims);
    // The clock is read after verification: a delegated verifier may take a while.
    const now = Date.now();
    const checked = checkClaims(claims, rules, now);
    if (!checked.ok) return checked;
    const entry: CachedToken = { claims, allowed: hasRoles === null || hasRoles(claims), validUntil: checked.validUntilMs };
    cache?.set(token, claims, entry.allowed, entry.validUntil, now);
    return { ok: true, entry };
  }

  return (next) =>
    async function authenticate(req) {
      if (propagation !== null) propagation.strip(req.headers);
      const token = bearerToken(req.headers['authorization']);
      if (token === NO_TOKEN) {
        if (!optional) return refuse(req, 'missing');
        // Anonymous: the upstream sees a verified bearer token or no Authorization at all,
        // never credentials of another scheme it might honour (or misread as a bearer token).
        if (req.headers['authorization'] !== undefined) delete req.headers['authorization'];
        return next(req);
      }
      if (token === BAD_TOKEN) return refuse(req, 'malformed');

      let entry = cache?.get(token, Date.now());
      if (entry === undefined) {
        const outcome = await verifyAndCheck(token, req);
        if (!outcome.ok) return refuse(req, outcome.reason);
        entry = outcome.entry;
      }
      if (!entry.allowed) return refuse(req, 'forbidden');

      req.claims = entry.claims;
      if (propagation !== null) propagation.apply(req.headers, entry.claims);
      if (!forwardToken) delete req.headers['authorization'];
      return next(req);
    };
}
