import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap } from '../../chain/types.ts';
import { startUpstream } from '../../chain/instruments.ts';
import type { ResolvedBackend, ResolvedRoute } from '../../config/resolved-config.ts';
import { GatewayError, JSON_HEADERS, type ErrorKey } from '../../errors.ts';
import { bufferRequestBody, type BodyBufferBudget } from '../buffer-request-body.ts';
import type { QueueTimeoutOptions } from '../interceptors/queue-timeout.ts';
import { upstreamRequestHeaders } from '../proxy-handler.ts';
import { compileShape, type Shape } from '../shape/json-shape.ts';
import { readJsonAnswer, UnusableAnswer } from '../shape/read-json.ts';
import { compileValueTemplate, fillValueTemplate, MissingTemplateValue, type CompiledValueTemplate, type TemplateValues } from '../template.ts';
import { toGatewayError, upstreamFailure } from '../upstream-errors.ts';
import { backoff, RetryPolicy } from '../retry/retry-policy.ts';
import type { UpstreamTarget } from '../upstream-set.ts';
import { callUpstream, type UpstreamAnswer } from '../upstream-call.ts';

/** The header saying whether every backend answered (KrakenD's `X-KrakenD-Completed`). */
export const COMPLETED_HEADER = 'x-isogate-completed';

interface CompiledBackend {
  readonly index: number;
  readonly backend: ResolvedBackend;
  readonly target: UpstreamTarget;
  /** Everything after the origin: path and query, a template. */
  readonly pathAndQuery: CompiledValueTemplate;
  readonly headers: readonly [name: string, value: CompiledValueTemplate][];
  readonly shape: Shape;
}

/** One backend's outcome: its shaped fields and raw answer, or why it failed (the catalogue error it would be). */
type Outcome = { ok: true; shaped: Record<string, unknown>; raw: unknown } | { ok: false; error: ErrorKey; reason: string };

export interface AggregateSettings {
  readonly bufferBodyBytes: number;
  readonly bodyBudget: BodyBufferBudget;
  readonly logger: Logger;
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The terminal handler of an aggregated route: call every backend (at once, or after the backends
 * whose answers its URL uses), shape each JSON answer, merge them in the order the backends are
 * listed (a later backend's field wins), and answer one JSON object. Every backend call is an
 * upstream call to the observers (a CLIENT span, an upstream-duration observation each). A
 * backend's error body never reaches the client; with `partial: 'flag'` what arrived is answered
 * with `X-Isogate-Completed: false`, with `'fail'` the coded 502/504.
 */
export function createAggregateHandler(route: ResolvedRoute, targets: readonly UpstreamTarget[], settings: AggregateSettings): Handler {
  const { partial, deadline, maxBackendBytes } = route.aggregate;
  const log = settings.logger.child({ route: route.name });
  // One policy and budget for the route's backend calls, bounded by the aggregation's deadline.
  const retry = route.retry === null ? null : new RetryPolicy(route.retry);
  const backends: CompiledBackend[] = route.backends!.map((backend, index) => {
    const target = targets[index]!;
    const url = compileValueTemplate(backend.url).template;
    // resolve-backends made sure the origin is literal: the first part starts with it.
    const first = url[0] as string;
    const afterOrigin = first.slice(/^https?:\/\/[^/?#]*/i.exec(first)![0].length);
    const pathAndQuery = [afterOrigin.startsWith('/') ? afterOrigin : `/${afterOrigin}`, ...url.slice(1)];
    return {
      index,
      backend,
      target,
      pathAndQuery,
      headers: Object.entries(backend.headers).map(([name, value]) => [name, compileValueTemplate(value).template] as const),
      shape: compileShape(backend),
    };
  });

  return async function aggregateBackends(req: GatewayRequest): Promise<GatewayResponse> {
    let body: Buffer | null = null;
    let release = () => {};
    if (req.body !== null) {
      const prepared = await bufferRequestBody(req.body, declaredLength(req.headers), Math.max(settings.bufferBodyBytes, 1), settings.bodyBudget);
      if (prepared.kind !== 'buffer') {
        prepared.release();
        // One body cannot be streamed to several backends.
        throw new GatewayError('BODY_TOO_LARGE');
      }
      body = prepared.body;
      release = prepared.release;
    }
    // One controller and one timer per request (AbortSignal.any and .timeout per backend cost
    // several times more); each backend's own timeout is undici's headers/body timeout.
    const stopper = new AbortController();
    const stop = stopper.signal;
    const onClientGone = () => stopper.abort(req.signal.reason);
    req.signal.addEventListener('abort', onClientGone, { once: true });
    const timer = setTimeout(() => stopper.abort(new GatewayError('UPSTREAM_TIMEOUT')), deadline);
    const end = Date.now() + deadline;
    const values: TemplateValues & { responses: unknown[] } = { params: req.params, claims: req.claims, query: req.query, clientIp: req.clientIp, responses: [] };
    const outcomes: Promise<Outcome>[] = [];
    try {
      for (const b of backends) {
        outcomes.push(
          Promise.all(b.backend.after.map((i) => outcomes[i]!)).then((earlier) => {
            const failed = earlier.findIndex((o) => !o.ok);
            if (failed !== -1) return { ok: false, error: 'UPSTREAM_UNAVAILABLE', reason: `backends[${b.backend.after[failed]}], whose answer it needs, failed` } satisfies Outcome;
            return callBackend(req, b, values, body, stop, end);
          }),
        );
      }
      const settled = await Promise.all(outcomes);
      return answer(req, settled);
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onClientGone);
      release();
    }
  };

  async function callBackend(req: GatewayRequest, b: CompiledBackend, values: TemplateValues & { responses: unknown[] }, body: Buffer | null, stop: AbortSignal, end: number): Promise<Outcome> {
    let path: string;
    const headers = upstreamRequestHeaders(req, route, b.target);
    try {
      path = fillValueTemplate(b.pathAndQuery, values, true);
      for (const [name, value] of b.headers) headers[name] = fillValueTemplate(value, values, false);
    } catch (err) {
      if (err instanceof MissingTemplateValue) return { ok: false, error: 'UPSTREAM_BAD_RESPONSE', reason: err.message };
      throw err;
    }
    const sendsBody = body !== null && METHODS_WITH_BODY.has(b.backend.method);
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    if (!sendsBody) delete headers['content-type'];
    // The answer is parsed here: ask for it unencoded, and as JSON.
    headers['accept-encoding'] = 'identity';
    headers['accept'] ??= 'application/json';
    // With `retry`: each attempt an upstream call of its own, within the route's deadline and retry budget.
    const repeatable = RetryPolicy.repeatable(b.backend.method, sendsBody);
    retry?.budget.deposit();
    let attempt = 0;
    let done = startUpstream(req, { origin: b.target.origin, method: b.backend.method, path, headers });
    try {
      let data: UpstreamAnswer;
      for (;;) {
        attempt++;
        try {
          data = await callUpstream(
            b.target.pool,
            { path, method: b.backend.method as Dispatcher.HttpMethod, headers, body: sendsBody ? body : null, headersTimeout: b.backend.timeout, bodyTimeout: b.backend.timeout, queueTimeout: route.timeout.queue } as Dispatcher.DispatchOptions & QueueTimeoutOptions,
            stop,
          );
        } catch (err) {
          if (retry === null || req.signal.aborted || stop.aborted || attempt >= retry.attempts || !retry.retriesFailure(upstreamFailure(err), repeatable)) throw err;
          const wait = retry.delay(attempt);
          if (!(end - Date.now() > wait && retry.budget.withdraw())) throw err;
          done?.({ error: err });
          done = null;
          await backoff(wait, stop);
          done = startUpstream(req, { origin: b.target.origin, method: b.backend.method, path, headers });
          continue;
        }
        if (retry !== null && attempt < retry.attempts && retry.retriesStatus(data.statusCode, repeatable)) {
          const wait = retry.delay(attempt);
          if (end - Date.now() > wait && retry.budget.withdraw()) {
            done?.({ status: data.statusCode });
            done = null;
            // Read a small error body to its end so that its connection is kept.
            data.body.drain();
            await backoff(wait, stop);
            done = startUpstream(req, { origin: b.target.origin, method: b.backend.method, path, headers });
            continue;
          }
        }
        break;
      }
      done?.({ status: data.statusCode });
      done = null;
      if (data.statusCode < 200 || data.statusCode > 299) {
        data.body.drain();
        return { ok: false, error: 'UPSTREAM_BAD_RESPONSE', reason: `answered ${data.statusCode}` };
      }
      const raw = await readJsonAnswer(data.headers, data.body, maxBackendBytes);
      values.responses[b.index] = raw;
      const shaped = b.shape(raw);
      return shaped.ok ? { ok: true, shaped: shaped.value, raw } : { ok: false, error: 'UPSTREAM_BAD_RESPONSE', reason: shaped.reason };
    } catch (err) {
      if (err instanceof UnusableAnswer) return { ok: false, error: err.code, reason: err.message };
      done?.({ error: err });
      if (req.signal.aborted) throw err;
      const timedOut = stop.aborted || (err as { name?: string }).name === 'TimeoutError' || toGatewayError(err).key === 'UPSTREAM_TIMEOUT';
      return { ok: false, error: timedOut ? 'UPSTREAM_TIMEOUT' : toGatewayError(err).key, reason: (err as Error).message };
    }
  }

  function answer(req: GatewayRequest, outcomes: readonly Outcome[]): GatewayResponse {
    const merged: Record<string, unknown> = {};
    let failures = 0;
    let error: ErrorKey = 'UPSTREAM_UNAVAILABLE';
    outcomes.forEach((outcome, i) => {
      if (outcome.ok) {
        Object.assign(merged, outcome.shaped);
        return;
      }
      failures++;
      // A timeout decides the status (504) over other failures (502).
      if (error !== 'UPSTREAM_TIMEOUT') error = outcome.error;
      log.warn({ backend: i, url: backends[i]!.backend.url, code: `ISOGATE_ERR_${outcome.error}`, reason: outcome.reason, method: req.method }, 'backend of an aggregated route failed');
    });
    if (failures > 0 && (partial === 'fail' || failures === outcomes.length)) throw new GatewayError(error);
    return {
      status: 200,
      headers: { 'content-type': JSON_HEADERS['content-type'], [COMPLETED_HEADER]: failures === 0 ? 'true' : 'false' },
      body: JSON.stringify(merged),
    };
  }
}

function declaredLength(headers: HeaderMap): number | null {
  const value = headers['content-length'];
  return typeof value === 'string' ? Number(value) : null;
}
