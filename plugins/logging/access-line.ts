import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RequestEvent, RequestInstrument, SentOutcome, UpstreamCall, UpstreamOutcome } from '../../runtime/src/chain/instruments.ts';
import type { GatewayRequest, HeaderMap } from '../../runtime/src/chain/types.ts';
import type { WriteLine } from './destination.ts';
import type { LoggingOptions } from './options.ts';
import { pickHeaders, REDACTED, redactQuery, userAgentOf, type Redaction } from './redaction.ts';

/** Everything one logging instance decided in `create`, shared by its requests. */
export interface AccessLog {
  readonly write: WriteLine;
  readonly redaction: Redaction;
  readonly logQuery: boolean;
  readonly logUserAgent: boolean;
  /** Share of uneventful successful requests that are logged (1: all). */
  readonly sample: number;
  /** Called after each line (or skipped line): the instance counts what is still pending. */
  readonly settled: () => void;
  /** A line could not be built or written; it runs inside the transport's callbacks, so it must never throw. */
  readonly failed: (err: unknown) => void;
}

const FAILURE_REPORT_INTERVAL_MS = 10_000;

export function compileAccessLog(options: LoggingOptions, write: WriteLine, redaction: Redaction, settled: () => void, problems: Logger): AccessLog {
  let lastReport = 0;
  let failures = 0;
  return {
    failed(err) {
      failures++;
      const now = Date.now();
      if (now - lastReport < FAILURE_REPORT_INTERVAL_MS) return;
      lastReport = now;
      problems.error({ err, failures }, 'an access line could not be written');
    },
    write,
    redaction,
    logQuery: options.query && !redaction.fields.has('query'),
    logUserAgent: options.userAgent && !redaction.fields.has('userAgent'),
    sample: options.sample,
    settled,
  };
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * The record of one request, attached to it as an instrument: it collects upstream timings and
 * events while the request runs and writes the line when the response has been sent (or
 * abandoned). One allocation per request; the line object is built once, at the end.
 */
export class AccessRecord implements RequestInstrument {
  readonly #log: AccessLog;
  readonly #started: number;
  readonly requestId: string;
  #upstreamMs = 0;
  #upstreamAttempts = 0;
  #upstream: string | undefined;
  #upstreamError: string | undefined;
  #events: RequestEvent[] | undefined;
  #responseHeaders: HeaderMap | undefined;
  #done = false;
  // What the client asked for, before later middleware rewrites the request.
  readonly #path: string;
  readonly #query: string;
  readonly #userAgent: string | undefined;
  readonly #requestHeaders: Record<string, string | string[]> | undefined;

  constructor(log: AccessLog, req: GatewayRequest, requestId: string) {
    this.#log = log;
    this.#started = performance.now();
    this.requestId = requestId;
    this.#path = req.path;
    this.#query = req.query;
    this.#userAgent = log.logUserAgent ? userAgentOf(req.headers) : undefined;
    const picks = log.redaction.requestHeaders;
    this.#requestHeaders = picks === null ? undefined : pickHeaders(req.headers, picks);
  }

  /** The response as it leaves the chain (its headers are read only if `responseHeaders` asks for some). */
  responded(headers: HeaderMap): void {
    this.#responseHeaders = headers;
  }

  upstreamStart(_req: GatewayRequest, call: UpstreamCall): (outcome: UpstreamOutcome) => void {
    const started = performance.now();
    this.#upstreamAttempts++;
    this.#upstream = call.origin;
    return (outcome) => {
      this.#upstreamMs += performance.now() - started;
      // A code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT), never a message: messages can carry addresses or payloads.
      this.#upstreamError = outcome.error === undefined ? undefined : errorCode(outcome.error);
    };
  }

  event(_req: GatewayRequest, event: RequestEvent): void {
    (this.#events ??= []).push(event);
  }

  sent(req: GatewayRequest, status: number, outcome: SentOutcome): void {
    this.finish(req, status, outcome.bytes, outcome.aborted);
  }

  /** Write the line, once. */
  finish(req: GatewayRequest, status: number, bytes: number, aborted: boolean): void {
    if (this.#done) return;
    this.#done = true;
    const log = this.#log;
    try {
      if (log.sample < 1 && status < 400 && !aborted && this.#events === undefined && Math.random() >= log.sample) return;
      const durationMs = round3(performance.now() - this.#started);
      const { fields, responseHeaders, queryParams, queryAllow } = log.redaction;
      const pathRedacted = fields.has('path');
      const routeTemplate = req.route.path;
      const path = this.#path;
      const line = {
        requestId: this.requestId,
        method: req.method,
        route: routeTemplate,
        routeName: req.route.name,
        path: pathRedacted ? REDACTED : path,
        query: log.logQuery && this.#query !== '' ? redactQuery(this.#query, queryParams, queryAllow) : undefined,
        status,
        durationMs,
        upstream: this.#upstream,
        upstreamMs: this.#upstreamAttempts === 0 ? undefined : round3(this.#upstreamMs),
        upstreamAttempts: this.#upstreamAttempts === 0 ? undefined : this.#upstreamAttempts,
        upstreamError: this.#upstreamError,
        bytes,
        aborted,
        clientIp: fields.has('clientIp') ? REDACTED : req.clientIp,
        userAgent: this.#userAgent,
        upgrade: req.upgrade ? true : undefined,
        events: this.#events,
        headers: this.#requestHeaders,
        responseHeaders: responseHeaders === null || this.#responseHeaders === undefined ? undefined : pickHeaders(this.#responseHeaders, responseHeaders),
      };
      // The message is for people reading `isogate dev`; machines read the fields.
      const shown = pathRedacted ? routeTemplate : path;
      log.write(line, `${req.method} ${shown} ${status} ${durationMs}ms${aborted ? ' aborted' : ''}`);
    } catch (err) {
      // e.g. an event another plugin reported that JSON cannot carry (a BigInt, a cycle).
      log.failed(err);
    } finally {
      log.settled();
    }
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown } | null;
  if (e !== null && typeof e === 'object') {
    if (typeof e.code === 'string') return e.code;
    if (typeof e.name === 'string') return e.name;
  }
  return 'error';
}
