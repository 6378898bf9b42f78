/**
 * Type tests for a plugin's environment (`@isogate/sdk/sandbox`), compiled with ./tsconfig.json by
 * sdk/src/sandbox-types.test.ts: the plugin below must compile, and each `@ts-expect-error` line
 * must be an error (an unused directive fails the check). Node's and the DOM's globals are not
 * there: a plugin that uses them would fail in the gateway, so it fails in the editor first.
 */
import { definePlugin } from '../index.ts';
// @ts-expect-error there are no Node built-ins in a plugin (the build refuses the import too)
import { createHmac } from 'node:crypto';

export default definePlugin({
  name: 'sandboxed',
  version: '1.0.0',
  requestBody: 'text',
  async onRequest(req, ctx) {
    const target = new URL('../login', `https://gw.example${req.path}`);
    target.searchParams.set('next', req.path);
    const page: string | null = new URLSearchParams(req.query).get('page');
    const canParse: boolean = URL.canParse(req.path);
    const body = new TextEncoder().encode(typeof req.body === 'string' ? req.body : '');
    const text: string = new TextDecoder('utf-8', { fatal: true }).decode(body);
    const basic: string = btoa(`${atob('dXNlcg==')}:pw`);
    const copy: { list: number[] } = structuredClone({ list: [1, 2] });
    const id: string = crypto.randomUUID();
    const nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(16));
    const secret = await crypto.subtle.importKey('raw', new TextEncoder().encode('s'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    const mac: ArrayBuffer = await crypto.subtle.sign('HMAC', secret, body);
    const ok: boolean = await crypto.subtle.verify('HMAC', secret, mac, body);
    const ec = await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    const ecOk: boolean = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, ec, mac, body);
    const ed = await crypto.subtle.importKey('spki', nonce, 'Ed25519', true, ['verify']);
    const edOk: boolean = await crypto.subtle.verify('Ed25519', ed, mac, body);
    const digest: ArrayBuffer = await crypto.subtle.digest('SHA-512', body);
    const isKey: boolean = secret instanceof CryptoKey && secret.type === 'secret';
    try {
      atob('*');
    } catch (err) {
      if (err instanceof DOMException && err.name === 'InvalidCharacterError') ctx.log.warn('bad base64');
    }
    console.log('checked', { page, canParse, text, basic, copy, id, ok, ecOk, edOk, digest, isKey });
    console.error(new Error('x'));
    return { status: 302, headers: { location: target.href } };
  },
});

export function outsideAHook(): void {
  // @ts-expect-error no process in a plugin: settings come from the plugin's options
  void process.env['SECRET'];
  // @ts-expect-error no require in a plugin
  require('node:fs'); // eslint-disable-line @typescript-eslint/no-require-imports -- the point of the line
  // @ts-expect-error no timers in a plugin
  setTimeout(() => {}, 10);
  // @ts-expect-error no setInterval either
  setInterval(() => {}, 10);
  // @ts-expect-error no global fetch: a plugin reaches the network through ctx.fetch
  void fetch('https://example.com');
  // @ts-expect-error no Buffer: Uint8Array, TextEncoder and atob/btoa
  Buffer.from('x');
  // @ts-expect-error no DOM
  void document.title;
  // @ts-expect-error crypto.subtle has digest, importKey, sign and verify only
  void crypto.subtle.encrypt;
  // @ts-expect-error only sign and verify usages exist here
  void crypto.subtle.importKey('raw', new Uint8Array(1), { name: 'HMAC', hash: 'SHA-256' }, false, ['encrypt']);
  // @ts-expect-error HMAC needs a hash
  void crypto.subtle.importKey('raw', new Uint8Array(1), { name: 'HMAC' }, false, ['sign']);
  // @ts-expect-error getRandomValues takes an integer typed array
  crypto.getRandomValues(new Float64Array(2));
  void createHmac;
}
