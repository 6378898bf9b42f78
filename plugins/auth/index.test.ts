import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError } from '../../runtime/src/config/config-error.ts';
import { PluginFailure } from '../../runtime/src/isolate/plugin-host.ts';
import type { UserPluginHandle, VerifierResult } from '../../runtime/src/plugins/builtin-plugin.ts';
import { authPlugin } from './index.ts';
import { authOptionsSchema } from './options.ts';
import { SECRET, authHarness, factoryContext, forgeToken, nowSec, rsaKeys, signToken } from './test-support.ts';

function challenge(res: { headers: Record<string, string | string[]> }): string {
  return String(res.headers['www-authenticate']);
}

function code(res: { body: unknown }): string {
  return (JSON.parse(String(res.body)) as { error: { code: string } }).error.code;
}

describe('auth middleware', () => {
  it('accepts a valid token: claims in req.claims, the chain continues', async () => {
    const auth = authHarness({ secret: SECRET });
    const { res, seen, events } = await auth.run({ token: await signToken({ sub: 'alice' }) });
    assert.equal(res.status, 200);
    assert.equal(seen?.claims?.['sub'], 'alice');
    assert.ok(Object.isFrozen(seen?.claims), 'claims are shared through the cache, so frozen');
    assert.deepEqual(events, []);
  });

  it('answers a request without a token 401 with a bare Bearer challenge (RFC 6750 §3.1)', async () => {
    const auth = authHarness({ secret: SECRET, realm: 'orders' });
    const { res, seen, events } = await auth.run();
    assert.equal(res.status, 401);
    assert.equal(challenge(res), 'Bearer realm="orders"');
    assert.equal(code(res), 'ISOGATE_ERR_UNAUTHORIZED');
    assert.equal(seen, null);
    assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'auth', reason: 'missing' }]);
  });

  it('treats another scheme as no bearer token, and a broken Bearer header as malformed', async () => {
    const auth = authHarness({ secret: SECRET });
    const basic = await auth.run({ headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(challenge(basic.res), 'Bearer realm="isogate"');
    for (const authorization of ['Bearer', 'Bearer a b', 'Bearer "x"']) {
      const { res, events } = await auth.run({ headers: { authorization } });
      assert.equal(res.status, 401, authorization);
      assert.match(challenge(res), /error="invalid_token"/);
      assert.equal(events[0]?.type === 'auth-failed' && events[0].reason, 'malformed');
    }
    // A header map with several Authorization values only happens in process (Gateway#request, a
    // plugin earlier in the chain); over a socket Node keeps the first field (see the e2e test).
    const twice = await auth.run({ headers: { authorization: [`Bearer ${await signToken({})}`, 'Bearer x'] } });
    assert.equal(twice.res.status, 401);
    assert.deepEqual(twice.events, [{ type: 'auth-failed', plugin: 'auth', reason: 'malformed' }]);
  });

  it('never puts library text in the response: a fixed description per reason', async () => {
    const auth = authHarness({ secret: SECRET });
    const { res } = await auth.run({ token: (await signToken({ sub: 'a' })).slice(0, -3) + 'AAA' });
    assert.equal(res.status, 401);
    assert.equal(challenge(res), 'Bearer realm="isogate", error="invalid_token", error_description="the token signature is invalid"');
    assert.doesNotMatch(String(res.body), /JWS|jose|signature verification failed|at /);
  });

  it('refuses missing roles with 403 insufficient_scope, and any/all matching', async () => {
    const any = authHarness({ secret: SECRET, roles: { claim: 'realm_access.roles', required: ['admin', 'ops'] } });
    const all = authHarness({ secret: SECRET, roles: { claim: 'realm_access.roles', required: ['admin', 'ops'], match: 'all' } });
    const opsOnly = await signToken({ realm_access: { roles: ['ops'] } });
    const both = await signToken({ realm_access: { roles: ['ops', 'admin'] } });
    assert.equal((await any.run({ token: opsOnly })).res.status, 200);
    const refused = await all.run({ token: opsOnly });
    assert.equal(refused.res.status, 403);
    assert.equal(code(refused.res), 'ISOGATE_ERR_FORBIDDEN');
    assert.match(challenge(refused.res), /error="insufficient_scope"/);
    assert.deepEqual(refused.events, [{ type: 'auth-failed', plugin: 'auth', reason: 'forbidden' }]);
    assert.equal((await all.run({ token: both })).res.status, 200);
    // A cached 403 is still a 403.
    assert.equal((await all.run({ token: opsOnly })).res.status, 403);
  });

  it('reads roles from a space-separated scope string', async () => {
    const auth = authHarness({ secret: SECRET, roles: { claim: 'scope', required: ['orders:write'] } });
    assert.equal((await auth.run({ token: await signToken({ scope: 'orders:read orders:write' }) })).res.status, 200);
    assert.equal((await auth.run({ token: await signToken({ scope: 'orders:read' }) })).res.status, 403);
  });

  it('removes client copies of propagated headers first, always, then sets them from the claims', async () => {
    const auth = authHarness({ secret: SECRET, propagate: [['sub', 'X-User-Id'], ['realm_access.roles', 'X-Roles'], ['tenant', 'X-Tenant']] });
    const spoof = { 'x-user-id': 'admin', 'x-roles': 'root', 'x-tenant': 'other' };
    const { seen } = await auth.run({ token: await signToken({ sub: 'alice', realm_access: { roles: ['a', 'b'] } }), headers: spoof });
    assert.equal(seen?.headers['x-user-id'], 'alice');
    assert.equal(seen?.headers['x-roles'], 'a,b');
    assert.equal(seen?.headers['x-tenant'], undefined, 'the claim is absent: the client copy is gone all the same');

    const optional = authHarness({ secret: SECRET, optional: true, propagate: [['sub', 'X-User-Id']] });
    const anonymous = await optional.run({ headers: { 'x-user-id': 'admin' } });
    assert.equal(anonymous.res.status, 200);
    assert.equal(anonymous.seen?.headers['x-user-id'], undefined);
    assert.equal(anonymous.seen?.claims, null);
  });

  it('optional mode: anonymous passes, a bad token is still refused', async () => {
    const auth = authHarness({ secret: SECRET, optional: true });
    assert.equal((await auth.run()).res.status, 200);
    assert.equal((await auth.run({ token: 'not-a-jwt' })).res.status, 401);
    assert.equal((await auth.run({ token: await signToken({ exp: nowSec() - 3600 }) })).res.status, 401);
  });

  it('optional mode: a bearer header with odd whitespace is verified or refused, never anonymous', async () => {
    const auth = authHarness({ secret: SECRET, optional: true });
    const good = await signToken({ sub: 'alice' });
    const forged = forgeToken({ alg: 'HS256' }, { sub: 'admin', exp: nowSec() + 600 }, 'not-the-secret-but-long-enough-32-bytes');
    const tab = await auth.run({ headers: { authorization: `Bearer\t${good}` } });
    assert.equal(tab.res.status, 200);
    assert.equal(tab.seen?.claims?.['sub'], 'alice');
    for (const authorization of [`Bearer\t${forged}`, `bearer \t ${forged}`]) {
      const { res, seen, events } = await auth.run({ headers: { authorization } });
      assert.equal(res.status, 401, JSON.stringify(authorization));
      assert.equal(seen, null);
      assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'auth', reason: 'bad-signature' }]);
    }
    for (const authorization of [`Bearer\v${forged}`, `Bearer:${forged}`, 'Bearer']) {
      const { res, seen, events } = await auth.run({ headers: { authorization } });
      assert.equal(res.status, 401, JSON.stringify(authorization));
      assert.equal(seen, null);
      assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'auth', reason: 'malformed' }]);
    }
  });

  it('optional mode: credentials that were not verified are not forwarded', async () => {
    const auth = authHarness({ secret: SECRET, optional: true });
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearerish x', 'Digest username="a"']) {
      const { res, seen } = await auth.run({ headers: { authorization } });
      assert.equal(res.status, 200, authorization);
      assert.equal(seen?.claims, null);
      assert.equal(seen?.headers['authorization'], undefined, authorization);
    }
    const token = await signToken({ sub: 'a' });
    assert.equal((await auth.run({ token })).seen?.headers['authorization'], `Bearer ${token}`, 'a verified token is still forwarded');
  });

  it('strips the Authorization header upstream when forwardToken is false', async () => {
    const token = await signToken({ sub: 'a' });
    assert.equal((await authHarness({ secret: SECRET }).run({ token })).seen?.headers['authorization'], `Bearer ${token}`);
    assert.equal((await authHarness({ secret: SECRET, forwardToken: false }).run({ token })).seen?.headers['authorization'], undefined);
  });

  it('serves repeats of a token from the cache, but never past its expiry', async () => {
    let verifications = 0;
    const handle: UserPluginHandle = {
      instanceName: 'v',
      hooks: ['verifier'],
      verify: async () => {
        verifications++;
        return { ok: true, claims: { sub: 'x', exp: nowSec() + 1 } };
      },
    };
    const auth = authHarness({ verifier: 'v', clockTolerance: 0 }, { userPlugin: () => handle });
    for (let i = 0; i < 5; i++) assert.equal((await auth.run({ token: 'opaque-token' })).res.status, 200);
    assert.equal(verifications, 1);
    await new Promise((r) => setTimeout(r, 1100));
    // exp has passed: the cached entry is not served; the verifier is asked again.
    assert.equal((await auth.run({ token: 'opaque-token' })).res.status, 200);
    assert.equal(verifications, 2);

    const uncached = authHarness({ verifier: 'v', cache: false }, { userPlugin: () => handle });
    await uncached.run({ token: 't' });
    await uncached.run({ token: 't' });
    assert.equal(verifications, 4);
  });

  it('does not cache refusals', async () => {
    let verifications = 0;
    const handle: UserPluginHandle = {
      instanceName: 'v',
      hooks: ['verifier'],
      verify: async (): Promise<VerifierResult> => {
        verifications++;
        return { ok: false, reason: 'rejected' };
      },
    };
    const auth = authHarness({ verifier: 'v' }, { userPlugin: () => handle });
    await auth.run({ token: 'bad' });
    const { res, events } = await auth.run({ token: 'bad' });
    assert.equal(res.status, 401);
    assert.deepEqual(events, [{ type: 'auth-failed', plugin: 'auth', reason: 'rejected' }]);
    assert.equal(verifications, 2);
  });

  it('delegated verifier: claims checked like a JWT; a plugin failure is a 503', async () => {
    let answer: () => Promise<VerifierResult> = async () => ({ ok: true, claims: { sub: 'u', iss: 'https://idp', scope: 'read' } });
    const handle: UserPluginHandle = { instanceName: 'introspect', hooks: ['verifier'], verify: () => answer() };
    const auth = authHarness({ verifier: 'introspect', issuer: 'https://idp', roles: { claim: 'scope', required: ['read'] }, cache: false }, { userPlugin: (n) => (n === 'introspect' ? handle : undefined) });
    const ok = await auth.run({ token: 'opaque' });
    assert.equal(ok.res.status, 200);
    assert.equal(ok.seen?.claims?.['sub'], 'u');

    answer = async () => ({ ok: true, claims: { sub: 'u', iss: 'https://elsewhere', scope: 'read' } });
    assert.deepEqual((await auth.run({ token: 'opaque' })).events, [{ type: 'auth-failed', plugin: 'auth', reason: 'bad-issuer' }]);

    answer = async () => ({ ok: true, claims: { sub: 'u', iss: 'https://idp', scope: 'read', exp: nowSec() - 600 } });
    assert.equal((await auth.run({ token: 'opaque' })).res.status, 401);

    answer = async () => {
      throw new PluginFailure('introspect', 'timeout', 'took too long');
    };
    const failed = await auth.run({ token: 'opaque' });
    assert.equal(failed.res.status, 503);
    assert.equal(code(failed.res), 'ISOGATE_ERR_AUTH_UNAVAILABLE');
    assert.equal(failed.res.headers['www-authenticate'], undefined);
    assert.deepEqual(failed.events, [{ type: 'auth-failed', plugin: 'auth', reason: 'verifier-unavailable' }]);
  });

  it('refuses at create a verifier that does not exist or has no verifier hook, naming the option', () => {
    const options = authOptionsSchema.parse({ verifier: 'introspect' });
    assert.throws(
      () => authPlugin.create(options, factoryContext({ instanceName: 'api-auth' })),
      (err: unknown) => err instanceof ConfigError && /plugins\["api-auth"\]\.options\.verifier: no user plugin instance named "introspect"/.test(err.message),
    );
    const noHook: UserPluginHandle = { instanceName: 'introspect', hooks: ['onRequest'], verify: async () => ({ ok: false, reason: 'x' }) };
    assert.throws(
      () => authPlugin.create(options, factoryContext({ instanceName: 'api', userPlugin: () => noHook })),
      (err: unknown) => err instanceof ConfigError && /plugins\.api\.options\.verifier: plugin instance "introspect" has no verifier hook/.test(err.message),
    );
  });

  it('verifies with configured PEM keys pinned by kid', async () => {
    const a = rsaKeys();
    const b = rsaKeys();
    const auth = authHarness({ keys: [{ kid: 'a', publicKey: a.publicPem }, { kid: 'b', publicKey: b.publicPem, algorithms: ['PS256'] }] });
    assert.equal((await auth.run({ token: await signToken({ sub: 'x' }, a.privateKey, { kid: 'a' }) })).res.status, 200);
    assert.equal((await auth.run({ token: await signToken({ sub: 'x' }, b.privateKey, { kid: 'b', alg: 'PS256' }) })).res.status, 200);
    // Key b is pinned to PS256: RS256 with it is refused before any crypto runs.
    const rs = await auth.run({ token: await signToken({ sub: 'x' }, b.privateKey, { kid: 'b', alg: 'RS256' }) });
    assert.equal(rs.res.status, 401);
    assert.deepEqual(rs.events[0], { type: 'auth-failed', plugin: 'auth', reason: 'unknown-key' });
    // Signed by b but claiming to be a.
    const swapped = await auth.run({ token: await signToken({ sub: 'x' }, b.privateKey, { kid: 'a' }) });
    assert.deepEqual(swapped.events[0], { type: 'auth-failed', plugin: 'auth', reason: 'bad-signature' });
  });

  it('HS/RS confusion: an HS256 token keyed with the RSA public key PEM is refused', async () => {
    const { publicPem } = rsaKeys();
    const auth = authHarness({ keys: [{ publicKey: publicPem }] });
    const forged = forgeToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'admin', exp: nowSec() + 600 }, publicPem);
    const { res, events } = await auth.run({ token: forged });
    assert.equal(res.status, 401);
    assert.deepEqual(events[0], { type: 'auth-failed', plugin: 'auth', reason: 'bad-algorithm' });
  });

  it('alg none is refused whatever the payload', async () => {
    const auth = authHarness({ secret: SECRET });
    for (const alg of ['none', 'None', 'NONE']) {
      const { res, events } = await auth.run({ token: forgeToken({ alg }, { sub: 'admin', exp: nowSec() + 600 }) });
      assert.equal(res.status, 401, alg);
      assert.deepEqual(events[0], { type: 'auth-failed', plugin: 'auth', reason: 'bad-algorithm' });
    }
  });

  it('maps each bad token to its reason', async () => {
    const auth = authHarness({ secret: SECRET, issuer: 'https://idp', audience: ['api', 'web'], maxTokenAge: '1m', requiredClaims: ['tenant.id'] });
    const base = { iss: 'https://idp', aud: 'api', tenant: { id: 't1' } };
    const cases: [string, string][] = [
      [await signToken(base), 'ok'],
      [await signToken({ ...base, aud: ['other', 'web'] }), 'ok'],
      [await signToken({ ...base, exp: nowSec() - 3600 }), 'expired'],
      [await signToken({ ...base, iat: nowSec() - 3600 }), 'expired'],
      [await signToken({ ...base, iat: nowSec() + 3600 }), 'not-yet-valid'],
      [await signToken({ ...base, nbf: nowSec() + 3600 }), 'not-yet-valid'],
      [forgeToken({ alg: 'HS256' }, { ...base, iat: nowSec() }, SECRET), 'missing-claim'],
      [await signToken({ ...base, iss: 'https://evil' }), 'bad-issuer'],
      [await signToken({ ...base, aud: 'other' }), 'bad-audience'],
      [await signToken({ ...base, tenant: {} }), 'missing-claim'],
      [await signToken({ ...base, exp: '2099-01-01' as unknown as number }), 'malformed'],
      [await signToken(base, 'another-secret-that-is-at-least-32-bytes'), 'bad-signature'],
      [forgeToken({ alg: 'HS256' }, 'not json' as unknown as Record<string, unknown>, SECRET), 'malformed'],
      ['garbage', 'malformed'],
      ['a.b.c', 'malformed'],
      [forgeToken({ alg: 'HS256', crit: ['exp'] }, { ...base, exp: nowSec() + 60, iat: nowSec() }, SECRET), 'malformed'],
    ];
    for (const [token, expected] of cases) {
      const { res, events } = await auth.run({ token });
      const got = res.status === 200 ? 'ok' : events[0]?.type === 'auth-failed' ? events[0].reason : `status ${res.status}`;
      assert.equal(got, expected, token);
    }
  });

  it('verifies every supported algorithm family with keys given as secret, PEM and JWK', async () => {
    const long = 'x'.repeat(64);
    const pairs: [string, ReturnType<typeof generateKeyPairSync>][] = [
      ['RS384', generateKeyPairSync('rsa', { modulusLength: 2048 })],
      ['PS512', generateKeyPairSync('rsa', { modulusLength: 2048 })],
      ['ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
      ['ES384', generateKeyPairSync('ec', { namedCurve: 'P-384' })],
      ['ES512', generateKeyPairSync('ec', { namedCurve: 'P-521' })],
      ['EdDSA', generateKeyPairSync('ed25519')],
      ['Ed25519', generateKeyPairSync('ed25519')],
    ];
    const keys = pairs.map(([alg, pair], i) =>
      i % 2 === 0 ? { kid: alg, publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() } : { kid: alg, jwk: pair.publicKey.export({ format: 'jwk' }) as { kty: string } },
    );
    const auth = authHarness({ keys: [...keys, { kid: 'hs', secret: long }] });
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      assert.equal((await auth.run({ token: await signToken({ sub: alg }, long, { alg, kid: 'hs' }) })).res.status, 200, alg);
    }
    for (const [alg, pair] of pairs) {
      const { res, seen } = await auth.run({ token: await signToken({ sub: alg }, pair.privateKey, { alg, kid: alg }) });
      assert.equal(res.status, 200, alg);
      assert.equal(seen?.claims?.['sub'], alg);
    }
  });

  it('tolerates clock skew within clockTolerance', async () => {
    const strict = authHarness({ secret: SECRET, clockTolerance: 0 });
    const lenient = authHarness({ secret: SECRET, clockTolerance: '30s' });
    const token = await signToken({ exp: nowSec() - 10 });
    assert.equal((await strict.run({ token })).res.status, 401);
    assert.equal((await lenient.run({ token })).res.status, 200);
  });
});
