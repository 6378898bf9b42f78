import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayRequest, GatewayResponse, Handler, Middleware } from './types.ts';
import { compose, NextCalledTwiceError } from './compose.ts';
import { testRequest } from './test-request.ts';

function fakeRequest(): GatewayRequest {
  return testRequest({ headers: {}, route: {} as GatewayRequest['route'] });
}

const ok: Handler = async (req) => ({ status: 200, headers: { 'x-seen': String(req.headers['x-trail'] ?? '') }, body: 'upstream' });

function tag(name: string, trail: string[]): Middleware {
  return (next) => async (req) => {
    trail.push(`>${name}`);
    req.headers['x-trail'] = `${req.headers['x-trail'] ?? ''}${name}`;
    const res = await next(req);
    trail.push(`<${name}`);
    return res;
  };
}

describe('compose', () => {
  it('returns the terminal itself for an empty chain (no per-request cost)', () => {
    assert.equal(compose([], ok), ok);
  });

  it('runs layers in config order, each around the next', async () => {
    const trail: string[] = [];
    const handler = compose([{ name: 'a', middleware: tag('a', trail) }, { name: 'b', middleware: tag('b', trail) }], ok);
    const res = await handler(fakeRequest());
    assert.deepEqual(trail, ['>a', '>b', '<b', '<a']);
    assert.equal(res.headers['x-seen'], 'ab');
  });

  it('lets a middleware short-circuit: later layers and the terminal never run', async () => {
    let reached = false;
    const deny: Middleware = () => async () => ({ status: 403, headers: {}, body: 'no' });
    const spy: Middleware = (next) => (req) => {
      reached = true;
      return next(req);
    };
    const res = await compose([{ name: 'deny', middleware: deny }, { name: 'spy', middleware: spy }], ok)(fakeRequest());
    assert.equal(res.status, 403);
    assert.equal(reached, false);
  });

  it('lets a middleware change the response after next', async () => {
    const stamp: Middleware = (next) => async (req) => {
      const res: GatewayResponse = await next(req);
      return { ...res, status: 203, headers: { ...res.headers, 'x-stamp': '1' } };
    };
    const res = await compose([{ name: 'stamp', middleware: stamp }], ok)(fakeRequest());
    assert.equal(res.status, 203);
    assert.equal(res.headers['x-stamp'], '1');
  });

  it('refuses a second next() for the same request, even with a copied request', async () => {
    const twice: Middleware = (next) => async (req) => {
      await next(req);
      return next({ ...req });
    };
    await assert.rejects(compose([{ name: 'twice', middleware: twice }], ok)(fakeRequest()), NextCalledTwiceError);
  });

  it('allows next() once per request across many requests', async () => {
    const handler = compose([{ name: 'a', middleware: (next) => (req) => next(req) }], ok);
    for (let i = 0; i < 3; i++) assert.equal((await handler(fakeRequest())).status, 200);
  });

  it('guards every layer of a long chain, past the 31 tracked in one integer', async () => {
    const pass: Middleware = (next) => (req) => next(req);
    const layers = Array.from({ length: 40 }, (_, i) => ({ name: `l${i}`, middleware: pass }));
    assert.equal((await compose(layers, ok)(fakeRequest())).status, 200);
    for (const at of [0, 30, 31, 39]) {
      const twice: Middleware = (next) => async (req) => {
        await next(req);
        return next(req);
      };
      const chain = layers.map((l, i) => (i === at ? { name: `twice${at}`, middleware: twice } : l));
      await assert.rejects(compose(chain, ok)(fakeRequest()), (err: unknown) => err instanceof NextCalledTwiceError && err.message.includes(`twice${at}`));
    }
  });
});
