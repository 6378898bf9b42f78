import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AuthPluginOptions } from '../../sdk/src/builtins/auth.ts';
import { resolveConfig } from '../../runtime/src/config/validate-config.ts';
import { builtinPlugins } from '../../runtime/src/plugins/builtins.ts';
import { authOptionsSchema, type AuthOptionsInput } from './options.ts';
import { SECRET } from './test-support.ts';

/**
 * The SDK's hand-written AuthPluginOptions (what config authors see, with TSDoc) and the schema's
 * input type must accept the same options: these assignments stop compiling when one side gains
 * a key or a type the other lacks (as runtime/src/config/config-types.test.ts does for the config).
 */
type Extends<A, B> = [A] extends [B] ? true : false;
type Shape<T> = T extends readonly (infer U)[] ? Shape<U>[] : T extends object ? { [K in keyof T]-?: Shape<NonNullable<T[K]>> } : 'leaf';
const sdkFitsSchema: Extends<AuthPluginOptions, AuthOptionsInput> = true;
const schemaFitsSdk: Extends<Shape<AuthOptionsInput>, Shape<AuthPluginOptions>> = true;
const sameShape: Extends<Shape<AuthPluginOptions>, Shape<AuthOptionsInput>> = true;

function problems(options: unknown): string[] {
  try {
    resolveConfig({ plugins: { auth: { use: 'auth', options } }, routes: [{ path: '/*', upstream: 'http://127.0.0.1:1', middleware: ['auth'] }] }, builtinPlugins);
    return [];
  } catch (err) {
    return ((err as { issues: { path: string; message: string }[] }).issues ?? []).map((i) => `${i.path}: ${i.message}`);
  }
}

describe('auth options', () => {
  it('the SDK type and the schema describe the same input', () => {
    assert.equal(sdkFitsSchema && schemaFitsSdk && sameShape, true);
  });

  it('fills the documented defaults', () => {
    const o = authOptionsSchema.parse({ secret: SECRET });
    assert.equal(o.realm, 'isogate');
    assert.equal(o.requireExp, true);
    assert.equal(o.clockTolerance, 30_000);
    assert.equal(o.forwardToken, true);
    assert.equal(o.optional, false);
    assert.deepEqual(o.cache, { maxEntries: 10_000, ttl: 60_000 });
    const j = authOptionsSchema.parse({ jwks: { url: 'https://idp.example.com/jwks' } });
    assert.deepEqual(j.jwks, { url: 'https://idp.example.com/jwks', timeout: 5_000, maxAge: 600_000, cooldown: 30_000, staleIfError: 3_600_000 });
  });

  it('names the option at fault', () => {
    assert.deepEqual(problems({}), ['plugins.auth.options: give a key source (secret, keys or jwks) or a verifier']);
    assert.deepEqual(problems({ secret: 'short' }), ['plugins.auth.options.secret: an HMAC secret must be at least 32 bytes (256 bits, RFC 7518 §3.2)']);
    assert.deepEqual(problems({ secret: SECRET, verifier: 'x' }), ['plugins.auth.options.verifier: a delegated verifier replaces the JWT check: remove secret, keys and jwks']);
    assert.deepEqual(problems({ secret: SECRET, propagate: [['sub', 'Authorization']] }), ['plugins.auth.options.propagate[0][1]: this header cannot carry a claim (the gateway or HTTP owns it)']);
    assert.deepEqual(problems({ secret: SECRET, propagate: [['sub', 'X-User'], ['email', 'x-user']] }), ['plugins.auth.options.propagate[1][1]: header x-user is already propagated']);
    assert.deepEqual(problems({ secret: SECRET, algorithms: ['HS256'] }), ['plugins.auth.options.algorithms: unknown key']);
    assert.deepEqual(problems({ keys: [{ secret: SECRET, publicKey: 'x' }] }), ['plugins.auth.options.keys[0]: give exactly one of secret, publicKey (PEM) or jwk']);
    assert.deepEqual(problems({ jwks: { url: 'ftp://x' } }), ['plugins.auth.options.jwks.url: expected an http(s) URL without credentials or fragment']);
    assert.deepEqual(problems({ secret: SECRET, roles: { required: [] } }).length, 1);
  });

  it('imports keys at validation: weak, private, mismatched and unreadable keys are config errors', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const priv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
    assert.deepEqual(problems({ keys: [{ publicKey: pub }] }), []);
    assert.match(problems({ keys: [{ publicKey: priv }] })[0]!, /keys\[0\]\.publicKey: this is a private key/);
    assert.match(problems({ keys: [{ publicKey: small }] })[0]!, /keys\[0\]\.publicKey: RSA keys must be at least 2048 bits/);
    assert.match(problems({ keys: [{ publicKey: 'hello' }] })[0]!, /keys\[0\]\.publicKey: expected a PEM/);
    assert.match(problems({ keys: [{ publicKey: pub, algorithms: ['HS256'] }] })[0]!, /HS256 cannot be used with an rsa key/);
    assert.deepEqual(problems({ keys: [{ jwk: ec as { kty: string } }] }), []);
    assert.match(problems({ keys: [{ jwk: ec as { kty: string }, algorithms: ['ES256'] }] })[0]!, /ES256 cannot be used with an ec \(secp384r1\) key \(it can serve ES384\)/);
    assert.match(problems({ keys: [{ jwk: { ...rsa.privateKey.export({ format: 'jwk' }) } as { kty: string } }] })[0]!, /private key \("d"\)/);
    assert.match(problems({ keys: [{ secret: SECRET, algorithms: ['HS512'] }] })[0]!, /HS512 cannot be used with a 42-byte secret/);
  });
});
