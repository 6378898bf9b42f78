import { definePlugin } from '@isogate/sdk';
import { z } from 'zod';

/**
 * Lets a webhook through only when its HMAC signature matches the body, GitHub-style:
 * `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>`. Anything else gets this
 * plugin's own 401. Shows the sandbox's WebCrypto (`crypto.subtle`, worked by the host and
 * compared in constant time there), `TextEncoder` and `console`.
 */
export default definePlugin({
  name: 'webhook-signature',
  version: '1.0.0',
  options: z.object({
    secret: z.string().min(1),
    header: z.string().default('x-hub-signature-256'),
    prefix: z.string().default('sha256='),
  }),
  // The exact bytes that were signed: a re-serialised JSON body would not match.
  requestBody: 'bytes',
  async onRequest(req, ctx) {
    const { header, prefix } = ctx.options;
    const sent = req.headers.get(header) ?? '';
    const hex = sent.startsWith(prefix) ? sent.slice(prefix.length) : '';
    if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) return refuse(`missing or malformed ${header}`);
    const signature = Uint8Array.from(hex.match(/../g)!, (byte) => parseInt(byte, 16));
    // A bytes body always arrives in an ArrayBuffer of its own (what WebCrypto's types ask for).
    const body = req.body instanceof Uint8Array ? (req.body as Uint8Array<ArrayBuffer>) : new Uint8Array(0);
    if (!(await crypto.subtle.verify('HMAC', await hmacKey(ctx.options.secret), signature, body))) {
      console.warn('webhook signature mismatch on %s from %s', req.path, req.clientIp);
      return refuse('signature does not match the body');
    }
    ctx.state['webhookVerified'] = true;
  },
});

// One key per isolate: the secret is this instance's option, the same for every request.
let cached: { secret: string; key: Promise<CryptoKey> } | undefined;
function hmacKey(secret: string): Promise<CryptoKey> {
  if (cached?.secret !== secret) cached = { secret, key: crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']) };
  return cached.key;
}

function refuse(message: string) {
  return { status: 401, headers: { 'www-authenticate': 'HMAC-SHA256' }, body: { error: { code: 'BAD_SIGNATURE', message } } };
}
