import type { CacheRecord } from './store.ts';

/**
 * A record as one Redis string: a version byte, a kind byte, the length of a JSON head (u32, big
 * endian), the head, then the body bytes as they are (no base64). Anything that does not decode
 * (another version, a truncated value, a key some other program wrote) is a miss.
 */
const VERSION = 1;
const RESPONSE = 1;
const VARY = 2;
const PREAMBLE = 6;

interface ResponseHead {
  s: number;
  h: Record<string, string | string[]>;
  t: number;
  f: number;
  w: number;
}
interface VaryHead {
  n: string[];
  g: string;
}

export function encodeRecord(record: CacheRecord): Buffer {
  const head =
    record.kind === 'response'
      ? JSON.stringify({ s: record.status, h: record.headers, t: record.storedAt, f: record.freshUntil, w: record.staleUntil } satisfies ResponseHead)
      : JSON.stringify({ n: [...record.names], g: record.generation } satisfies VaryHead);
  const headBytes = Buffer.byteLength(head);
  const body = record.kind === 'response' ? record.body : null;
  const out = Buffer.allocUnsafe(PREAMBLE + headBytes + (body?.byteLength ?? 0));
  out[0] = VERSION;
  out[1] = record.kind === 'response' ? RESPONSE : VARY;
  out.writeUInt32BE(headBytes, 2);
  out.write(head, PREAMBLE, 'utf8');
  if (body !== null) body.copy(out, PREAMBLE + headBytes);
  return out;
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function isHeaders(v: unknown): v is Record<string, string | string[]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const value of Object.values(v)) if (typeof value !== 'string' && !isStringList(value)) return false;
  return true;
}

export function decodeRecord(value: Buffer): CacheRecord | undefined {
  if (value.byteLength < PREAMBLE || value[0] !== VERSION) return undefined;
  const headBytes = value.readUInt32BE(2);
  if (PREAMBLE + headBytes > value.byteLength) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(value.toString('utf8', PREAMBLE, PREAMBLE + headBytes));
  } catch {
    return undefined;
  }
  if (typeof head !== 'object' || head === null) return undefined;
  if (value[1] === RESPONSE) {
    const r = head as Partial<ResponseHead>;
    if (typeof r.s !== 'number' || typeof r.t !== 'number' || typeof r.f !== 'number' || typeof r.w !== 'number' || !isHeaders(r.h)) return undefined;
    // A view: a record read from Redis is served and dropped, never kept.
    const body = value.subarray(PREAMBLE + headBytes);
    return { kind: 'response', status: r.s, headers: r.h, body, storedAt: r.t, freshUntil: r.f, staleUntil: r.w };
  }
  if (value[1] === VARY) {
    const v = head as Partial<VaryHead>;
    if (!isStringList(v.n) || typeof v.g !== 'string') return undefined;
    return { kind: 'vary', names: v.n, generation: v.g };
  }
  return undefined;
}
