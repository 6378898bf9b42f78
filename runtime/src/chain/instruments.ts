import type { GatewayRequest, HeaderMap } from './types.ts';

/**
 * Observation points inside a request, for the observing built-ins (metrics, tracing, logging).
 *
 * An observing middleware attaches its instrument to the request with `attachInstrument` when it
 * runs; the core then notifies every attached instrument at the points below. Instruments are
 * per request and in chain order, so an observer sees exactly the part of the chain that runs
 * inside it (list observers first, in the global `middleware`, to see everything). A request that
 * no observer touched pays one null check per point.
 */
export type HookName = 'onRequest' | 'onResponse' | 'verifier';

/** Why a user plugin's hook failed (PluginFailureKind in the isolate host). */
export type PluginErrorKind = 'throw' | 'timeout' | 'memory' | 'deadline' | 'bad-result' | 'unavailable';

/** Something a built-in or the core reports about a request. */
export type RequestEvent =
  /** A rate limit refused the request (the 429 is the response). */
  | { type: 'ratelimit-rejected'; plugin: string }
  /** Authentication refused the request; `reason` is a short stable code (`expired`, `missing`…). */
  | { type: 'auth-failed'; plugin: string; reason: string }
  /** A user plugin's hook failed (whatever its failure policy made of it). */
  | { type: 'plugin-error'; plugin: string; hook: HookName; kind: PluginErrorKind };

/** The upstream call about to be made. Instruments may add headers (a `traceparent`). */
export interface UpstreamCall {
  /** The upstream's origin, e.g. `http://10.0.0.5:3000`: a bounded label, unlike the path. */
  readonly origin: string;
  readonly method: string;
  /** Path and query as sent upstream. */
  readonly path: string;
  /** The headers that will be sent: mutable until the call starts. */
  readonly headers: HeaderMap;
}

/** How an upstream call ended: response headers arrived (`status`), or it failed (`error`). */
export type UpstreamOutcome = { status: number; error?: undefined } | { status?: undefined; error: unknown };

/** How a response ended on the client's connection. */
export interface SentOutcome {
  /** Body bytes written to the client (headers excluded). */
  readonly bytes: number;
  /** The client went away (or the body stream failed) before the body was complete. */
  readonly aborted: boolean;
}

export interface RequestInstrument {
  /** Before each upstream attempt. The returned function is called once when it ends. */
  upstreamStart?(req: GatewayRequest, call: UpstreamCall): ((outcome: UpstreamOutcome) => void) | void;
  /** Before each user-plugin hook call. The returned function is called once when it ends. */
  hookStart?(req: GatewayRequest, plugin: string, hook: HookName): ((error?: PluginErrorKind) => void) | void;
  event?(req: GatewayRequest, event: RequestEvent): void;
  /** The response was completely written to the client, or abandoned. Called at most once. */
  sent?(req: GatewayRequest, status: number, outcome: SentOutcome): void;
}

/**
 * Where a request's id lives, once settled (`req.state[REQUEST_ID]`): the logging built-in settles
 * it (the trusted incoming one or a new one, also echoed to the client), and the core puts it on
 * its own lines about the request, such as a plugin's failure, so that those lines are found from
 * the access line or from the id a client quotes. Absent without a logging instance.
 */
export const REQUEST_ID = Symbol.for('isogate.logging.requestId');

/** Fields that tie a line the core logs about a request to it: its id (when settled) and its route, named as on the access line. */
export function requestLogFields(req: GatewayRequest): { requestId?: string; route: string; routeName: string } {
  const id = req.state[REQUEST_ID];
  const route = req.route.path;
  const routeName = req.route.name;
  return typeof id === 'string' ? { requestId: id, route, routeName } : { route, routeName };
}

/**
 * Where the list also lives: `state` is shared by shallow copies of a request (a middleware may
 * hand `next` a `{...req}`), so the gateway finds instruments attached further down on a copy.
 */
const ATTACHED = Symbol('isogate.instruments');

export function attachInstrument(req: GatewayRequest, instrument: RequestInstrument): void {
  if (req.instruments === null) {
    const shared = req.state[ATTACHED] as RequestInstrument[] | undefined;
    req.instruments = shared ?? [];
    if (!shared) req.state[ATTACHED] = req.instruments;
  }
  req.instruments.push(instrument);
}

/** The instruments attached to this request or to any shallow copy of it. */
export function attachedInstruments(req: GatewayRequest): RequestInstrument[] | null {
  return req.instruments ?? (req.state[ATTACHED] as RequestInstrument[] | undefined) ?? null;
}

export function emitRequestEvent(req: GatewayRequest, event: RequestEvent): void {
  const instruments = req.instruments;
  if (instruments === null) return;
  for (const i of instruments) i.event?.(req, event);
}

type Done<T> = (value: T) => void;

function collect<T>(starts: (Done<T> | void)[]): Done<T> | null {
  const done = starts.filter((d): d is Done<T> => typeof d === 'function');
  if (done.length === 0) return null;
  if (done.length === 1) return done[0]!;
  return (value) => {
    for (const d of done) d(value);
  };
}

/** Notify instruments of an upstream attempt; returns the function to call when it ends (or null). */
export function startUpstream(req: GatewayRequest, call: UpstreamCall): Done<UpstreamOutcome> | null {
  const instruments = req.instruments;
  if (instruments === null) return null;
  return collect(instruments.map((i) => i.upstreamStart?.(req, call)));
}

/** Notify instruments of a hook call; returns the function to call when it ends (or null). */
export function startHook(req: GatewayRequest, plugin: string, hook: HookName): Done<PluginErrorKind | undefined> | null {
  const instruments = req.instruments;
  if (instruments === null) return null;
  return collect(instruments.map((i) => i.hookStart?.(req, plugin, hook)));
}

/** Called by the gateway: the transport reports how the response ended, once. */
export function sentNotifier(req: GatewayRequest): ((status: number, outcome: SentOutcome) => void) | undefined {
  const instruments = attachedInstruments(req);
  if (instruments === null) return undefined;
  let called = false;
  return (status, outcome) => {
    if (called) return;
    called = true;
    for (const i of instruments) i.sent?.(req, status, outcome);
  };
}
