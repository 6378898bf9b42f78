import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { importJwk, isSigningJwk, type Algorithm, type VerificationKey } from './keys.ts';

export interface JwksSettings {
  readonly url: string;
  readonly timeoutMs: number;
  readonly maxAgeMs: number;
  readonly cooldownMs: number;
  readonly staleIfErrorMs: number;
  readonly algorithms: readonly Algorithm[] | undefined;
}

/** No usable key set: nothing was ever fetched, or the cached one is older than its stale window. */
export class JwksUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwksUnavailableError';
  }
}

/** Fetches the key set document (JSON). Replaced in unit tests. */
export type JwksFetcher = (url: string, timeoutMs: number) => Promise<unknown>;

interface KeySet {
  readonly keys: readonly VerificationKey[];
  readonly fetchedAt: number;
}

const MAX_JWKS_BYTES = 512 * 1024;
/** After a failed fetch, the next one waits this long (or the cooldown, if shorter). */
const FAILURE_BACKOFF_MS = 1_000;

/**
 * A remote JWKS, cached. jose's createRemoteJWKSet is not used because it has no stale-if-error:
 * with a stale cache and the endpoint down it refetches on every verification (RESEARCH.md).
 *
 * - Fresh (younger than maxAge): served as is.
 * - Stale but within staleIfError past maxAge: served at once while one background refresh runs;
 *   if the endpoint fails, the old set keeps serving until the window closes.
 * - Nothing usable: the request waits for a fetch (bounded by the timeout); failure → unavailable.
 * - A `kid` not in the set (key rotation, or a forged kid): at most one refetch per cooldown,
 *   never one per request, so unknown kids cannot be used to hammer the identity provider.
 * Every caller shares the one in-flight fetch.
 */
export class JwksCache {
  readonly #settings: JwksSettings;
  readonly #logger: Logger;
  readonly #fetch: JwksFetcher;
  readonly #now: () => number;
  readonly #agent: Agent | null;
  #set: KeySet | null = null;
  #inFlight: Promise<KeySet> | null = null;
  #lastAttemptAt = -Infinity;
  #lastFailureAt = -Infinity;
  #closed = false;

  constructor(settings: JwksSettings, logger: Logger, deps: { fetch?: JwksFetcher; now?: () => number } = {}) {
    this.#settings = settings;
    this.#logger = logger;
    this.#now = deps.now ?? Date.now;
    if (deps.fetch) {
      this.#fetch = deps.fetch;
      this.#agent = null;
    } else {
      // A connection pool of its own: the identity provider is not one of the routes' upstreams.
      const agent = new Agent({ connect: { timeout: settings.timeoutMs }, headersTimeout: settings.timeoutMs, bodyTimeout: settings.timeoutMs, connections: 4 });
      this.#agent = agent;
      const fetchWithAgent: JwksFetcher = (url, timeoutMs) => fetchJwks(agent, url, timeoutMs);
      this.#fetch = fetchWithAgent;
    }
  }

  /** Fetch ahead of the first request (failures are only logged: a request will try again). */
  warm(): void {
    if (this.#set === null && this.#inFlight === null) this.#refresh().catch(() => {});
  }

  /**
   * The keys that may have signed a token with this `kid` and `alg` (every key allowing `alg` when
   * the token names no kid). Empty when none: the token's key is unknown. Throws
   * JwksUnavailableError when no usable key set can be had.
   */
  async keysFor(kid: string | undefined, alg: Algorithm): Promise<readonly VerificationKey[]> {
    let set = await this.#usableSet();
    let keys = select(set, kid, alg);
    if (keys.length === 0 && kid !== undefined && !set.keys.some((k) => k.kid === kid)) {
      // Perhaps a rotation: join a fetch already running, or start one if the cooldown allows.
      const now = this.#now();
      const pending = this.#inFlight ?? (now - this.#lastAttemptAt >= this.#settings.cooldownMs ? this.#refresh() : null);
      if (pending) {
        set = await pending.catch(() => set);
        keys = select(set, kid, alg);
      }
    }
    return keys;
  }

  async #usableSet(): Promise<KeySet> {
    const set = this.#set;
    const now = this.#now();
    if (set !== null) {
      const age = now - set.fetchedAt;
      if (age < this.#settings.maxAgeMs) return set;
      if (age < this.#settings.maxAgeMs + this.#settings.staleIfErrorMs) {
        if (this.#inFlight === null && this.#mayRetry(now)) this.#refresh().catch(() => {});
        return set;
      }
    }
    if (this.#inFlight) return this.#inFlight.catch(() => this.#unavailable());
    if (!this.#mayRetry(now)) return this.#unavailable();
    return this.#refresh().catch(() => this.#unavailable());
  }

  #mayRetry(now: number): boolean {
    return now - this.#lastFailureAt >= Math.min(FAILURE_BACKOFF_MS, this.#settings.cooldownMs);
  }

  #unavailable(): never {
    throw new JwksUnavailableError(`no usable key set from ${this.#settings.url}`);
  }

  #refresh(): Promise<KeySet> {
    if (this.#inFlight) return this.#inFlight;
    this.#lastAttemptAt = this.#now();
    const attempt = this.#load().then(
      (set) => {
        this.#set = set;
        this.#inFlight = null;
        return set;
      },
      (err: unknown) => {
        this.#lastFailureAt = this.#now();
        this.#inFlight = null;
        if (this.#closed) throw err; // the pool was closed under it: nothing worth a warning
        const serving = this.#set ? `still serving the key set fetched ${Math.round((this.#now() - this.#set.fetchedAt) / 1000)} s ago` : 'no key set cached';
        this.#logger.warn({ jwks: this.#settings.url, error: err instanceof Error ? err.message : String(err) }, `fetching the JWKS failed (${serving})`);
        throw err;
      },
    );
    this.#inFlight = attempt;
    return attempt;
  }

  async #load(): Promise<KeySet> {
    const doc = await this.#fetch(this.#settings.url, this.#settings.timeoutMs);
    const raw = doc !== null && typeof doc === 'object' ? (doc as { keys?: unknown }).keys : undefined;
    if (!Array.isArray(raw)) throw new Error('the response is not a JWK set (no "keys" array)');
    const keys: VerificationKey[] = [];
    const skipped: string[] = [];
    for (const jwk of raw) {
      if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) continue;
      const entry = jwk as Record<string, unknown>;
      if (!isSigningJwk(entry)) continue;
      const imported = importJwk(entry, undefined, false);
      if (!imported.ok) {
        skipped.push(`${typeof entry['kid'] === 'string' ? entry['kid'] : '(no kid)'}: ${imported.message}`);
        continue;
      }
      const allowed = this.#settings.algorithms;
      const algorithms = allowed ? new Set([...imported.key.algorithms].filter((a) => allowed.includes(a))) : imported.key.algorithms;
      if (algorithms.size > 0) keys.push({ ...imported.key, algorithms });
    }
    if (skipped.length > 0) this.#logger.warn({ jwks: this.#settings.url, skipped }, 'JWKS keys skipped');
    // An empty set is far more likely a broken endpoint than a deliberate revocation of every key.
    if (keys.length === 0) throw new Error('the JWK set holds no usable signing key');
    return { keys, fetchedAt: this.#now() };
  }

  /** No instance uses the cache any more (or the gateway closes): a fetch still running is of no use. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#agent?.destroy();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

function select(set: KeySet, kid: string | undefined, alg: Algorithm): VerificationKey[] {
  return set.keys.filter((k) => (kid === undefined || k.kid === kid) && k.algorithms.has(alg));
}

async function fetchJwks(agent: Agent, url: string, timeoutMs: number): Promise<unknown> {
  const res = await request(url, {
    dispatcher: agent,
    method: 'GET',
    headers: { accept: 'application/jwk-set+json, application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`the endpoint answered ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_JWKS_BYTES) {
      res.body.destroy();
      throw new Error(`the key set is larger than ${MAX_JWKS_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}
