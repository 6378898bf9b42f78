import type { z } from 'zod';
import type { Logger } from 'pino';
import type { GatewayRequest, GatewayResponse, HeaderMap, Middleware } from '../chain/types.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { SentOutcome } from '../chain/instruments.ts';

/** Gateway-wide happenings that outlive one routing table. */
export type GatewayEvent =
  | { type: 'config-reload'; result: 'success' | 'failure' }
  /**
   * An upstream origin's circuit breaker (proxy/breaker/circuit-breaker.ts) changed state
   * (`previous` is the state it left), or, with `previous: null`, a report of its present state
   * that is no change: given to a listener when it subscribes, for every origin in use, and
   * `closed` when no routing table uses an origin any more.
   */
  | { type: 'upstream-circuit'; upstream: string; state: 'closed' | 'half-open' | 'open'; previous: 'closed' | 'half-open' | 'open' | null };

/** What an endpoint served before routing is given (there is no route yet). */
export interface EndpointRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: HeaderMap;
  readonly remoteAddress: string;
}

/**
 * A request the gateway answered before any route matched, as the `unrouted` observers get it:
 * the client resolved through `server.trustedProxies` as for routed requests.
 */
export interface UnroutedRequest extends EndpointRequest {
  readonly clientIp: string;
  readonly fromTrustedProxy: boolean;
  readonly protocol: 'http' | 'https';
  /**
   * Whether the transport took this request as an upgrade. Its answer is then written raw and the
   * transport reports no `sent` for it: an observer records it when told.
   */
  readonly upgrade: boolean;
}

/** A path answered by a plugin before routing, like the health endpoints (`/metrics`). */
export type EndpointHandler = (req: EndpointRequest) => GatewayResponse | Promise<GatewayResponse>;

/** How a user plugin's `verifier` hook judged a token. */
export type VerifierResult = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

/** A user plugin instance as another plugin may use it (auth delegating to a `verifier`). */
export interface UserPluginHandle {
  readonly instanceName: string;
  readonly hooks: readonly string[];
  /**
   * Run the plugin's `verifier(token, ctx)` hook. Resolves `{ok:false}` when it rejects the token
   * (returns null, or throws); rejects with a PluginFailure when the plugin itself failed
   * (timeout, memory, deadline, a non-object result).
   */
  verify(token: string, req: GatewayRequest): Promise<VerifierResult>;
}

/** A value kept for the gateway's lifetime; `close` (if any) runs when the gateway closes. */
export interface Closable {
  close?(): void | Promise<void>;
}

/** What a plugin factory is given when a routing table is built. */
export interface PluginFactoryContext {
  /** The instance name from `plugins.<name>` in the config. */
  readonly instanceName: string;
  readonly logger: Logger;
  readonly config: ResolvedConfig;
  /**
   * State that must survive config reloads (a metrics registry, a Redis connection): created by
   * `create` the first time `key` is asked for in this gateway, then returned as is. Keys are
   * global to the gateway: prefix them with the plugin's name.
   */
  shared<T extends Closable>(key: string, create: () => T): T;
  /** Gateway-wide events; returns the unsubscribe function. Subscribe from a `shared` value to outlive reloads. */
  onGatewayEvent(listener: (event: GatewayEvent) => void): () => void;
  /** A user plugin instance of the same config, by instance name (undefined when none). */
  userPlugin(instanceName: string): UserPluginHandle | undefined;
}

/** What `create` returns when a plugin needs more than a middleware. */
export interface BuiltinInstance {
  middleware: Middleware;
  /** Paths answered before routing (exact match), e.g. `{ '/metrics': handler }`. */
  endpoints?: Readonly<Record<string, EndpointHandler>>;
  /**
   * Requests the gateway answered before any route matched (404, 405, a bad path, 413/414 limits):
   * given only to instances listed in the global `middleware` (they observe every request). The
   * returned function, if any, is called once the response was written or abandoned.
   * `responseHeaders` are the answer's, still writable (a request id can be echoed).
   */
  unrouted?(req: UnroutedRequest, status: number, responseHeaders?: HeaderMap): ((outcome: SentOutcome) => void) | void;
  /** Called when the routing table that created the instance is retired (after its last request). */
  dispose?(): void | Promise<void>;
}

/**
 * A built-in plugin: trusted code running in the host process. Its options are validated by its
 * own schema at config resolution (errors name `plugins.<instance>.options.<key>`), and `create`
 * runs once per routing table (at start and on every reload), never per request. A plugin error
 * thrown from `create` fails the load or reload like a config error (the last good config keeps
 * serving).
 */
export interface BuiltinPlugin<Options = unknown> {
  readonly name: string;
  readonly options: z.ZodType<Options>;
  create(options: Options, context: PluginFactoryContext): Middleware | BuiltinInstance;
}

export type BuiltinPluginRegistry = ReadonlyMap<string, BuiltinPlugin<never>>;

export function definePluginRegistry(plugins: readonly BuiltinPlugin<never>[]): BuiltinPluginRegistry {
  return new Map(plugins.map((p) => [p.name, p]));
}
