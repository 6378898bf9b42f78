import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { captureBody } from './capture-body.ts';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function captured(): { done: (b: Buffer | null) => void; result: Promise<Buffer | null>; calls: number } {
  let resolve!: (b: Buffer | null) => void;
  const out = { calls: 0, result: new Promise<Buffer | null>((r) => (resolve = r)), done: (b: Buffer | null) => { out.calls++; resolve(b); } };
  return out;
}

describe('captureBody', () => {
  it('passes the body through and keeps a copy of it when it ends within the bound', async () => {
    const c = captured();
    const out = captureBody(Readable.from([Buffer.from('hello '), Buffer.from('world')]), 100, c.done) as Readable;
    assert.equal((await readAll(out)).toString(), 'hello world');
    assert.equal((await c.result)?.toString(), 'hello world');
    assert.equal(c.calls, 1);
  });

  it('streams a body over the bound through entirely, keeping nothing', async () => {
    const c = captured();
    const chunks = Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000, i));
    const out = captureBody(Readable.from(chunks), 2500, c.done) as Readable;
    assert.equal((await readAll(out)).length, 10_000);
    assert.equal(await c.result, null);
    assert.equal(c.calls, 1);
  });

  it('keeps nothing when the client goes away (and the source is destroyed)', async () => {
    const c = captured();
    const source = new PassThrough();
    const out = captureBody(source, 1000, c.done) as Readable;
    source.write('part');
    out.destroy();
    assert.equal(await c.result, null);
    if (!source.destroyed) await once(source, 'close');
    assert.equal(source.destroyed, true, 'the upstream body is released');
  });

  it('keeps nothing when the source fails', async () => {
    const c = captured();
    const source = new PassThrough();
    const out = captureBody(source, 1000, c.done) as Readable;
    out.on('error', () => {});
    out.resume();
    source.write('part');
    source.destroy(new Error('upstream reset'));
    assert.equal(await c.result, null);
  });

  it('takes buffered bodies (a string, bytes, none) as they are', () => {
    const c1 = captured();
    assert.equal(captureBody('text', 10, c1.done), 'text');
    const c2 = captured();
    captureBody(new Uint8Array([1, 2, 3]), 2, c2.done);
    const c3 = captured();
    assert.equal(captureBody(null, 10, c3.done), null);
    return Promise.all([c1.result, c2.result, c3.result]).then(([a, b, n]) => {
      assert.equal(a?.toString(), 'text');
      assert.equal(b, null, 'over the bound');
      assert.equal(n?.length, 0);
    });
  });
});
