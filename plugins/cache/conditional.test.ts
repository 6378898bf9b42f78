import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conditionsOf, notModified, notModifiedHeaders, setValidators, takeConditions } from './conditional.ts';

const stored = { etag: '"v1"', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'content-type': 'text/plain', 'cache-control': 'max-age=60' };
const cond = (headers: Record<string, string>) => conditionsOf(headers)!;

describe('conditional requests', () => {
  it('If-None-Match: weak comparison, lists, *', () => {
    assert.equal(notModified(cond({ 'if-none-match': '"v1"' }), 200, stored), true);
    assert.equal(notModified(cond({ 'if-none-match': 'W/"v1"' }), 200, stored), true);
    assert.equal(notModified(cond({ 'if-none-match': '"v1"' }), 200, { etag: 'W/"v1"' }), true);
    assert.equal(notModified(cond({ 'if-none-match': '"v0", "v1"' }), 200, stored), true);
    assert.equal(notModified(cond({ 'if-none-match': '"a,b"' }), 200, { etag: '"a,b"' }), true, 'a comma inside a tag');
    assert.equal(notModified(cond({ 'if-none-match': '"v2"' }), 200, stored), false);
    assert.equal(notModified(cond({ 'if-none-match': '*' }), 200, stored), true);
    assert.equal(notModified(cond({ 'if-none-match': '"v1"' }), 200, { 'content-type': 'x' }), false, 'no ETag: nothing matches');
    assert.equal(notModified(cond({ 'if-none-match': '"v1"' }), 404, stored), false, 'only a 200 becomes a 304');
  });

  it('If-Modified-Since against Last-Modified, ignored when If-None-Match is there', () => {
    assert.equal(notModified(cond({ 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT' }), 200, stored), true);
    assert.equal(notModified(cond({ 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' }), 200, stored), true);
    assert.equal(notModified(cond({ 'if-modified-since': 'Tue, 31 Dec 2024 00:00:00 GMT' }), 200, stored), false);
    assert.equal(notModified(cond({ 'if-modified-since': 'not a date' }), 200, stored), false);
    assert.equal(notModified(cond({ 'if-none-match': '"v2"', 'if-modified-since': 'Thu, 02 Jan 2025 00:00:00 GMT' }), 200, stored), false);
  });

  it('takes the client\'s conditions off a request, and puts the stored validators on one', () => {
    const headers: Record<string, string> = { host: 'h', 'if-none-match': '"x"', 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT' };
    assert.deepEqual(takeConditions(headers), { ifNoneMatch: '"x"', ifModifiedSince: 'Wed, 01 Jan 2025 00:00:00 GMT' });
    assert.deepEqual(headers, { host: 'h' });
    assert.equal(takeConditions(headers), null);
    setValidators(headers, stored);
    assert.deepEqual(headers, { host: 'h', 'if-none-match': '"v1"', 'if-modified-since': 'Wed, 01 Jan 2025 00:00:00 GMT' });
  });

  it('a 304 carries the validators and caching fields, not the representation\'s', () => {
    assert.deepEqual(notModifiedHeaders({ ...stored, 'content-length': '5', age: '3', 'cache-status': 'c; hit' }), {
      'cache-control': 'max-age=60',
      etag: '"v1"',
      'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT',
      age: '3',
      'cache-status': 'c; hit',
    });
  });
});
