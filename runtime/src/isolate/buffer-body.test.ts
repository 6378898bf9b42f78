import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  BodyTooLargeError,
  DEFAULT_MAX_BODY_BYTES,
  bodyFragment,
  declaredTooLarge,
  isIdentityEncoded,
  readBounded,
  replacedBytes,
  replayBody,
  resolveMaxBodyBytes,
} from './buffer-body.ts';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

describe('readBounded', () => {
  it('reads a chunked body up to and including the bound', async () => {
    const bytes = await readBounded(Readable.from([Buffer.from('abc'), Buffer.from('defg')], { objectMode: false }), 7);
    assert.equal(bytes.toString(), 'abcdefg');
  });

  it('accepts string chunks and an empty body', async () => {
    assert.equal((await readBounded(Readable.from(['hé', 'llo'], { objectMode: false }), 100)).toString(), 'héllo');
    assert.equal((await readBounded(Readable.from([], { objectMode: false }), 0)).length, 0);
  });

  it('stops at the first chunk over the bound, leaving the stream paused and not destroyed', async () => {
    const stream = new PassThrough();
    const reading = readBounded(stream, 10);
    stream.write(Buffer.alloc(6));
    stream.write(Buffer.alloc(6));
    await assert.rejects(reading, BodyTooLargeError);
    assert.equal(stream.destroyed, false);
    assert.equal(stream.isPaused(), true);
    // A late error from whoever destroys it later is not an uncaught exception.
    stream.destroy(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
  });

  it('rejects with the stream error, and on a close before the end', async () => {
    const failing = new PassThrough();
    const reading = readBounded(failing, 100);
    failing.write('x');
    failing.destroy(new Error('reset'));
    await assert.rejects(reading, /reset/);

    const closing = new PassThrough({ emitClose: true });
    const premature = readBounded(closing, 100);
    closing.destroy();
    await assert.rejects(premature, /closed before its end/);
  });

  it('handles a stream that already ended, or was destroyed', async () => {
    const ended = Readable.from([Buffer.from('x')], { objectMode: false });
    await collect(ended);
    assert.equal((await readBounded(ended, 10)).length, 0);
    const destroyed = new PassThrough();
    destroyed.destroy();
    await assert.rejects(readBounded(destroyed, 10));
  });
});

describe('body helpers', () => {
  it('refuses by Content-Length only when it is declared and over the bound', () => {
    assert.equal(declaredTooLarge({ 'content-length': '11' }, 10), true);
    assert.equal(declaredTooLarge({ 'content-length': '10' }, 10), false);
    assert.equal(declaredTooLarge({ 'transfer-encoding': 'chunked' }, 10), false);
    assert.equal(declaredTooLarge({}, 0), false);
  });

  it('tells identity coding from compressed bodies', () => {
    assert.equal(isIdentityEncoded({}), true);
    assert.equal(isIdentityEncoded({ 'content-encoding': 'Identity' }), true);
    assert.equal(isIdentityEncoded({ 'content-encoding': 'gzip' }), false);
    assert.equal(isIdentityEncoded({ 'content-encoding': ['gzip', 'br'] }), false);
  });

  it('resolves the bound: a non-negative integer, else 1 MiB', () => {
    assert.equal(DEFAULT_MAX_BODY_BYTES, 1_048_576);
    assert.equal(resolveMaxBodyBytes(null), DEFAULT_MAX_BODY_BYTES);
    assert.equal(resolveMaxBodyBytes(-1), DEFAULT_MAX_BODY_BYTES);
    assert.equal(resolveMaxBodyBytes(1.5), DEFAULT_MAX_BODY_BYTES);
    assert.equal(resolveMaxBodyBytes('10'), DEFAULT_MAX_BODY_BYTES);
    assert.equal(resolveMaxBodyBytes(0), 0);
    assert.equal(resolveMaxBodyBytes(4096), 4096);
  });

  it('makes message fragments: text as a JSON string, bytes as base64, JSON verbatim once it parses', () => {
    const text = bodyFragment('text', Buffer.from('a "quoted"\nline é'));
    assert.equal(JSON.parse(text!), 'a "quoted"\nline é');
    assert.equal(bodyFragment('bytes', Buffer.from([0, 255, 1])), '"AP8B"');
    assert.equal(bodyFragment('bytes', Buffer.alloc(0)), '""');
    assert.equal(bodyFragment('json', Buffer.from(' {"a": [1, 2]} ')), ' {"a": [1, 2]} ');
    assert.equal(bodyFragment('json', Buffer.from('\uFEFF{"bom":1}')), '{"bom":1}');
    assert.equal(bodyFragment('json', Buffer.from('  ')), undefined);
    assert.throws(() => bodyFragment('json', Buffer.from('{"a":')), SyntaxError);
    assert.throws(() => bodyFragment('json', Buffer.from('1 2')), SyntaxError);
  });

  it('reads replaced bodies by tag, and refuses anything else', () => {
    assert.deepEqual(replacedBytes(['t', 'é']), { bytes: Buffer.from('é'), json: false });
    assert.deepEqual(replacedBytes(['j', '{"a":1}']), { bytes: Buffer.from('{"a":1}'), json: true });
    assert.deepEqual(replacedBytes(['b', 'AP8B']), { bytes: Buffer.from([0, 255, 1]), json: false });
    assert.deepEqual(replacedBytes(['e', '']), { bytes: Buffer.alloc(0), json: false });
    assert.equal(replacedBytes(['x', '']), null);
    assert.equal(replacedBytes('text'), null);
    assert.equal(replacedBytes(['t', 1]), null);
  });

  it('replays a buffered body as one stream', async () => {
    assert.equal((await collect(replayBody(Buffer.from('hello')))).toString(), 'hello');
  });
});
