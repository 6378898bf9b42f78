import type { Logger } from 'pino';
import type { GatewayRequest, GatewayResponse, Middleware } from '../chain/types.ts';
import { Readable } from 'node:stream';
import { acceptedStatus, applyHeaderOps, bodyKind, bodyless, directResponseParts, fitHeaders, hookMessage, requestMessage, responseFragment, type HookOutput } from '@isogate/sdk/internal/hook-wire';
import { discardBody } from '../chain/discard-body.ts';
import { streamOrBytes } from '../proxy/upstream-body.ts';
import { GatewayError } from '../errors.ts';
import { errorResponse } from '../errors.ts';
import { toGatewayError } from '../proxy/upstream-errors.ts';
import { normalizePath } from '../router/normalize-path.ts';
import {
  BodyTooLargeError,
  bodyFragment,
  declaredTooLarge,
  isIdentityEncoded,
  readBounded,
  replacedBytes,
  replayBody,
  resolveMaxBodyBytes,
  type BodyKind,
} from './buffer-body.ts';
import { PluginFailure, type PluginManifest, type PluginMember } from './plugin-host.ts';
import { emitRequestEvent, requestLogFields, startHook, type HookName, type PluginErrorKind } from '../chain/instruments.ts';
import { forwardPluginLogs } from './user-plugin-handle.ts';

/** Plugin-visible per-request state lives here in `req.state`, as JSON values shared by all plugins. */
const PLUGIN_STATE = Symbol('isogate.pluginState');

/** The request's hook message (without headers and body): see requestMessage. */
export function encodeRequest(req: GatewayRequest, bodyKind: BodyKind | null): Record<string, unknown> {
  return requestMessage(
    { method: req.method, path: req.path, query: req.query, params: req.params, clientIp: req.clientIp, routeName: req.route.name, state: (req.state[PLUGIN_STATE] as Record<string, unknown> | undefined) ?? {}, claims: req.claims },
    bodyKind,
  );
}

/** A body as handed to a hook: its fragment (none when the hook does not get it) and where the body is now. */
export interface Prepared {
  fragment: string | undefined;
  /** The body the gateway holds in memory and forwards from there; null when there is none or it still streams. */
  held: Buffer | null;
  /** Whether the original body is still an unread stream (a coded body the hook was not given). */
  streaming: boolean;
}

const EMPTY = Buffer.alloc(0);

function isResponse(value: Prepared | GatewayResponse): value is GatewayResponse {
  return 'status' in value;
}

/** Forward `bytes` instead of the client's stream, with a length that matches them. */
function forwardRequestBody(req: GatewayRequest, bytes: Buffer): void {
  req.body = bytes.byteLength === 0 ? null : replayBody(bytes);
  req.headers['content-length'] = String(bytes.byteLength);
  delete req.headers['transfer-encoding'];
}

/** Read and drop a client body nobody will forward, so its connection is not left stuck mid-request. */
function drain(body: Readable | null): void {
  if (body === null || body.destroyed) return;
  body.on('error', () => {});
  body.resume();
}

export function failureKind(err: unknown): PluginErrorKind {
  return err instanceof PluginFailure ? err.kind : 'throw';
}

function directResponse(r: NonNullable<HookOutput['r']>, plugin: string): GatewayResponse {
  const { status, headers, text } = directResponseParts(r, (m) => new PluginFailure(plugin, 'bad-result', m));
  return { status, headers, body: text };
}

/** What the plugin middleware calls a hook on: a plugin's host, or one member of a shared group. */
export type HookTarget = Pick<PluginMember, 'manifest' | 'bundle' | 'call'>;

/**
 * How one plugin instance's hook answers are applied to the request and response, and how its
 * failures are answered: shared by its own middleware and by a shared group's (which gets the
 * answers of several members from one crossing and applies each with its member's steps).
 */
export interface PluginSteps {
  readonly name: string;
  readonly hasRequest: boolean;
  readonly hasResponse: boolean;
  readonly requestKind: BodyKind | null;
  readonly responseKind: BodyKind | null;
  readonly maxBytes: number;
  emit(out: HookOutput): void;
  /** Log a hook's failure and answer by the failure policy: a coded 500 (fail-closed) or null (fail-open: go on). */
  failed(err: unknown, hook: HookName, req: GatewayRequest): GatewayResponse | null;
  applyRequestOutput(req: GatewayRequest, out: HookOutput, prepared: Prepared | null): GatewayResponse | null;
  applyResponseOutput(req: GatewayRequest, res: GatewayResponse, out: HookOutput): void;
}

/** Which hooks a plugin has and the bodies they take: a body is only ever buffered for a hook that will see it; everything else streams. */
export function hookBodies(manifest: PluginManifest): { hasRequest: boolean; hasResponse: boolean; requestKind: BodyKind | null; responseKind: BodyKind | null } {
  const hasRequest = manifest.hooks.includes('onRequest');
  const hasResponse = manifest.hooks.includes('onResponse');
  return { hasRequest, hasResponse, requestKind: hasRequest ? bodyKind(manifest.requestBody) : null, responseKind: hasResponse ? bodyKind(manifest.responseBody) : null };
}

/** The steps of one plugin instance (see PluginSteps). */
export function pluginSteps(host: HookTarget, instanceName: string, policy: 'fail-closed' | 'fail-open', logger: Logger): PluginSteps {
  const { name } = host.manifest;
  const { hasRequest, hasResponse, requestKind, responseKind } = hookBodies(host.manifest);
  const maxBytes = resolveMaxBodyBytes(host.manifest.maxBodyBytes);
  const log = logger.child({ plugin: instanceName });

  if (hasRequest && host.manifest.requestBody !== null && requestKind === null) log.warn({ requestBody: host.manifest.requestBody }, 'unknown requestBody kind; the body is not given to the plugin');
  if (hasResponse && host.manifest.responseBody !== null && responseKind === null) log.warn({ responseBody: host.manifest.responseBody }, 'unknown responseBody kind; the body is not given to the plugin');

  const emit = (out: HookOutput) => forwardPluginLogs(out, log, host.bundle);

  const failed = (err: unknown, hook: HookName, req: GatewayRequest): GatewayResponse | null => {
    const kind = failureKind(err);
    emitRequestEvent(req, { type: 'plugin-error', plugin: instanceName, hook, kind });
    // The request's id and route tie this line to the access line and to what the client was told.
    log.error(
      { ...requestLogFields(req), hook, kind, plugin: name, error: err instanceof Error ? err.message : String(err), source: (err instanceof PluginFailure && err.location) || host.bundle.entry },
      `plugin ${hook} failed (${policy})`,
    );
    return policy === 'fail-open' ? null : errorResponse('PLUGIN_FAILED');
  };

  /**
   * Apply what onRequest answered to the request: state, a direct response (returned), path,
   * query, headers and a replaced body. Throws PluginFailure for an answer that cannot be applied.
   */
  const applyRequestOutput = (req: GatewayRequest, out: HookOutput, prepared: Prepared | null): GatewayResponse | null => {
    emit(out);
    if (out.s) req.state[PLUGIN_STATE] = out.s;
    if (out.r) return directResponse(out.r, name);
    if (out.p !== undefined) {
      const normalized = normalizePath(out.p);
      if (!normalized.ok) throw new PluginFailure(name, 'bad-result', `path ${JSON.stringify(out.p)} is not acceptable: ${normalized.reason}`);
      req.path = normalized.path;
    }
    if (out.q !== undefined) req.query = out.q.replace(/^\?/, '').replace(/[#\s]/g, encodeURIComponent);
    const replaced = requestKind && out.b !== undefined ? replacedBytes(out.b) : null;
    if (requestKind && out.b !== undefined && !replaced) throw new PluginFailure(name, 'bad-result', 'unreadable request body');
    if (out.h) req.headers = applyHeaderOps(req.headers, out.h, (m) => new PluginFailure(name, 'bad-result', m));
    if (replaced && requestKind) {
      if (prepared?.streaming) drain(req.body);
      forwardRequestBody(req, replaced.bytes);
      fitHeaders(req.headers, requestKind, replaced.bytes.byteLength, replaced.json, true);
    } else if (out.h && prepared?.held) {
      // The plugin rewrote the header list: the length of the body we hold stays the truth.
      req.headers['content-length'] = String(prepared.held.byteLength);
      delete req.headers['transfer-encoding'];
    }
    return null;
  };

  /**
   * Apply what onResponse answered to the response: state, status, headers and a replaced body.
   * Throws PluginFailure for an answer that cannot be applied.
   */
  const applyResponseOutput = (req: GatewayRequest, res: GatewayResponse, out: HookOutput): void => {
    emit(out);
    const replaced = responseKind && out.rb !== undefined ? replacedBytes(out.rb) : null;
    if (responseKind && out.rb !== undefined && !replaced) throw new PluginFailure(name, 'bad-result', 'unreadable response body');
    if (out.s) req.state[PLUGIN_STATE] = out.s;
    if (acceptedStatus(out.st)) res.status = out.st;
    if (out.rh) res.headers = applyHeaderOps(res.headers, out.rh, (m) => new PluginFailure(name, 'bad-result', m));
    if (replaced && responseKind) {
      discardBody(res.body);
      res.body = replaced.bytes;
      fitHeaders(res.headers, responseKind, replaced.bytes.byteLength, replaced.json, !bodyless(res.status));
    }
  };

  return { name, hasRequest, hasResponse, requestKind, responseKind, maxBytes, emit, failed, applyRequestOutput, applyResponseOutput };
}

/**
 * A user plugin as a chain middleware: `onRequest` before `next`, `onResponse` after, each one
 * JSON crossing into the plugin's isolate. Only the hooks the plugin defines are called. On a
 * failure the policy decides: fail-closed answers a coded 500 (the plugin's message goes to the
 * log, never to the client); fail-open logs and goes on as if the hook had done nothing.
 *
 * Bodies stream through untouched unless the plugin declared `requestBody` / `responseBody` (and
 * has the matching hook). Then, and only then, the body is buffered up to the plugin's
 * `maxBodyBytes` and crosses with the hook's message: 'text' as a string, 'json' parsed, 'bytes'
 * as base64 decoded to a Uint8Array in the isolate. Client errors (413 over the bound, 400 for a
 * request that is not JSON) and the 502 for an oversized upstream body are answered whatever the
 * failure policy: they are not the plugin's failures. The request body is given to onRequest
 * only. Text and JSON are only given in identity coding; a gzip'd body streams on and the hook
 * sees `undefined` (it may still replace it). A replaced body loses its stale Content-Length,
 * ETag and Content-MD5 (and, for text/json, Content-Encoding) and gets its own length.
 */
export function createPluginMiddleware(host: HookTarget, instanceName: string, policy: 'fail-closed' | 'fail-open', logger: Logger): Middleware {
  const { hasRequest, hasResponse, requestKind, responseKind, maxBytes, failed, applyRequestOutput, applyResponseOutput } = pluginSteps(host, instanceName, policy, logger);

  /**
   * Buffer the request body for onRequest, or answer for the client: 413 over the bound (before
   * reading when Content-Length says so), 400 for a 'json' body that is not JSON. A buffered body
   * is forwarded from memory from now on, whatever the hook does or if it fails.
   */
  const prepareRequest = async (req: GatewayRequest, kind: BodyKind): Promise<Prepared | GatewayResponse> => {
    const body = req.body;
    if (body === null) return { fragment: bodyFragment(kind, EMPTY), held: null, streaming: false };
    if (kind !== 'bytes' && !isIdentityEncoded(req.headers)) return { fragment: undefined, held: null, streaming: true };
    if (declaredTooLarge(req.headers, maxBytes)) return errorResponse('BODY_TOO_LARGE');
    let bytes: Buffer;
    try {
      bytes = await readBounded(body, maxBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return errorResponse('BODY_TOO_LARGE');
      // The server-wide limit, counted as a chunked body streamed.
      if (err instanceof GatewayError) return errorResponse(err.key);
      throw err; // the client went away; the gateway answers nobody
    }
    let fragment: string | undefined;
    try {
      fragment = bodyFragment(kind, bytes);
    } catch {
      return errorResponse('BAD_JSON');
    }
    forwardRequestBody(req, bytes);
    return { fragment, held: bytes, streaming: false };
  };

  /**
   * Buffer the response body for onResponse. Over the bound the upstream body is thrown away and
   * the client gets a coded 502. A coded (gzip…) body for 'text'/'json' is not buffered at all.
   */
  const prepareResponse = async (req: GatewayRequest, res: GatewayResponse, kind: BodyKind): Promise<Prepared | GatewayResponse> => {
    const body = streamOrBytes(res);
    const given = kind === 'bytes' || isIdentityEncoded(res.headers);
    if (body instanceof Readable) {
      if (!given) return { fragment: undefined, held: null, streaming: true };
      // A HEAD answer or a 204/304 has no body whatever its Content-Length says.
      if (req.method !== 'HEAD' && !bodyless(res.status) && declaredTooLarge(res.headers, maxBytes)) {
        discardBody(body);
        return errorResponse('UPSTREAM_RESPONSE_TOO_LARGE');
      }
      let bytes: Buffer;
      try {
        bytes = await readBounded(body, maxBytes);
      } catch (err) {
        discardBody(body);
        if (err instanceof BodyTooLargeError) return errorResponse('UPSTREAM_RESPONSE_TOO_LARGE');
        // A client that left is not an upstream failure: let the gateway treat it as such.
        if (req.signal.aborted) throw err;
        throw toGatewayError(err);
      }
      res.body = bytes;
      return { fragment: responseFragment(kind, bytes), held: bytes, streaming: false };
    }
    // Already in memory (an inner middleware answered): the same bound applies to what crosses.
    const bytes = body === null ? EMPTY : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (bytes.byteLength > maxBytes) return errorResponse('UPSTREAM_RESPONSE_TOO_LARGE');
    return { fragment: given ? responseFragment(kind, bytes) : undefined, held: bytes, streaming: false };
  };

  /**
   * One hook crossing, timed for the observers attached to the request (none: no cost beyond a
   * null check). A synchronous hook stays synchronous: no promise on the hot path.
   */
  const callHook = (req: GatewayRequest, hook: HookName, message: string, requestHeaders: string, responseHeaders?: string): HookOutput | Promise<HookOutput> => {
    const done = startHook(req, instanceName, hook);
    let raw: string | Promise<string>;
    try {
      raw = host.call(hook, message, requestHeaders, responseHeaders);
    } catch (err) {
      done?.(failureKind(err));
      throw err;
    }
    if (typeof raw === 'string') {
      done?.(undefined);
      return JSON.parse(raw) as HookOutput;
    }
    return raw.then(
      (text) => {
        done?.(undefined);
        return JSON.parse(text) as HookOutput;
      },
      (err: unknown) => {
        done?.(failureKind(err));
        throw err;
      },
    );
  };

  const requestHook = (req: GatewayRequest, prepared: Prepared | null): HookOutput | Promise<HookOutput> => {
    const input = encodeRequest(req, requestKind);
    return callHook(req, 'onRequest', hookMessage(input, 'qb', prepared?.fragment), JSON.stringify(req.headers));
  };

  return (next) => {
    /**
     * The common case, an onRequest hook that takes no body and no onResponse: no async frame
     * of its own, and a synchronous hook goes straight on to `next`.
     */
    const requestOnly = (req: GatewayRequest): Promise<GatewayResponse> => {
      let answer: GatewayResponse | null;
      try {
        const called = requestHook(req, null);
        if (called instanceof Promise) {
          return called
            .then((out) => applyRequestOutput(req, out, null))
            .catch((err: unknown) => failed(err, 'onRequest', req))
            .then((early) => early ?? next(req));
        }
        answer = applyRequestOutput(req, called, null);
      } catch (err) {
        answer = failed(err, 'onRequest', req);
      }
      return answer ? Promise.resolve(answer) : next(req);
    };
    if (hasRequest && !hasResponse && !requestKind) return requestOnly;

    return async function userPlugin(req: GatewayRequest): Promise<GatewayResponse> {
      if (hasRequest) {
        let prepared: Prepared | null = null;
        if (requestKind) {
          const outcome = await prepareRequest(req, requestKind);
          if (isResponse(outcome)) return outcome;
          prepared = outcome;
        }
        try {
          const called = requestHook(req, prepared);
          const early = applyRequestOutput(req, called instanceof Promise ? await called : called, prepared);
          if (early) return early;
        } catch (err) {
          const answer = failed(err, 'onRequest', req);
          if (answer) return answer;
        }
      }
      const res = await next(req);
      if (!hasResponse || res.upgradeSocket) return res;
      let prepared: Prepared | null = null;
      if (responseKind) {
        const outcome = await prepareResponse(req, res, responseKind);
        if (isResponse(outcome)) return outcome;
        prepared = outcome;
      }
      try {
        const input = encodeRequest(req, null);
        input['rs'] = responseKind ? { st: res.status, k: responseKind } : { st: res.status };
        const called = callHook(req, 'onResponse', hookMessage(input, 'sb', prepared?.fragment), JSON.stringify(req.headers), JSON.stringify(res.headers));
        applyResponseOutput(req, res, called instanceof Promise ? await called : called);
        return res;
      } catch (err) {
        const answer = failed(err, 'onResponse', req);
        if (!answer) return res;
        discardBody(res.body);
        return answer;
      }
    };
  };
}
