import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../logging/logger.ts';
import { bundlePlugin } from '../bundle-plugin.ts';
import { PluginFailure, PluginHost } from '../plugin-host.ts';

// Every global is exercised inside a real plugin isolate, loaded the way the gateway loads a
// plugin (prelude, sandbox, bundle); answers are checked against Node's own implementations.
const probePath = path.join(import.meta.dirname, 'fixtures/globals-probe.ts');
const limits = { memoryMb: 64, cpuMs: 2_000, wallMs: 5_000 };
const b64url = (b: Buffer | Uint8Array) => Buffer.from(b).toString('base64url');
const der = (key: KeyObject, type: 'spki' | 'pkcs8') => b64url(key.export({ type, format: 'der' }));

let host: PluginHost;
async function probe(body: Record<string, unknown>, on: PluginHost = host): Promise<Record<string, unknown>> {
  const raw = on.call('onRequest', JSON.stringify({ rq: ['POST', '/', '', {}, '::1', 'r', 'json'], qb: body }), '{}');
  const out = JSON.parse(typeof raw === 'string' ? raw : await raw) as { r?: { body?: Record<string, unknown> } };
  assert.ok(out.r?.body, `no answer for ${JSON.stringify(body).slice(0, 200)}`);
  return out.r.body;
}
/** The DOMException (or TypeError) name a probe's call failed with. */
async function failure(call: Record<string, unknown>): Promise<string> {
  const out = await probe({ op: 'error', call });
  assert.equal(out['isError'], true, JSON.stringify(out));
  return `${String(out['error'])}: ${String(out['message'])}`;
}

before(async () => {
  host = await PluginHost.create('probe', await bundlePlugin(probePath), {}, limits, silentLogger());
});
after(() => host.dispose());

describe('sandbox: crypto.subtle HMAC', () => {
  for (const [hash, node] of [['SHA-1', 'sha1'], ['SHA-256', 'sha256'], ['SHA-384', 'sha384'], ['SHA-512', 'sha512']] as const) {
    it(`signs like Node's createHmac (${hash}) and verifies what Node signed`, async () => {
      const data = `{"event":"push","n":${hash.length}} ünïcode`;
      const expected = createHmac(node, 'whsec_s3cret').update(data).digest();
      const signed = await probe({ op: 'hmac-sign', secret: 'whsec_s3cret', hash, data });
      assert.equal(signed['mac'], b64url(expected));
      assert.deepEqual(signed['algorithm'], { name: 'HMAC', hash: { name: hash }, length: 'whsec_s3cret'.length * 8 });
      assert.equal((await probe({ op: 'hmac-verify', secret: 'whsec_s3cret', hash, data, mac: b64url(expected) }))['ok'], true);
      const wrong = Buffer.from(expected);
      wrong[0]! ^= 1;
      assert.equal((await probe({ op: 'hmac-verify', secret: 'whsec_s3cret', hash, data, mac: b64url(wrong) }))['ok'], false);
      assert.equal((await probe({ op: 'hmac-verify', secret: 'whsec_s3cret', hash, data, mac: b64url(expected.subarray(1)) }))['ok'], false, 'a truncated MAC');
    });
  }

  it('imports an HMAC key as a JWK', async () => {
    const key = { kty: 'oct', k: b64url(Buffer.from('jwk-secret')), alg: 'HS256' };
    const mac = createHmac('sha256', 'jwk-secret').update('x').digest();
    assert.equal((await probe({ op: 'hmac-verify', format: 'jwk', key, hash: 'SHA-256', data: 'x', mac: b64url(mac) }))['ok'], true);
    assert.match(await failure({ op: 'hmac-verify', format: 'jwk', key: { ...key, alg: 'HS512' }, hash: 'SHA-256', data: 'x', mac: b64url(mac) }), /^DataError: /);
  });
});

describe('sandbox: crypto.subtle ECDSA and Ed25519', () => {
  for (const [curve, hash, node] of [['P-256', 'SHA-256', 'sha256'], ['P-384', 'SHA-384', 'sha384'], ['P-256', 'SHA-512', 'sha512']] as const) {
    it(`verifies ${curve}/${hash} signatures made by Node, from spki, raw and jwk keys`, async () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
      const data = 'the payload';
      const signature = b64url(sign(node, Buffer.from(data), { key: privateKey, dsaEncoding: 'ieee-p1363' }));
      const jwk = publicKey.export({ format: 'jwk' });
      const raw = b64url(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]));
      const algorithm = { name: 'ECDSA', namedCurve: curve };
      for (const [format, key] of [['spki', der(publicKey, 'spki')], ['raw', raw], ['jwk', jwk]] as const) {
        const out = await probe({ op: 'verify', format, key, algorithm, sign: { name: 'ECDSA', hash }, signature, data });
        assert.equal(out['ok'], true, `${format}: ${JSON.stringify(out)}`);
        assert.equal(out['type'], 'public');
        assert.deepEqual(out['algorithm'], algorithm);
        const tampered = await probe({ op: 'verify', format, key, algorithm, sign: { name: 'ECDSA', hash }, signature, data: 'the payloaD' });
        assert.equal(tampered['ok'], false, `${format}: a changed payload`);
      }
    });
  }

  it('signs with ECDSA (pkcs8 and jwk private keys) in a form Node verifies', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const [format, key] of [['pkcs8', der(privateKey, 'pkcs8')], ['jwk', privateKey.export({ format: 'jwk' })]] as const) {
      const out = await probe({ op: 'sign', format, key, algorithm: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' }, data: 'abc' });
      assert.ok(verify('sha256', Buffer.from('abc'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(String(out['signature']), 'base64url')), format);
    }
  });

  it('verifies Ed25519 signatures made by Node (raw, spki, jwk) and signs ones Node verifies', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const signature = b64url(sign(null, Buffer.from('hello'), privateKey));
    const jwk = publicKey.export({ format: 'jwk' });
    for (const [format, key] of [['raw', jwk.x!], ['spki', der(publicKey, 'spki')], ['jwk', jwk]] as const) {
      assert.equal((await probe({ op: 'verify', format, key, algorithm: 'Ed25519', sign: 'Ed25519', signature, data: 'hello' }))['ok'], true, format);
      assert.equal((await probe({ op: 'verify', format, key, algorithm: 'Ed25519', sign: 'Ed25519', signature, data: 'hellO' }))['ok'], false, format);
    }
    const out = await probe({ op: 'sign', format: 'pkcs8', key: der(privateKey, 'pkcs8'), algorithm: { name: 'Ed25519' }, sign: { name: 'Ed25519' }, data: 'abc' });
    assert.ok(verify(null, Buffer.from('abc'), publicKey, Buffer.from(String(out['signature']), 'base64url')));
  });

  it('refuses a key of the wrong kind, a key used for what it is not for, and a malformed signature', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const ed = generateKeyPairSync('ed25519');
    const p256 = { name: 'ECDSA', namedCurve: 'P-256' };
    assert.match(await failure({ op: 'verify', format: 'spki', key: der(ec.publicKey, 'spki'), algorithm: p256, sign: { name: 'ECDSA', hash: 'SHA-256' }, signature: '', data: '' }), /^DataError: /);
    assert.match(await failure({ op: 'verify', format: 'spki', key: der(ed.publicKey, 'spki'), algorithm: p256, sign: { name: 'ECDSA', hash: 'SHA-256' }, signature: '', data: '' }), /^DataError: /);
    assert.match(await failure({ op: 'verify', format: 'spki', key: b64url(Buffer.from('not a key')), algorithm: 'Ed25519', sign: 'Ed25519', signature: '', data: '' }), /^DataError: /);
    // A private key cannot verify: its usages can only be ['sign'].
    assert.match(await failure({ op: 'verify', format: 'pkcs8', key: der(ed.privateKey, 'pkcs8'), algorithm: 'Ed25519', sign: 'Ed25519', signature: '', data: '' }), /^SyntaxError: /);
    // Imported for Ed25519, used as ECDSA.
    assert.match(await failure({ op: 'verify', format: 'spki', key: der(ed.publicKey, 'spki'), algorithm: 'Ed25519', sign: { name: 'ECDSA', hash: 'SHA-256' }, signature: '', data: '' }), /^InvalidAccessError: /);
    assert.match(await failure({ op: 'verify', format: 'spki', key: der(ec.publicKey, 'spki'), algorithm: { name: 'ECDSA', namedCurve: 'P-192' }, sign: 'ECDSA', signature: '', data: '' }), /^NotSupportedError: /);
    assert.match(await failure({ op: 'verify', format: 'spki', key: der(ec.publicKey, 'spki'), algorithm: 'RSA-PSS', sign: 'RSA-PSS', signature: '', data: '' }), /^NotSupportedError: /);
    const short = await probe({ op: 'verify', format: 'spki', key: der(ed.publicKey, 'spki'), algorithm: 'Ed25519', sign: 'Ed25519', signature: b64url(Buffer.from('short')), data: 'x' });
    assert.equal(short['ok'], false, 'a malformed signature does not verify');
  });
});

describe('sandbox: crypto.subtle.digest, getRandomValues, randomUUID', () => {
  it('digests like Node', async () => {
    for (const [hash, node] of [['SHA-1', 'sha1'], ['SHA-256', 'sha256'], ['SHA-384', 'sha384'], ['SHA-512', 'sha512']] as const) {
      assert.equal((await probe({ op: 'digest', hash, data: 'abc€' }))['digest'], b64url(createHash(node).update('abc€').digest()), hash);
    }
    assert.match(await failure({ op: 'digest', hash: 'MD5', data: 'x' }), /^NotSupportedError: /);
  });

  it('bounds what one call takes: 64 KiB of randomness, 8 MiB of input', async () => {
    const out = await probe({ op: 'random' });
    assert.equal(out['distinct'], 8);
    assert.equal(out['same'], true, 'getRandomValues answers the array it filled');
    assert.equal(out['nonZero'], true);
    const uuids = out['uuids'] as string[];
    for (const u of uuids) assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(uuids[0], uuids[1]);
    assert.match(await failure({ op: 'random-too-many' }), /^QuotaExceededError: /);
    assert.match(await failure({ op: 'digest-large', megabytes: 9 }), /^OperationError: .*8388608 bytes/);
    assert.equal((await probe({ op: 'digest-large', megabytes: 8 }))['bytes'], 32);
  });

  it('counts time spent in host crypto calls against the CPU limit: a loop of them is stopped', async () => {
    const strict = await PluginHost.create('probe-spin', await bundlePlugin(probePath), {}, { memoryMb: 64, cpuMs: 50, wallMs: 5_000 }, silentLogger());
    try {
      await probe({ op: 'digest', hash: 'SHA-256', data: 'x' }, strict); // loaded and watched
      const started = Date.now();
      await assert.rejects(probe({ op: 'spin-crypto' }, strict), (err: unknown) => err instanceof PluginFailure && err.kind === 'timeout');
      const took = Date.now() - started;
      assert.ok(took < 2_000, `stopped after ${took} ms`);
    } finally {
      strict.dispose();
    }
  });
});

describe('sandbox: encodings, URL, structuredClone', () => {
  it('round-trips base64 with atob/btoa and refuses what is not base64 or not latin1', async () => {
    for (const latin1 of ['', 'a', 'ab', 'abc', 'hi\u00ff\u0000\u0080', String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))]) {
      const b64 = Buffer.from(latin1, 'latin1').toString('base64');
      const out = await probe({ op: 'base64', latin1, b64 });
      assert.equal(out['encoded'], b64);
      assert.equal(out['decoded'], latin1);
    }
    const out = await probe({ op: 'base64', latin1: '', b64: 'aGk' }); // forgiving: no padding
    assert.equal(out['decoded'], 'hi');
    assert.equal(out['bad'], 'InvalidCharacterError');
    assert.equal(out['wide'], 'InvalidCharacterError');
  });

  it('encodes and decodes UTF-8 with TextEncoder/TextDecoder', async () => {
    const s = 'héllo € 𝄞 日本';
    const out = await probe({ op: 'text', s });
    assert.equal(out['length'], Buffer.byteLength(s));
    assert.equal(out['back'], s);
    assert.equal(out['replaced'], '\ufffda');
    assert.equal(out['fatal'], 'TypeError');
  });

  it('parses URLs and resolves relative references like Node', async () => {
    const base = 'https://api.example.com/v1/users/42?x=1#top';
    for (const relative of ['../orders?y=2', '/absolute/path', '?only=query', '#frag', '//other.example/p', 'https://elsewhere.example:8443/a b', 'sub/./dir/../file']) {
      const out = await probe({ op: 'url', relative, base });
      const expected = new URL(relative, base);
      expected.searchParams.append('next', 'a b&c');
      assert.equal(out['href'], expected.href, relative);
      assert.equal(out['host'], expected.host, relative);
    }
    const out = await probe({ op: 'url', relative: '/', base });
    assert.deepEqual(out['all'], ['1', '3']);
    assert.equal(out['sorted'], 'a=1&a=3&b=2');
    assert.equal(out['canParse'], false);
    assert.equal(out['idn'], new URL('http://bücher.example/').host);
  });

  it('clones nested data with structuredClone, and refuses functions', async () => {
    const out = await probe({ op: 'clone' });
    assert.deepEqual(out, { different: true, deep: 'x', date: true, map: true, bytes: [1, 2, 3], cycle: true, fn: 'DataCloneError' });
  });

  it('loads a polyfill only when the plugin first uses it', async () => {
    const fresh = await PluginHost.create('probe-lazy', await bundlePlugin(probePath), {}, limits, silentLogger());
    try {
      const before = await probe({ op: 'lazy' }, fresh);
      assert.deepEqual(before, { URL: 'getter', TextEncoder: 'getter', structuredClone: 'getter', crypto: 'value', console: 'value' });
      await probe({ op: 'url', relative: '/', base: 'http://a.example/' }, fresh);
      const afterUse = await probe({ op: 'lazy' }, fresh);
      assert.equal(afterUse['URL'], 'value');
      assert.equal(afterUse['structuredClone'], 'getter');
    } finally {
      fresh.dispose();
    }
  });
});
