import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import net from 'node:net';

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

export interface SimpleRequestOptions {
  method?: string;
  headers?: OutgoingHttpHeaders | readonly [string, string][];
  body?: string | Buffer;
  timeoutMs?: number;
}

/**
 * One request over a fresh node:http connection (no agent, no keep-alive left behind). node:http
 * lets a test set Host, underscore names and hop-by-hop fields that fetch would refuse.
 */
export function httpRequest(url: string, options: SimpleRequestOptions = {}): Promise<SimpleResponse> {
  const { method = 'GET', headers = {}, body, timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    // node:http adds Host by itself only for object headers; a raw list gets one unless it has one.
    let flatHeaders: OutgoingHttpHeaders | string[] = headers as OutgoingHttpHeaders;
    if (Array.isArray(headers)) {
      const list = headers as readonly [string, string][];
      flatHeaders = list.some(([n]) => n.toLowerCase() === 'host') ? list.flat() : [['Host', new URL(url).host], ...list].flat();
    }
    const req = http.request(url, { method, headers: flatHeaders as OutgoingHttpHeaders, agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: buf, text: buf.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface RawResponse {
  status: number;
  /** Header fields in order, names lower-cased. */
  headers: [string, string][];
  body: Buffer;
  text: string;
  /** True when the gateway closed the connection after this response. */
  closed: boolean;
}

export function rawHeader(res: RawResponse, name: string): string | undefined {
  return res.headers.find(([n]) => n === name)?.[1];
}

/**
 * Parse one HTTP/1.1 response at the start of `buf` (by Content-Length, chunked framing, or until
 * close when `ended`). Null while incomplete; `rest` is what follows it. Throws on a closed
 * connection that left a response incomplete.
 */
function parseResponse(buf: Buffer, ended: boolean): { res: RawResponse; rest: Buffer } | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd === -1) {
    if (ended) throw new Error(`connection closed before a response head; got: ${JSON.stringify(buf.toString('latin1'))}`);
    return null;
  }
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const after = buf.subarray(headEnd + 4);
  const length = headers.find(([n]) => n === 'content-length')?.[1];
  const chunked = headers.some(([n, v]) => n === 'transfer-encoding' && /chunked/i.test(v));
  let body: Buffer | null = null;
  let rest: Buffer = Buffer.alloc(0);
  if (status === 101 || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
    rest = after;
  } else if (length !== undefined) {
    if (after.length >= Number(length)) {
      body = after.subarray(0, Number(length));
      rest = after.subarray(Number(length));
    }
  } else if (chunked) {
    body = dechunk(after);
  } else if (ended) {
    body = after;
  }
  if (body === null) {
    if (ended) throw new Error(`connection closed mid-body; got: ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`);
    return null;
  }
  const closed = ended || headers.some(([n, v]) => n === 'connection' && /close/i.test(v));
  return { res: { status, headers, body, text: body.toString('utf8'), closed }, rest };
}

/**
 * Write `data` on a raw TCP connection and read one HTTP/1.1 response (by Content-Length, chunked
 * framing, or until close). For what clients refuse to send: odd request-targets, bad headers,
 * slow or partial requests. Rejects if no complete response arrives within `timeoutMs`.
 */
export function rawRequest(port: number, data: string | Buffer, options: { timeoutMs?: number } = {}): Promise<RawResponse> {
  const { timeoutMs = 10_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms; got: ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`)), timeoutMs);
    function finish(err: Error | null, res?: RawResponse): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(res!);
    }
    function tryParse(ended: boolean): void {
      try {
        const parsed = parseResponse(buf, ended);
        if (parsed) finish(null, parsed.res);
      } catch (err) {
        finish(err as Error);
      }
    }
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (err) => {
      // A reset after a complete response is fine; before one, it is the failure.
      if (buf.indexOf('\r\n\r\n') !== -1) tryParse(true);
      else finish(err);
    });
    socket.write(data);
  });
}

/** A raw connection for a conversation: write, then read the responses one at a time. */
export interface RawConnection {
  write(data: string | Buffer): void;
  /** The next complete response; rejects after `timeoutMs` or when the connection closes first. */
  next(timeoutMs?: number): Promise<RawResponse>;
  /** Resolves once the gateway has closed the connection (or rejects after `timeoutMs`). */
  closed(timeoutMs?: number): Promise<void>;
  /** Every byte received so far. */
  received(): Buffer;
  destroy(): void;
}

export function rawConnection(port: number): RawConnection {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let all = Buffer.alloc(0);
  let pending: Buffer = Buffer.alloc(0);
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (chunk: Buffer) => {
    all = Buffer.concat([all, chunk]);
    pending = Buffer.concat([pending, chunk]);
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  function wait<T>(attempt: () => T | null, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        try {
          const value = attempt();
          if (value === null) return;
          done();
          resolve(value);
        } catch (err) {
          done();
          reject(err as Error);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${JSON.stringify(all.toString('latin1').slice(-300))}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }
  return {
    write: (data) => socket.write(data),
    next: (timeoutMs = 10_000) =>
      wait(
        () => {
          const parsed = parseResponse(pending, ended);
          if (parsed === null) return null;
          pending = parsed.rest;
          return parsed.res;
        },
        timeoutMs,
        'a response',
      ),
    closed: (timeoutMs = 10_000) => wait(() => (ended ? true : null), timeoutMs, 'the connection to close').then(() => undefined),
    received: () => all,
    destroy: () => socket.destroy(),
  };
}

/** Decode a complete chunked body, or null if the terminating chunk has not arrived yet. */
function dechunk(buf: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd === -1) return null;
    const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return buf.indexOf('\r\n', lineEnd + 2) === -1 ? null : Buffer.concat(parts);
    if (buf.length < lineEnd + 2 + size + 2) return null;
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return null;
}

/** Parse a gateway error body, asserting nothing: returns null when it is not the catalogue shape. */
export function errorCode(text: string): string | null {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === 'string' ? parsed.error.code : null;
  } catch {
    return null;
  }
}
