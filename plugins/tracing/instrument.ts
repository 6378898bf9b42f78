import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { attachInstrument, type HookName, type PluginErrorKind, type RequestEvent, type RequestInstrument, type SentOutcome, type UpstreamCall, type UpstreamOutcome } from '../../runtime/src/chain/instruments.ts';
import type { GatewayRequest, GatewayResponse, HeaderMap, Middleware } from '../../runtime/src/chain/types.ts';
import type { BuiltinInstance, UnroutedRequest } from '../../runtime/src/plugins/builtin-plugin.ts';
import { extractSpanContext, incomingTrust, injectSpanContext } from './propagation.ts';
import { PARENT_DECISION, type ParentDecision } from './provider.ts';
import { EMPTY_REQUEST_CONTEXT } from './request-context.ts';
import type { TracingSettings } from './settings.ts';

// Gateway-specific attributes (no semantic convention covers them).
const ATTR_ROUTE_NAME = 'isogate.route.name';
const ATTR_PLUGIN = 'isogate.plugin.name';
const ATTR_HOOK = 'isogate.plugin.hook';
const ATTR_REASON = 'isogate.reason';
const ATTR_UPSTREAM = 'isogate.upstream';

interface Origin {
  readonly address: string;
  readonly port: number;
}

/** `host[:port]` of the request as the client addressed us (semconv server.address / server.port). */
function hostOf(req: Pick<GatewayRequest, 'headers' | 'fromTrustedProxy' | 'protocol'>): Origin | null {
  const raw = req.fromTrustedProxy ? (req.headers['x-forwarded-host'] ?? req.headers['host']) : req.headers['host'];
  if (typeof raw !== 'string' || raw === '') return null;
  const host = raw.split(',', 1)[0]!.trim();
  const close = host.startsWith('[') ? host.indexOf(']') : -1;
  const colon = host.indexOf(':', close + 1);
  if (colon === -1) return { address: close === -1 ? host : host.slice(1, close), port: req.protocol === 'https' ? 443 : 80 };
  const port = Number(host.slice(colon + 1));
  return { address: close === -1 ? host.slice(0, colon) : host.slice(1, close), port: Number.isInteger(port) ? port : 0 };
}

/** Semconv's known methods; any other is recorded as `_OTHER` (with the original) and named `HTTP`. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

// Credentials never reach a trace backend, even when a config asks to capture them.
const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);
const REDACTED = ['[REDACTED]'];

function headerValues(headers: HeaderMap, name: string): string[] | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (SENSITIVE_HEADERS.has(name)) return REDACTED;
  return typeof value === 'string' ? [value] : value;
}

/** A stable, low-cardinality `error.type`: the coded error's code, else the error's class name. */
function errorType(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return '_OTHER';
}

/** Static parts shared by every request of one plugin instance (built once in `create`). */
interface Shared {
  readonly tracer: Tracer;
  readonly captureRequest: readonly string[];
  readonly captureResponse: readonly string[];
  /** Parsed upstream origins: bounded by the config's upstreams. */
  readonly origins: Map<string, Origin>;
}

function originOf(shared: Shared, origin: string): Origin {
  let parsed = shared.origins.get(origin);
  if (parsed === undefined) {
    const url = new URL(origin);
    parsed = { address: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port) };
    shared.origins.set(origin, parsed);
  }
  return parsed;
}

/**
 * One sampled request: the SERVER span and its context. The core calls it at each observation
 * point; it opens a child span per user-plugin hook and a CLIENT span per upstream attempt.
 */
class RecordedRequest implements RequestInstrument {
  readonly #shared: Shared;
  readonly #span: Span;
  readonly #context: Context;
  #attempts = 0;
  #errorType: string | null = null;
  #ended = false;

  constructor(shared: Shared, span: Span) {
    this.#shared = shared;
    this.#span = span;
    this.#context = trace.setSpan(EMPTY_REQUEST_CONTEXT, span);
  }

  upstreamStart(_req: GatewayRequest, call: UpstreamCall): (outcome: UpstreamOutcome) => void {
    const origin = originOf(this.#shared, call.origin);
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: call.method,
      [ATTR_SERVER_ADDRESS]: origin.address,
      [ATTR_SERVER_PORT]: origin.port,
      // Without the query: it may carry secrets, and semconv lets instrumentations leave it out.
      [ATTR_URL_FULL]: call.origin + pathOnly(call.path),
      [ATTR_UPSTREAM]: call.origin,
    };
    if (this.#attempts > 0) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = this.#attempts;
    this.#attempts++;
    const span = this.#shared.tracer.startSpan(call.method, { kind: SpanKind.CLIENT, attributes }, this.#context);
    injectSpanContext(call.headers, span.spanContext());
    return function upstreamEnd(outcome) {
      if (outcome.status !== undefined) {
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, outcome.status);
        // Semconv: for a client, 4xx and 5xx are errors.
        if (outcome.status >= 400) {
          span.setAttribute(ATTR_ERROR_TYPE, String(outcome.status));
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
      } else {
        const type = errorType(outcome.error);
        span.setAttribute(ATTR_ERROR_TYPE, type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      }
      span.end();
    };
  }

  hookStart(_req: GatewayRequest, plugin: string, hook: HookName): (error?: PluginErrorKind) => void {
    const span = this.#shared.tracer.startSpan(`plugin ${plugin} ${hook}`, { kind: SpanKind.INTERNAL, attributes: { [ATTR_PLUGIN]: plugin, [ATTR_HOOK]: hook } }, this.#context);
    return function hookEnd(error) {
      if (error !== undefined) {
        span.setAttribute(ATTR_ERROR_TYPE, error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      }
      span.end();
    };
  }

  event(_req: GatewayRequest, event: RequestEvent): void {
    switch (event.type) {
      case 'auth-failed':
        this.#span.addEvent(event.type, { [ATTR_PLUGIN]: event.plugin, [ATTR_REASON]: event.reason });
        break;
      case 'ratelimit-rejected':
        this.#span.addEvent(event.type, { [ATTR_PLUGIN]: event.plugin });
        break;
      case 'plugin-error':
        this.#span.addEvent(event.type, { [ATTR_PLUGIN]: event.plugin, [ATTR_HOOK]: event.hook, [ATTR_ERROR_TYPE]: event.kind });
        break;
    }
  }

  /** The chain threw: the gateway turns it into a coded response; the span keeps the code. */
  failed(err: unknown): void {
    this.#errorType = errorType(err);
  }

  responded(res: GatewayResponse): void {
    for (const name of this.#shared.captureResponse) {
      const values = headerValues(res.headers, name);
      if (values !== undefined) this.#span.setAttribute(`http.response.header.${name}`, values);
    }
  }

  sent(_req: GatewayRequest, status: number, outcome: SentOutcome): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // Semconv: for a server, only 5xx is an error (a 4xx is the client's mistake).
    if (status >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, this.#errorType ?? String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (outcome.aborted) span.addEvent('response-aborted', { 'isogate.response.bytes': outcome.bytes });
    span.end();
  }
}

/**
 * A request this gateway does not record but whose upstream must still learn the decision: a
 * trace that starts here (nobody else would tell the upstream it was not sampled), or one whose
 * incoming context we refused to continue (the client's traceparent must not go upstream).
 */
class UnrecordedRequest implements RequestInstrument {
  readonly #context: SpanContext;

  constructor(context: SpanContext) {
    this.#context = context;
  }

  upstreamStart(_req: GatewayRequest, call: UpstreamCall): void {
    injectSpanContext(call.headers, this.#context);
  }
}

const HANDSHAKE: SentOutcome = { bytes: 0, aborted: false };

/** The status the gateway will answer a thrown error with (coded errors carry theirs). */
function statusOf(err: unknown): number {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : 500;
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function serverAttributes(req: GatewayRequest, known: boolean, captureRequest: readonly string[]): Attributes {
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: known ? req.method : '_OTHER',
    [ATTR_HTTP_ROUTE]: req.route.path,
    [ATTR_ROUTE_NAME]: req.route.name,
    [ATTR_URL_PATH]: req.path,
    [ATTR_URL_SCHEME]: req.protocol,
    [ATTR_CLIENT_ADDRESS]: req.clientIp,
  };
  if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = req.method;
  if (req.remoteAddress !== req.clientIp) attributes[ATTR_NETWORK_PEER_ADDRESS] = req.remoteAddress;
  const host = hostOf(req);
  if (host !== null) {
    attributes[ATTR_SERVER_ADDRESS] = host.address;
    attributes[ATTR_SERVER_PORT] = host.port;
  }
  const agent = req.headers['user-agent'];
  if (typeof agent === 'string') attributes[ATTR_USER_AGENT_ORIGINAL] = agent;
  for (const name of captureRequest) {
    const values = headerValues(req.headers, name);
    if (values !== undefined) attributes[`http.request.header.${name}`] = values;
  }
  return attributes;
}

type TracingPolicy = Pick<TracingSettings, 'continueIncoming' | 'captureHeaders'> & { readonly sampling: Pick<TracingSettings['sampling'], 'honourIncomingSampled'> };

/**
 * The SERVER span's parent context for a continued incoming context. Continuing (same trace id,
 * the caller's span as parent) and letting the caller decide the sampling are separate trusts: a
 * flag that is not honoured is marked so that the sampler's ratio decides (provider.ts).
 */
function parentContextFor(honourIncomingSampled: TracingSettings['sampling']['honourIncomingSampled']): (incoming: SpanContext, fromTrustedProxy: boolean) => Context {
  const decided = (decision: ParentDecision) => (incoming: SpanContext) => trace.setSpanContext(EMPTY_REQUEST_CONTEXT, incoming).setValue(PARENT_DECISION, decision);
  const honoured = (incoming: SpanContext) => trace.setSpanContext(EMPTY_REQUEST_CONTEXT, incoming);
  const byChance = decided('chance');
  const byTraceId = decided('trace-id');
  switch (honourIncomingSampled) {
    case 'always':
      return honoured;
    case 'trusted-proxies':
      return (incoming, fromTrustedProxy) => (fromTrustedProxy ? honoured(incoming) : byChance(incoming));
    case 'never':
      return (incoming, fromTrustedProxy) => (fromTrustedProxy ? byTraceId(incoming) : byChance(incoming));
  }
}

/** The tracing middleware of one plugin instance. Everything per request stays in the returned handler. */
export function createTracingMiddleware(tracer: Tracer, settings: TracingPolicy): Middleware {
  const shared: Shared = { tracer, captureRequest: settings.captureHeaders.request, captureResponse: settings.captureHeaders.response, origins: new Map() };
  const trusts = incomingTrust(settings.continueIncoming);
  const parentContext = parentContextFor(settings.sampling.honourIncomingSampled);
  return (next) =>
    async function traceRequest(req) {
      const incoming = trusts(req) ? extractSpanContext(req.headers) : null;
      const parent = incoming === null ? ROOT_CONTEXT : parentContext(incoming, req.fromTrustedProxy);
      // The method is the client's: an unknown one must not become a span name of its own.
      const known = KNOWN_METHODS.has(req.method);
      const span = tracer.startSpan(`${known ? req.method : 'HTTP'} ${req.route.path}`, { kind: SpanKind.SERVER }, parent);

      if (!span.isRecording()) {
        // Not sampled: no child spans, no attributes. An unsampled continued context goes upstream
        // unchanged (the proxy forwards the client's headers); a sampled one we declined keeps its
        // parent but carries our decision; a trace that starts here carries our context, which
        // replaces whatever the client sent.
        if (incoming === null) attachInstrument(req, new UnrecordedRequest(span.spanContext()));
        else if ((incoming.traceFlags & TraceFlags.SAMPLED) !== 0) attachInstrument(req, new UnrecordedRequest({ ...incoming, traceFlags: span.spanContext().traceFlags }));
        return next(req);
      }

      span.setAttributes(serverAttributes(req, known, shared.captureRequest));
      const recorded = new RecordedRequest(shared, span);
      attachInstrument(req, recorded);
      try {
        const res = await next(req);
        if (shared.captureResponse.length > 0) recorded.responded(res);
        // The transport reports no end for an upgraded connection: the span covers the handshake.
        if (req.upgrade) recorded.sent(req, res.status, HANDSHAKE);
        return res;
      } catch (err) {
        recorded.failed(err);
        if (req.upgrade) recorded.sent(req, statusOf(err), HANDSHAKE);
        throw err;
      }
    };
}


export interface UnroutedServer {
  /** `server.limits.maxUrlLength`: a 414's `url.path` is cut there. */
  readonly maxUrlLength: number;
}

/**
 * SERVER spans for requests the gateway answered before any route matched (404, 405, a bad path,
 * 413/414): named after the method alone, with no `http.route` (semconv, when no route matched).
 * Same sampling and incoming-context policy as routed requests; the core resolved the client and
 * whether it came through a trusted proxy. Nothing goes upstream, so an unsampled one costs one span object.
 */
export function createUnroutedTracer(tracer: Tracer, settings: TracingPolicy, server: UnroutedServer): NonNullable<BuiltinInstance['unrouted']> {
  const trusts = incomingTrust(settings.continueIncoming);
  const parentContext = parentContextFor(settings.sampling.honourIncomingSampled);
  const capture = settings.captureHeaders.request;
  const { maxUrlLength } = server;

  return function traceUnrouted(req: UnroutedRequest, status: number) {
    const fromTrustedProxy = req.fromTrustedProxy;
    const incoming = trusts({ fromTrustedProxy }) ? extractSpanContext(req.headers) : null;
    const parent = incoming === null ? ROOT_CONTEXT : parentContext(incoming, fromTrustedProxy);
    // The method is the client's: an unknown one must not become a span name of its own.
    const known = KNOWN_METHODS.has(req.method);
    const span = tracer.startSpan(known ? req.method : 'HTTP', { kind: SpanKind.SERVER }, parent);
    if (!span.isRecording()) return;

    const clientIp = req.clientIp;
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: known ? req.method : '_OTHER',
      [ATTR_URL_PATH]: req.path.length > maxUrlLength ? req.path.slice(0, maxUrlLength) : req.path,
      [ATTR_URL_SCHEME]: req.protocol,
      [ATTR_CLIENT_ADDRESS]: clientIp,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
    };
    if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = req.method;
    if (req.remoteAddress !== clientIp) attributes[ATTR_NETWORK_PEER_ADDRESS] = req.remoteAddress;
    const host = hostOf({ headers: req.headers, fromTrustedProxy, protocol: 'http' });
    if (host !== null) {
      attributes[ATTR_SERVER_ADDRESS] = host.address;
      attributes[ATTR_SERVER_PORT] = host.port;
    }
    const agent = req.headers['user-agent'];
    if (typeof agent === 'string') attributes[ATTR_USER_AGENT_ORIGINAL] = agent;
    for (const name of capture) {
      const values = headerValues(req.headers, name);
      if (values !== undefined) attributes[`http.request.header.${name}`] = values;
    }
    span.setAttributes(attributes);
    // Semconv: for a server, only 5xx is an error; every answer here is the client's mistake today.
    if (status >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (req.upgrade) {
      span.end();
      return;
    }
    return function unroutedSent(outcome: SentOutcome) {
      if (outcome.aborted) span.addEvent('response-aborted', { 'isogate.response.bytes': outcome.bytes });
      span.end();
    };
  };
}
