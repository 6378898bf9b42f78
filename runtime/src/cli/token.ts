import { createPrivateKey, createPublicKey, createSecretKey, randomUUID, type JsonWebKeyInput, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SignJWT, type JWTPayload } from 'jose';
import { compatibleAlgorithms, type Algorithm } from '../../../plugins/auth/keys.ts';
import { compileClaimPath } from '../../../plugins/auth/claims.ts';
import type { AuthOptions } from '../../../plugins/auth/options.ts';
import { loadConfigFile } from '../config/load-config.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { builtinPlugins } from '../plugins/builtins.ts';

/** `isogate token`: a development JWT that an `auth` instance of the config accepts. */
export interface TokenFlags {
  config: string;
  sub: string;
  roles?: string;
  ttl: string;
  plugin?: string;
  key?: string;
  kid?: string;
  claim: string[];
}

/** A problem with what was asked (exit 2), said in one sentence. */
export class TokenUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenUsageError';
  }
}

export interface DevToken {
  token: string;
  instance: string;
  alg: Algorithm;
  expiresAt: Date;
  warnings: string[];
}

const TTL = /^(\d+)(s|m|h|d)?$/;

/** `90`, `30s`, `15m`, `1h`, `7d` → seconds. */
export function parseTtl(ttl: string): number {
  const m = TTL.exec(ttl.trim());
  if (!m || Number(m[1]) === 0) throw new TokenUsageError(`--ttl ${JSON.stringify(ttl)}: expected a positive duration like 30s, 15m, 1h or 7d`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
}

function pickInstance(config: ResolvedConfig, wanted: string | undefined): [string, AuthOptions] {
  const auth = Object.entries(config.plugins).filter(([, p]) => p.kind === 'builtin' && p.use === 'auth');
  if (wanted !== undefined) {
    const found = auth.find(([name]) => name === wanted);
    if (!found) {
      const known = auth.length > 0 ? `the auth instances are: ${auth.map(([n]) => n).join(', ')}` : 'it has no auth instance';
      throw new TokenUsageError(`--plugin ${wanted}: no auth plugin instance of that name in the config (${known})`);
    }
    return [found[0], found[1].options as AuthOptions];
  }
  if (auth.length === 0) throw new TokenUsageError('the config has no auth plugin instance (plugins.<name>: { use: "auth", ... })');
  if (auth.length > 1) throw new TokenUsageError(`the config has several auth instances (${auth.map(([n]) => n).join(', ')}): choose one with --plugin`);
  return [auth[0]![0], auth[0]![1].options as AuthOptions];
}

interface Signer {
  key: KeyObject;
  alg: Algorithm;
  kid: string | undefined;
}

function secretSigner(name: string, opts: AuthOptions, kidFlag: string | undefined): Signer {
  if (opts.verifier !== undefined) {
    throw new TokenUsageError(`plugins.${name} delegates to the verifier "${opts.verifier}": its tokens come from that verifier's issuer, not from isogate token`);
  }
  const configured = opts.secret !== undefined ? { secret: opts.secret, kid: undefined, algorithms: undefined } : opts.keys.find((k) => k.secret !== undefined);
  if (configured?.secret === undefined) {
    const verifiesWith = opts.jwks ? `the JWKS at ${opts.jwks.url}` : 'public keys';
    throw new TokenUsageError(`plugins.${name} has no HMAC secret to sign with (it verifies with ${verifiesWith}): pass --key <private key file> (PEM or JWK)`);
  }
  const key = createSecretKey(Buffer.from(configured.secret, 'utf8'));
  return { key, alg: configured.algorithms?.[0] ?? 'HS256', kid: kidFlag ?? configured.kid };
}

async function keyFileSigner(file: string, opts: AuthOptions, kidFlag: string | undefined): Promise<Signer> {
  const text = await readFile(file, 'utf8');
  let key: KeyObject;
  let kid = kidFlag;
  let jwkAlg: string | undefined;
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as Record<string, unknown>;
      kid ??= typeof jwk['kid'] === 'string' ? jwk['kid'] : undefined;
      jwkAlg = typeof jwk['alg'] === 'string' ? jwk['alg'] : undefined;
      if (jwk['kty'] === 'oct') key = createSecretKey(Buffer.from(String(jwk['k']), 'base64url'));
      else key = createPrivateKey({ key: jwk, format: 'jwk' } as JsonWebKeyInput);
    } else {
      key = createPrivateKey(text);
    }
  } catch {
    throw new TokenUsageError(`--key ${file}: not a readable private key (PEM or JWK)`);
  }
  const publicSide = key.type === 'secret' ? key : createPublicKey(key);
  const candidates = compatibleAlgorithms(publicSide);
  if (candidates.length === 0) throw new TokenUsageError(`--key ${file}: this key type cannot sign a JWT the auth plugin accepts`);
  // Prefer what the key itself or the instance pins, so the token passes the algorithm check.
  const pinned = [jwkAlg, ...(opts.jwks?.algorithms ?? []), ...opts.keys.flatMap((k) => k.algorithms ?? [])];
  const alg = (pinned.find((a) => candidates.includes(a as Algorithm)) as Algorithm | undefined) ?? candidates[0]!;
  return { key, alg, kid };
}

/** Put `value` at a claim path, creating the objects on the way. */
function setClaim(claims: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = claims;
  for (const segment of path.slice(0, -1)) {
    const next = at[segment];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) at[segment] = {};
    at = at[segment] as Record<string, unknown>;
  }
  at[path[path.length - 1]!] = value;
}

function parseClaimFlag(flag: string): [string[], unknown] {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new TokenUsageError(`--claim ${JSON.stringify(flag)}: expected name=value`);
  const raw = flag.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // Not JSON: the text itself.
  }
  return [flag.slice(0, eq).split('.'), value];
}

/** Build and sign the token for one auth instance of a resolved config. */
export async function createDevToken(config: ResolvedConfig, flags: Omit<TokenFlags, 'config'>, now = Date.now()): Promise<DevToken> {
  const [name, opts] = pickInstance(config, flags.plugin);
  const ttl = parseTtl(flags.ttl);
  const signer = flags.key !== undefined ? await keyFileSigner(flags.key, opts, flags.kid) : secretSigner(name, opts, flags.kid);
  const warnings: string[] = [];
  const iat = Math.floor(now / 1000);
  const claims: Record<string, unknown> = { sub: flags.sub, iat, exp: iat + ttl, jti: randomUUID() };
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  if (opts.issuer !== undefined) claims['iss'] = first(opts.issuer);
  if (opts.audience !== undefined) claims['aud'] = first(opts.audience);

  const roles = flags.roles === undefined ? [] : flags.roles.split(',').map((r) => r.trim()).filter((r) => r !== '');
  const rolePath = compileClaimPath(opts.roles?.claim ?? 'roles');
  if (roles.length > 0) {
    // OAuth scopes are one space-separated string (RFC 8693 §4.2); roles are usually an array.
    const last = rolePath[rolePath.length - 1];
    setClaim(claims, rolePath, last === 'scope' || last === 'scp' ? roles.join(' ') : roles);
  }
  for (const flag of flags.claim) {
    const [path, value] = parseClaimFlag(flag);
    setClaim(claims, path, value);
  }

  if (opts.roles) {
    const granted = new Set(roles);
    const ok = opts.roles.match === 'all' ? opts.roles.required.every((r) => granted.has(r)) : opts.roles.required.some((r) => granted.has(r));
    if (!ok) warnings.push(`plugins.${name} requires ${opts.roles.match === 'all' ? 'all' : 'one'} of the roles ${opts.roles.required.join(', ')}: this token will get 403 (use --roles)`);
  }
  for (const path of opts.requiredClaims.map(compileClaimPath)) {
    let v: unknown = claims;
    for (const s of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[s] : undefined;
    if (v === undefined || v === null) warnings.push(`plugins.${name} requires the claim ${path.join('.')}: add it with --claim ${path.join('.')}=<value>`);
  }
  if (opts.maxTokenAge !== undefined && ttl * 1000 > opts.maxTokenAge) {
    warnings.push(`plugins.${name} refuses tokens older than ${opts.maxTokenAge / 1000} s (maxTokenAge), before this --ttl runs out`);
  }

  const header = { alg: signer.alg, typ: 'JWT', ...(signer.kid !== undefined ? { kid: signer.kid } : {}) };
  const token = await new SignJWT(claims as JWTPayload).setProtectedHeader(header).sign(signer.key);
  return { token, instance: name, alg: signer.alg, expiresAt: new Date((iat + ttl) * 1000), warnings };
}

/** The command: prints the token alone on stdout (`TOKEN=$(isogate token)`), notes on stderr. */
export async function tokenCommand(flags: TokenFlags): Promise<void> {
  const loaded = await loadConfigFile(flags.config, builtinPlugins);
  for (const host of loaded.userPlugins.values()) host.dispose();
  let dev: DevToken;
  try {
    dev = await createDevToken(loaded.config, flags);
  } catch (err) {
    if (!(err instanceof TokenUsageError)) throw err;
    process.stderr.write(`isogate token: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  for (const w of dev.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stderr.write(`# plugins.${dev.instance}, ${dev.alg}, expires ${dev.expiresAt.toISOString()}\n`);
  process.stdout.write(`${dev.token}\n`);
}
