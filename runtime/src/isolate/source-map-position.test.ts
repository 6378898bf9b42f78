import assert from 'node:assert/strict';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { bundlePlugin } from './bundle-plugin.ts';
import { findOriginalPosition, SourceMapLookup, type SourceMapFields } from './source-map-position.ts';

const root = path.resolve(import.meta.dirname, '../../..');

/** Node's answer, in this module's shape. */
function nodeAnswer(map: SourceMap, line: number, column: number): { source: string; line: number; column: number } | null {
  const entry = map.findEntry(line, column);
  if (!('originalSource' in entry) || !entry.originalSource) return null;
  return { source: entry.originalSource, line: entry.originalLine, column: entry.originalColumn };
}

describe('findOriginalPosition', () => {
  it("answers as node:module's SourceMap does, at every sampled position of a real bundle (a plugin with zod)", async () => {
    const bundle = await bundlePlugin(path.join(root, 'examples/plugins/add-header.ts'));
    const json = JSON.parse(bundle.sourceMap!) as SourceMapFields;
    const reference = new SourceMap(json as unknown as ConstructorParameters<typeof SourceMap>[0]);
    const lines = bundle.code.split('\n');
    let compared = 0;
    let mapped = 0;
    // Every 97th line (and the last few), at its first columns, a middle one and past its end.
    const sampled = new Set<number>([0, 1, 2, lines.length - 3, lines.length - 2, lines.length - 1, lines.length + 5]);
    for (let l = 0; l < lines.length; l += 97) sampled.add(l);
    for (const line of sampled) {
      const length = lines[line]?.length ?? 0;
      for (const column of new Set([0, 1, 2, 3, Math.floor(length / 2), length, length + 10])) {
        const ours = findOriginalPosition(json, line, column);
        assert.deepEqual(ours, nodeAnswer(reference, line, column), `line ${line} column ${column}`);
        compared++;
        if (ours) mapped++;
      }
    }
    assert.ok(compared > 1_000, `${compared} positions compared`);
    assert.ok(mapped > compared / 2, `most positions map somewhere (${mapped} of ${compared})`);
  });

  it('reads the v3 encoding: negative deltas, multi-digit values, segments without a source, empty lines', () => {
    // Line 0: [0] no source; [4, src 0, line 10, col 5]. Line 1 empty. Line 2: [2, src 1, line 3 (10-7), col 0 (5-5)], [40, src 1, line 3, col 100].
    const map: SourceMapFields = { sources: ['a.ts', 'b.ts'], mappings: 'A,IAUK;;ECPL,sCAAoG' };
    assert.equal(findOriginalPosition(map, 0, 0), null, 'a segment without a source');
    assert.equal(findOriginalPosition(map, 0, 3), null);
    assert.deepEqual(findOriginalPosition(map, 0, 4), { source: 'a.ts', line: 10, column: 5 });
    assert.deepEqual(findOriginalPosition(map, 1, 7), { source: 'a.ts', line: 10, column: 5 }, 'an empty line: the last mapping before it');
    assert.deepEqual(findOriginalPosition(map, 2, 1), { source: 'a.ts', line: 10, column: 5 });
    assert.deepEqual(findOriginalPosition(map, 2, 2), { source: 'b.ts', line: 3, column: 0 });
    assert.deepEqual(findOriginalPosition(map, 2, 39), { source: 'b.ts', line: 3, column: 0 });
    assert.deepEqual(findOriginalPosition(map, 2, 40), { source: 'b.ts', line: 3, column: 100 });
    assert.deepEqual(findOriginalPosition(map, 9, 0), { source: 'b.ts', line: 3, column: 100 }, 'past the last line');
  });

  it('refuses mappings that are not base64 VLQ', () => {
    assert.throws(() => findOriginalPosition({ sources: ['a.ts'], mappings: 'AAAA,A!AA' }, 0, 9), /bad mappings at 6/);
  });

  it('SourceMapLookup scans once per position: a plugin throwing from one site on every request costs one scan', () => {
    const lookup = new SourceMapLookup({ sources: ['a.ts', 'b.ts'], mappings: 'A,IAUK;;ECPL,sCAAoG' });
    for (let i = 0; i < 3; i++) assert.deepEqual(lookup.find(2, 40), { source: 'b.ts', line: 3, column: 100 });
    assert.equal(lookup.find(0, 0), null);
    assert.equal(lookup.find(0, 0), null, 'no mapping is remembered too');
    assert.equal(lookup.scans, 2);
    assert.equal(new SourceMapLookup({ sources: ['a.ts'], mappings: 'AAAA,A!AA' }).find(0, 9), null, 'an unreadable map gives no location');
  });
});
