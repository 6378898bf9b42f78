import { z } from 'zod';
import { duration } from '../../runtime/src/config/units.ts';
import { ALGORITHMS, importJwk, importPem, importSecret, type KeyImport } from './keys.ts';

/**
 * The options schema of the `auth` built-in. Every object is strict and every default lives here;
 * `sdk/src/builtins/auth.ts` is the hand-written, documented input type, kept in step by
 * `options.test.ts`. Keys are imported once here so that a bad key is a config error with its
 * path (`plugins.auth.options.keys[0].publicKey`), caught by `isogate check`.
 */

const algorithm = z.enum(ALGORITHMS, { error: `expected one of ${ALGORITHMS.join(', ')}` });
const algorithms = z.array(algorithm).min(1);

/** A claim by its path: `"realm_access.roles"`, or segments when a key holds dots (`["https://example.com/roles"]`). */
const claimPath = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'expected a claim path like "sub", "realm_access.roles" or ["https://example.com/roles"]' });

const oneOrMore = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const headerName = z.string().regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');

// Headers the gateway or HTTP itself owns: propagating a claim into one would break the request
// or the authentication itself (Authorization is what the client authenticates with).
const RESERVED_HEADERS = new Set(['authorization', 'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection']);
const propagatedHeader = headerName.refine((h) => !RESERVED_HEADERS.has(h.toLowerCase()), 'this header cannot carry a claim (the gateway or HTTP owns it)');

function keyIssue(ctx: z.RefinementCtx, imported: KeyImport, path: PropertyKey[]): void {
  if (!imported.ok) ctx.addIssue({ code: 'custom', message: imported.message, path });
}

const staticKey = z
  .strictObject({
    kid: z.string().min(1).optional(),
    secret: z.string().min(1).optional(),
    publicKey: z.string().min(1).optional(),
    jwk: z.looseObject({ kty: z.string() }).optional(),
    algorithms: algorithms.optional(),
  })
  .superRefine((k, ctx) => {
    const given = (['secret', 'publicKey', 'jwk'] as const).filter((f) => k[f] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of secret, publicKey (PEM) or jwk' });
      return;
    }
    if (k.secret !== undefined) keyIssue(ctx, importSecret(k.kid, k.secret, k.algorithms), ['secret']);
    else if (k.publicKey !== undefined) keyIssue(ctx, importPem(k.kid, k.publicKey, k.algorithms), ['publicKey']);
    else keyIssue(ctx, importJwk({ ...k.jwk, ...(k.kid !== undefined ? { kid: k.kid } : {}) }, k.algorithms), ['jwk']);
  });

const httpUrl = z.string().refine((s) => {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.hash === '';
}, 'expected an http(s) URL without credentials or fragment');

const jwks = z.strictObject({
  url: httpUrl,
  /** Whole fetch (connect, headers, body). */
  timeout: duration.default(5_000),
  /** A key set this old is refreshed (in the background while it is still served). */
  maxAge: duration.default(10 * 60_000),
  /** At most one refetch per cooldown for tokens whose `kid` is not in the set. */
  cooldown: duration.default(30_000),
  /** How long past maxAge a key set may still be served while the endpoint fails. */
  staleIfError: duration.default(60 * 60_000),
  /** Restrict the algorithms accepted from the key set (default: what each key's type allows). */
  algorithms: algorithms.optional(),
});

const roles = z.strictObject({
  claim: claimPath.default('roles'),
  required: z.array(z.string().min(1)).min(1),
  match: z.enum(['any', 'all']).default('any'),
});

const cache = z.union([
  z.literal(false),
  z.strictObject({
    maxEntries: z.number().int().positive().max(1_000_000).default(10_000),
    ttl: duration.refine((ms) => ms > 0, 'expected a positive duration (use cache: false to disable)').default(60_000),
  }),
]);

export const authOptionsSchema = z
  .strictObject({
    /** The `realm` of the WWW-Authenticate challenge. */
    realm: z
      .string()
      .regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, 'expected printable ASCII without quotes or backslashes')
      .default('isogate'),
    secret: z.string().min(1).optional(),
    keys: z.array(staticKey).default([]),
    jwks: jwks.optional(),
    verifier: z.string().min(1).optional(),
    issuer: oneOrMore.optional(),
    audience: oneOrMore.optional(),
    requireExp: z.boolean().default(true),
    maxTokenAge: duration.refine((ms) => ms > 0, 'expected a positive duration').optional(),
    clockTolerance: duration.default(30_000),
    requiredClaims: z.array(claimPath).default([]),
    roles: roles.optional(),
    propagate: z.array(z.tuple([claimPath, propagatedHeader])).default([]),
    forwardToken: z.boolean().default(true),
    optional: z.boolean().default(false),
    cache: cache.default({ maxEntries: 10_000, ttl: 60_000 }),
  })
  .superRefine((o, ctx) => {
    const jwtSources = (o.secret !== undefined ? 1 : 0) + o.keys.length + (o.jwks !== undefined ? 1 : 0);
    if (o.verifier !== undefined && jwtSources > 0) {
      ctx.addIssue({ code: 'custom', path: ['verifier'], message: 'a delegated verifier replaces the JWT check: remove secret, keys and jwks' });
    } else if (o.verifier === undefined && jwtSources === 0) {
      ctx.addIssue({ code: 'custom', message: 'give a key source (secret, keys or jwks) or a verifier' });
    }
    if (o.secret !== undefined) keyIssue(ctx, importSecret(undefined, o.secret), ['secret']);
    const seen = new Set<string>();
    o.propagate.forEach(([, header], i) => {
      const lower = header.toLowerCase();
      if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: ['propagate', i, 1], message: `header ${header} is already propagated` });
      seen.add(lower);
    });
  });

export type AuthOptions = z.output<typeof authOptionsSchema>;
export type AuthOptionsInput = z.input<typeof authOptionsSchema>;
export type ClaimPathOption = z.output<typeof claimPath>;
export type JwksOptions = NonNullable<AuthOptions['jwks']>;
