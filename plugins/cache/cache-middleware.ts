import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { discardBody } from '../../runtime/src/chain/discard-body.ts';
import type { GatewayRequest, GatewayResponse, Handler, HeaderMap, Middleware } from '../../runtime/src/chain/types.ts';
import type { ResolvedRoute } from '../../runtime/src/config/resolved-config.ts';
import { captureBody } from './capture-body.ts';
import type { RouteCounters } from './cache-metrics.ts';
import { appendCacheStatus, hitStatus } from './cache-status.ts';
import type { Coalescer } from './coalescer.ts';
import { conditionsOf, hasValidator, notModified, notModifiedHeaders, setValidators, takeConditions, type Conditions } from './conditional.ts';
import { Bypass, variantKey, type KeyFunction } from './key.ts';
import type { CachedResponse, CacheRecord, CacheStore, VaryRecord } from './store.ts';
import { decideStore, type StoreDecision, type StoreSettings } from './store-decision.ts';

/** What a route needs per request, resolved once per routing table. */
export interface RouteCache {
  readonly key: KeyFunction;
  readonly counters: RouteCounters;
}

/** An entry a request stored, as coalesced followers receive it. */
export interface Filled {
  readonly entry: CachedResponse;
  /** The resource's key and the key the entry is stored under (a variant's, with Vary). */
  readonly key: string;
  readonly storageKey: string;
  readonly vary: VaryRecord | null;
}

export interface CacheRuntime {
  /** This cache in `Cache-Status`. */
  readonly name: string;
  readonly store: CacheStore;
  readonly settings: StoreSettings;
  readonly methods: ReadonlySet<string>;
  readonly coalescer: Coalescer<Filled> | null;
  readonly route: (route: ResolvedRoute) => RouteCache;
  readonly logger: Logger;
  /** Aborted when the instance is disposed: background refreshes stop. */
  readonly signal: AbortSignal;
}

/** Response fields a stored entry does not keep: per hop, per answer, or set again when served. */
const NOT_STORED = new Set(['age', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'trailer', 'upgrade', 'set-cookie']);
/** Fields a 304 cannot change in a stored entry (RFC 9111 §3.2), besides those never stored. */
const NOT_UPDATED = new Set([...NOT_STORED, 'content-encoding', 'content-range', 'content-type']);

function storedHeaders(headers: Readonly<HeaderMap>): HeaderMap {
  const out: HeaderMap = {};
  for (const name in headers) if (!NOT_STORED.has(name)) out[name] = headers[name]!;
  return out;
}

function withUpdates(stored: Readonly<HeaderMap>, update: Readonly<HeaderMap>): HeaderMap {
  const out: HeaderMap = { ...stored };
  for (const name in update) if (!NOT_UPDATED.has(name)) out[name] = update[name]!;
  return out;
}

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((n, i) => n === b[i]);

/** An answer from a stored entry: its own copy of the headers, `Age`, `Cache-Status`; a 304 when the client's conditions hold. */
function answer(entry: CachedResponse, now: number, member: string, conditions: Conditions | null): GatewayResponse {
  const headers: HeaderMap = { ...entry.headers };
  headers['age'] = String(Math.max(0, Math.floor((now - entry.storedAt) / 1000)));
  appendCacheStatus(headers, member);
  if (conditions !== null && notModified(conditions, entry.status, headers)) return { status: 304, headers: notModifiedHeaders(headers), body: null };
  // A 204 has no body and no Content-Length (RFC 9110 §8.6).
  if (entry.status === 204) return { status: 204, headers, body: null };
  headers['content-length'] = String(entry.body.byteLength);
  return { status: entry.status, headers, body: entry.body };
}

/** A response whose body nobody else reads: read it to its end (into the store) without a client. */
function drain(body: GatewayResponse['body']): void {
  if (body instanceof Readable) body.on('error', () => {}).resume();
}

/**
 * The cache's request path. A GET or HEAD is looked up by its key (then by its variant when the
 * resource varies): a fresh entry answers; a stale one inside its stale-while-revalidate window
 * answers while one background request refreshes it; a stale one with a validator is revalidated
 * with a conditional request; anything else goes upstream, one request per key at a time
 * (followers wait for the leader's entry), and the answer is stored as it streams to the client
 * when HTTP and the options allow. Other methods pass through; a successful unsafe request
 * (POST, PUT, PATCH, DELETE) drops the entries of its URL (RFC 9111 §4.4).
 */
export function cacheMiddleware(rt: CacheRuntime): Middleware {
  const { store, settings, name, coalescer } = rt;
  /** Storage keys with a background refresh running: one at a time per entry. */
  const refreshing = new Set<string>();

  function write(key: string, record: CacheRecord, ttlMs: number): void {
    if (ttlMs <= 0) return;
    try {
      const pending = store.set(key, record, ttlMs);
      if (pending instanceof Promise) pending.catch((err: unknown) => rt.logger.debug({ err }, 'cache write failed'));
    } catch (err) {
      rt.logger.debug({ err }, 'cache write failed');
    }
  }

  function remove(key: string): void {
    try {
      const pending = store.delete(key);
      if (pending instanceof Promise) pending.catch(() => {});
    } catch {
      // a store that cannot delete will let the entry expire
    }
  }

  /** Where a storable answer goes: under the key, or with Vary under the variant of this request's headers. */
  function placement(key: string, requestHeaders: HeaderMap, decision: Extract<StoreDecision, { store: true }>, known: VaryRecord | null): { storageKey: string; vary: VaryRecord | null } {
    if (decision.vary.length === 0) return { storageKey: key, vary: null };
    const vary: VaryRecord =
      known !== null && sameNames(known.names, decision.vary) ? known : { kind: 'vary', names: decision.vary, generation: randomBytes(6).toString('base64url') };
    return { storageKey: variantKey(key, vary.generation, vary.names, requestHeaders), vary };
  }

  function keep(key: string, place: { storageKey: string; vary: VaryRecord | null }, entry: CachedResponse, keepUntil: number): Filled | null {
    const ttl = keepUntil - Date.now();
    if (ttl <= 0) return null;
    if (place.vary !== null) write(key, place.vary, ttl);
    write(place.storageKey, entry, ttl);
    return { entry, key, storageKey: place.storageKey, vary: place.vary };
  }

  /** A 304 to a revalidation: the stored entry with the 304's fields and a new lifetime, or null when they no longer allow storing it. */
  function revalidated(stale: CachedResponse, update: HeaderMap, now: number): { entry: CachedResponse; decision: StoreDecision } {
    const headers = withUpdates(stale.headers, update);
    const decision = decideStore({ status: stale.status, headers, body: null }, now, settings);
    const lifetime = decision.store ? decision.lifetime : { storedAt: now, freshUntil: now, staleUntil: now };
    return { entry: { ...stale, headers, storedAt: lifetime.storedAt, freshUntil: lifetime.freshUntil, staleUntil: lifetime.staleUntil }, decision };
  }

  /** One background request refreshes a stale entry; the stale entry answers meanwhile. */
  function refreshInBackground(req: GatewayRequest, next: Handler, key: string, storageKey: string, known: VaryRecord | null, stale: CachedResponse): void {
    if (refreshing.has(storageKey) || rt.signal.aborted) return;
    refreshing.add(storageKey);
    const headers: HeaderMap = { ...req.headers };
    takeConditions(headers);
    setValidators(headers, stale.headers);
    // Its own signal (the client may leave once answered) and no observers (the request they
    // observe has been answered); `state` stays shared, so `next` still runs once.
    const background: GatewayRequest = { ...req, method: 'GET', headers, body: null, signal: rt.signal, instruments: null };
    const done = () => refreshing.delete(storageKey);
    Promise.resolve()
      .then(() => next(background))
      .then((res) => {
        const now = Date.now();
        if (res.status === 304 && hasValidator(stale.headers)) {
          discardBody(res.body);
          const { entry, decision } = revalidated(stale, res.headers, now);
          if (decision.store) keep(key, { storageKey, vary: known }, entry, decision.lifetime.keepUntil);
          else remove(storageKey);
          done();
          return;
        }
        const decision = decideStore(res, now, settings);
        if (!decision.store) {
          discardBody(res.body);
          // The upstream now forbids storing it: drop it. An error answer keeps the stale entry
          // serving until its window ends.
          if (decision.reason !== 'status' && decision.reason !== 'too-large') remove(storageKey);
          done();
          return;
        }
        const status = res.status;
        const stored = storedHeaders(res.headers);
        const place = placement(key, headers, decision, known);
        const body = captureBody(res.body, settings.maxEntryBytes, (bytes) => {
          done();
          if (bytes === null) return discardBody(body);
          keep(key, place, { kind: 'response', status, headers: stored, body: bytes, storedAt: decision.lifetime.storedAt, freshUntil: decision.lifetime.freshUntil, staleUntil: decision.lifetime.staleUntil }, decision.lifetime.keepUntil);
        });
        drain(body);
      })
      .catch((err: unknown) => {
        done();
        rt.logger.debug({ err: { message: (err as Error)?.message }, route: req.route.name }, 'cache: background refresh failed; the stale entry serves until its window ends');
      });
  }

  /** Pass a request through without the cache, saying so in Cache-Status. */
  async function bypass(req: GatewayRequest, next: Handler, counters: RouteCounters, member: string): Promise<GatewayResponse> {
    counters.bypass.value++;
    const res = await next(req);
    appendCacheStatus(res.headers, `${name}; ${member}`);
    return res;
  }

  /**
   * Call the upstream for a miss (or to revalidate a stale entry), and store its answer when it
   * may be: `settle` hands the stored entry (or null) to coalesced followers.
   */
  async function forward(
    req: GatewayRequest,
    next: Handler,
    counters: RouteCounters,
    key: string,
    known: VaryRecord | null,
    stale: CachedResponse | undefined,
    settle: ((filled: Filled | null) => void) | null,
    member: string,
  ): Promise<GatewayResponse> {
    const conditions = takeConditions(req.headers);
    if (stale !== undefined) setValidators(req.headers, stale.headers);
    let res: GatewayResponse;
    try {
      res = await next(req);
    } catch (err) {
      settle?.(null);
      throw err;
    }
    const now = Date.now();
    const storageKey = known === null ? key : variantKey(key, known.generation, known.names, req.headers);

    if (stale !== undefined && res.status === 304) {
      discardBody(res.body);
      const { entry, decision } = revalidated(stale, res.headers, now);
      const filled = decision.store ? keep(key, { storageKey, vary: known }, entry, decision.lifetime.keepUntil) : null;
      if (!decision.store) remove(storageKey);
      settle?.(filled);
      counters.revalidated.value++;
      return answer(entry, now, `${name}; fwd=stale; fwd-status=304${decision.store ? '' : `; detail=${decision.reason}`}`, conditions);
    }

    counters.miss.value++;
    if (stale !== undefined) member += `; fwd-status=${res.status}`;
    const decision = decideStore(res, now, settings);
    if (!decision.store) {
      settle?.(null);
      if (stale !== undefined && decision.reason !== 'status') remove(storageKey);
      appendCacheStatus(res.headers, `${member}; detail=${decision.reason}`);
      return answerConditions(res, conditions);
    }

    // The stored copy is taken before anything after the cache (or the transport) touches the headers.
    const status = res.status;
    const stored = storedHeaders(res.headers);
    const place = placement(key, req.headers, decision, known);
    const { storedAt, freshUntil, staleUntil, keepUntil } = decision.lifetime;
    // Set when the client got a 304: the body is read for the store only, and dropped if it outgrows it.
    let forStoreOnly = false;
    const body = captureBody(res.body, settings.maxEntryBytes, (bytes) => {
      const filled = bytes === null ? null : keep(key, place, { kind: 'response', status, headers: stored, body: bytes, storedAt, freshUntil, staleUntil }, keepUntil);
      settle?.(filled);
      if (bytes === null && forStoreOnly) discardBody(body);
    });
    res.body = body;
    appendCacheStatus(res.headers, `${member}; stored`);
    const answered = answerConditions(res, conditions);
    forStoreOnly = answered !== res;
    return answered;
  }

  /** The client's conditions, taken off the request to the upstream, answered here. */
  function answerConditions(res: GatewayResponse, conditions: Conditions | null): GatewayResponse {
    if (conditions === null || !notModified(conditions, res.status, res.headers)) return res;
    // The body still flows into the store; the client only gets the 304.
    drain(res.body);
    return { status: 304, headers: notModifiedHeaders(res.headers), body: null };
  }

  return (next) =>
    async function cacheResponses(req: GatewayRequest): Promise<GatewayResponse> {
      const route = rt.route(req.route);
      const counters = route.counters;
      const method = req.method;
      if (method !== 'GET' && method !== 'HEAD') {
        counters.bypass.value++;
        const res = await next(req);
        if (method !== 'OPTIONS' && method !== 'TRACE' && res.status < 400) {
          const key = route.key(req);
          if (!(key instanceof Bypass)) remove(key);
        }
        return res;
      }
      if (!rt.methods.has(method)) return bypass(req, next, counters, 'fwd=method');
      if (req.upgrade) return bypass(req, next, counters, 'fwd=bypass; detail=upgrade');
      if (req.headers['range'] !== undefined) return bypass(req, next, counters, 'fwd=bypass; detail=range');
      const key = route.key(req);
      if (key instanceof Bypass) return bypass(req, next, counters, `fwd=bypass; detail=${key.reason}`);

      // A memory store answers synchronously: a hit costs no promise.
      const first = store.get(key);
      let record = first instanceof Promise ? await first : first;
      let known: VaryRecord | null = null;
      let storageKey = key;
      if (record !== undefined && record.kind === 'vary') {
        known = record;
        storageKey = variantKey(key, record.generation, record.names, req.headers);
        const variant = store.get(storageKey);
        record = variant instanceof Promise ? await variant : variant;
        if (record !== undefined && record.kind !== 'response') record = undefined;
      }
      const now = Date.now();
      let stale: CachedResponse | undefined;
      if (record !== undefined && record.kind === 'response') {
        if (now < record.freshUntil) {
          counters.hit.value++;
          return answer(record, now, hitStatus(name, record.freshUntil, now), conditionsOf(req.headers));
        }
        if (now < record.staleUntil) {
          counters.stale.value++;
          refreshInBackground(req, next, key, storageKey, known, record);
          return answer(record, now, hitStatus(name, record.freshUntil, now), conditionsOf(req.headers));
        }
        if (method === 'GET' && hasValidator(record.headers)) stale = record;
      }

      const fwd = stale !== undefined ? 'fwd=stale' : known !== null ? 'fwd=vary-miss' : 'fwd=uri-miss';
      if (method === 'HEAD') {
        // A HEAD has no body to store: it goes upstream as it is.
        counters.miss.value++;
        const res = await next(req);
        appendCacheStatus(res.headers, `${name}; ${fwd}; detail=head`);
        return res;
      }
      if (coalescer === null) return forward(req, next, counters, key, known, stale, null, `${name}; ${fwd}`);
      const joined = coalescer.join(storageKey);
      if (joined.leader) return forward(req, next, counters, key, known, stale, joined.settle, `${name}; ${fwd}`);
      const filled = await joined.outcome;
      if (filled !== null && filled.key === key && (filled.vary === null || variantKey(key, filled.vary.generation, filled.vary.names, req.headers) === filled.storageKey)) {
        counters.collapsed.value++;
        return answer(filled.entry, Date.now(), `${name}; ${fwd}; collapsed`, conditionsOf(req.headers));
      }
      // The leader's answer was not stored, is another variant, or took too long: on our own.
      return forward(req, next, counters, key, known, stale, null, `${name}; ${fwd}; collapsed=?0`);
    };
}
