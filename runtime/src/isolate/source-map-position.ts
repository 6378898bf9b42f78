/**
 * One position looked up in a source map, without decoding the whole map.
 *
 * Why not `node:module`'s SourceMap (or @jridgewell/trace-mapping): both decode every mapping
 * before the first lookup. For a plugin that bundles zod (444 KB of mappings) Node's took 88-107
 * ms here (trace-mapping 32-59 ms of CPU), on the gateway's main thread, the first time a plugin
 * version threw: every request in flight waited for it, and the watchdog once charged it to the
 * hook. The gateway looks up a few positions per plugin version (a throw's top frame, each
 * console call site), so scanning the mappings for each new position with nothing allocated per
 * segment, and remembering the answer (SourceMapLookup), is cheaper: 11-15 ms for that map, cold
 * (4 ms once warm), all measured as wall time in a fresh process.
 *
 * Same answer as `SourceMap.findEntry` for a map whose segments are in order within each line,
 * as esbuild writes them (Node sorts them; this scan relies on the order): the last mapping at or
 * before the position (it may be on an earlier generated line); null when there is none, or it
 * names no source.
 */

import { LRUCache } from 'lru-cache';

/** The fields of a source map (v3) that a lookup reads. */
export interface SourceMapFields {
  readonly mappings: string;
  readonly sources: readonly (string | null)[];
}

/** A position in an original source: 0-based line and column, as in the map. */
export interface OriginalPosition {
  readonly source: string;
  readonly line: number;
  readonly column: number;
}

/** Base64 digit values by char code; -1 for anything else. */
const DIGITS = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) DIGITS[c.charCodeAt(0)] = i;

const SEMICOLON = 59;
const COMMA = 44;

/** The original position of 0-based generated `line`/`column`, or null. */
export function findOriginalPosition(map: SourceMapFields, line: number, column: number): OriginalPosition | null {
  const text = map.mappings;
  const end = text.length;
  // The decoder's state: the generated column restarts on each line; the rest run on across lines.
  let genLine = 0;
  let genColumn = 0;
  let source = 0;
  let origLine = 0;
  let origColumn = 0;
  // The segment being read: which field comes next, and the VLQ value being built.
  let fieldIndex = 0;
  let value = 0;
  let shift = 0;
  // The source of the best segment so far: -1 none yet, or one without a source.
  let found = -1;
  let foundLine = 0;
  let foundColumn = 0;
  // One pass, one character at a time, everything in locals: a lookup runs once and never gets
  // warm, and a first version that read each field through a closure took 5x as long.
  for (let at = 0; at <= end; at++) {
    const c = at < end ? text.charCodeAt(at) : SEMICOLON;
    if (c !== COMMA && c !== SEMICOLON) {
      const digit = c < 128 ? DIGITS[c]! : -1;
      if (digit < 0 || shift > 30) throw new Error(`source map: bad mappings at ${at}`);
      value |= (digit & 31) << shift;
      if ((digit & 32) !== 0) {
        shift += 5;
        continue;
      }
      const delta = (value & 1) === 1 ? -(value >>> 1) : value >>> 1;
      if (fieldIndex === 0) genColumn += delta;
      else if (fieldIndex === 1) source += delta;
      else if (fieldIndex === 2) origLine += delta;
      else if (fieldIndex === 3) origColumn += delta;
      fieldIndex++;
      value = 0;
      shift = 0;
      continue;
    }
    // The end of a segment (if one was read): is it still at or before the position?
    if (fieldIndex > 0) {
      if (genLine === line && genColumn > column) break;
      found = fieldIndex >= 4 ? source : -1;
      foundLine = origLine;
      foundColumn = origColumn;
      fieldIndex = 0;
    }
    if (c === SEMICOLON) {
      if (++genLine > line) break;
      genColumn = 0;
    }
  }
  if (found < 0) return null;
  const name = map.sources[found];
  return typeof name === 'string' ? { source: name, line: foundLine, column: foundColumn } : null;
}

/** Positions remembered per map: a plugin throws from a few sites, often from the same one. */
const REMEMBERED_POSITIONS = 256;

/**
 * Lookups in one map, each position scanned for once: a plugin that throws on every bad request
 * would otherwise cost a scan (4 ms warm for a bundle with zod) per failed request.
 */
export class SourceMapLookup {
  readonly #map: SourceMapFields;
  /** Answers by `line:column`; null is an answer too. */
  readonly #answers = new LRUCache<string, { found: OriginalPosition | null }>({ max: REMEMBERED_POSITIONS });
  #scans = 0;

  constructor(map: SourceMapFields) {
    this.#map = map;
  }

  /** Scans of the mappings made so far (exposed for tests). */
  get scans(): number {
    return this.#scans;
  }

  /**
   * As {@link findOriginalPosition}, except that a map it cannot read (esbuild never writes one)
   * answers null: a location is a detail of a failure's report, never a reason for it to fail.
   */
  find(line: number, column: number): OriginalPosition | null {
    const key = `${line}:${column}`;
    let answer = this.#answers.get(key);
    if (!answer) {
      this.#scans++;
      let found: OriginalPosition | null;
      try {
        found = findOriginalPosition(this.#map, line, column);
      } catch {
        found = null;
      }
      answer = { found };
      this.#answers.set(key, answer);
    }
    return answer.found;
  }
}
