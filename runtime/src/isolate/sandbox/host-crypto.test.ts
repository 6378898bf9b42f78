import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSandboxHost, MAX_HOST_INPUT_BYTES, type ImportedKey } from './host-crypto.ts';

// The host half alone: what the isolate's crypto asks of it, and what it refuses. Every refusal is
// an answer ("<DOMException name>: why"), never a throw across the isolate boundary.
describe('sandbox host crypto', () => {
  const host = createSandboxHost();

  it('answers refusals as "<name>: message" strings instead of throwing', () => {
    assert.match(String(host('random', 65_537)), /^QuotaExceededError: /);
    assert.match(String(host('random', -1)), /^QuotaExceededError: /);
    assert.match(String(host('digest', 'MD5', new Uint8Array(1))), /^NotSupportedError: /);
    assert.match(String(host('digest', 'SHA-256', 'not bytes')), /^TypeError: /);
    assert.match(String(host('nope')), /^NotSupportedError: /);
    assert.match(String(host('constructor')), /^NotSupportedError: /, 'only its own operations');
    assert.match(String(host('importKey', 'ECDSA', 'spki', new Uint8Array([1, 2, 3]), 'P-256')), /^DataError: /);
    assert.match(String(host('importKey', 'HMAC', 'spki', new Uint8Array(1))), /^NotSupportedError: /);
  });

  it(`takes at most ${MAX_HOST_INPUT_BYTES} bytes in one call, whatever the operation`, () => {
    const big = new Uint8Array(MAX_HOST_INPUT_BYTES + 1);
    assert.match(String(host('digest', 'SHA-256', big)), /^OperationError: .*larger than/);
    assert.match(String(host('sign', 'HMAC', 'SHA-256', 'secret', new Uint8Array(4), big)), /^OperationError: /);
    assert.match(String(host('importKey', 'HMAC', 'raw', big)), /^OperationError: /);
    assert.ok(host('digest', 'SHA-256', big.subarray(1)) instanceof ArrayBuffer);
  });

  it('signs and verifies HMAC with the raw key bytes', () => {
    const key = host('importKey', 'HMAC', 'raw', new Uint8Array(Buffer.from('k'))) as ImportedKey;
    assert.equal(key.t, 'secret');
    const mac = host('sign', 'HMAC', 'SHA-256', 'secret', new Uint8Array(key.m), new Uint8Array(Buffer.from('m'))) as ArrayBuffer;
    assert.deepEqual(Buffer.from(mac), createHmac('sha256', 'k').update('m').digest());
    assert.equal(host('verify', 'HMAC', 'SHA-256', 'secret', new Uint8Array(key.m), new Uint8Array(mac), new Uint8Array(Buffer.from('m'))), true);
  });

  it('normalises asymmetric keys to DER and refuses to sign with a public one', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pub = host('importKey', 'Ed25519', 'jwk', publicKey.export({ format: 'jwk' })) as ImportedKey;
    assert.equal(pub.t, 'public');
    assert.deepEqual(Buffer.from(pub.m), publicKey.export({ type: 'spki', format: 'der' }));
    const data = new Uint8Array(Buffer.from('d'));
    assert.match(String(host('sign', 'Ed25519', null, 'public', new Uint8Array(pub.m), data)), /^InvalidAccessError: /);
    const sig = new Uint8Array(sign(null, data, privateKey));
    // Many verifications with one key (a cached KeyObject) and with many keys (evicted ones) agree.
    for (let i = 0; i < 3; i++) assert.equal(host('verify', 'Ed25519', null, 'public', new Uint8Array(pub.m), sig, data), true);
    for (let i = 0; i < 40; i++) {
      const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
      assert.equal(host('verify', 'Ed25519', null, 'public', new Uint8Array(other), sig, data), false);
    }
    assert.equal(host('verify', 'Ed25519', null, 'public', new Uint8Array(pub.m), sig, data), true);
  });
});
