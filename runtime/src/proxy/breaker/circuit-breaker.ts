import type { ResolvedCircuitBreaker } from '../../config/resolved-config.ts';
import { GatewayError } from '../../errors.ts';
import { SlidingWindow } from '../sliding-window.ts';

/**
 * The gauge's values: the higher, the further from serving (a cluster scrape takes the highest
 * across workers).
 */
export const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

export type CircuitState = keyof typeof CIRCUIT_STATE_VALUE;

export type CircuitReason =
  | 'consecutive-failures'
  | 'error-rate'
  | 'cooldown-elapsed'
  | 'probe-failed'
  | 'probes-succeeded'
  | 'health-check-failed'
  | 'health-check-passed'
  | 'health-check-removed'
  | 'breaker-removed'
  /** Reports, not changes (`from: null`): the origin got a breaker or health checks; no table uses it any more. */
  | 'watched'
  | 'released';

export interface CircuitChange {
  /** The origin, e.g. `http://10.0.0.5:3000`. */
  readonly upstream: string;
  /** null: a report of the present state, not a change. */
  readonly from: CircuitState | null;
  readonly to: CircuitState;
  readonly reason: CircuitReason;
  /** What the failing health checks saw (`status 500`, `ECONNREFUSED`, `timed out`). */
  readonly detail?: string;
}

/** What `enter` answers when the call must not be made. */
export const REJECTED = -1;

/** How a call ended, for the breaker: a client abort or a refusal of the gateway's own is `ignored`. */
export type CallOutcome = 'success' | 'failure' | 'ignored';

/**
 * The state of one upstream origin, shared by every route and routing table using it: a circuit
 * breaker fed by the calls (consecutive failures, or an error rate within a sliding window) and by
 * the origin's active health checks.
 *
 *   closed ──(threshold)──▶ open ──(cooldown)──▶ half-open ──(every probe succeeds)──▶ closed
 *                            ▲                        │
 *                            └────(a probe fails)─────┘
 *   any ──(health checks fail)──▶ open, until they pass again ──▶ closed
 *
 * Calls are admitted with `enter()` (a ticket, or REJECTED) and reported with `exit()`; an
 * outcome from a call admitted before the last state change is ignored, so a slow call started
 * while closed cannot close a circuit that opened since. Open, the circuit costs a caller one
 * comparison: nothing is sent, no connection is made.
 */
export class CircuitBreaker {
  readonly upstream: string;
  readonly #onChange: (change: CircuitChange) => void;
  readonly #now: () => number;
  #settings: ResolvedCircuitBreaker | null = null;
  #failureStatuses: ReadonlySet<number> = new Set();
  #window: SlidingWindow | null = null;
  #state: CircuitState = 'closed';
  /** Held open by failed health checks: only passing ones close it. */
  #unhealthy = false;
  #openUntil = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Bumped on every state change; part of each ticket. */
  #generation = 0;
  #probesInFlight = 0;
  #probesPassed = 0;
  #consecutiveFailures = 0;

  constructor(upstream: string, options: { onChange?: (change: CircuitChange) => void; now?: () => number } = {}) {
    this.upstream = upstream;
    this.#onChange = options.onChange ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this.#state;
  }

  get settings(): ResolvedCircuitBreaker | null {
    return this.#settings;
  }

  /** Held open by health checks (rather than by calls). */
  get unhealthy(): boolean {
    return this.#unhealthy;
  }

  /** Whether calls need to pass through it at all: it counts them, or it is not closed. */
  get engaged(): boolean {
    return this.#settings !== null || this.#state !== 'closed';
  }

  /** Whether a call would be admitted now (routing skips upstreams where it would not). */
  get admits(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') return false;
    return this.#probesInFlight < this.#settings!.halfOpenProbes;
  }

  /** Admit a call: a ticket to hand to `exit` once its outcome is known, or REJECTED. */
  enter(): number {
    if (this.#state === 'closed') return this.#generation * 2;
    if (this.#state === 'open' || this.#probesInFlight >= this.#settings!.halfOpenProbes) return REJECTED;
    this.#probesInFlight++;
    return this.#generation * 2 + 1;
  }

  exit(ticket: number, outcome: CallOutcome): void {
    if (ticket === REJECTED) return;
    const probe = ticket % 2 === 1;
    if ((ticket - (probe ? 1 : 0)) / 2 !== this.#generation) return;
    const settings = this.#settings;
    if (settings === null) return;
    if (probe) {
      this.#probesInFlight--;
      if (outcome === 'failure') this.#open('probe-failed');
      else if (outcome === 'success' && ++this.#probesPassed >= settings.halfOpenProbes) this.#close('probes-succeeded');
      return;
    }
    if (outcome === 'ignored') return;
    const now = this.#now();
    if (outcome === 'success') {
      this.#consecutiveFailures = 0;
      this.#window?.add(now, 1, 0);
      return;
    }
    this.#consecutiveFailures++;
    this.#window?.add(now, 1, 1);
    if (settings.consecutiveFailures > 0 && this.#consecutiveFailures >= settings.consecutiveFailures) {
      this.#open('consecutive-failures');
      return;
    }
    const rate = settings.errorRate;
    if (rate !== null) {
      const [calls, failures] = this.#window!.totals(now);
      if (calls >= rate.minRequests && failures * 100 >= rate.percent * calls) this.#open('error-rate');
    }
  }

  /** Whether an upstream answer with this status is a failure (a 2xx–4xx outside the list is a success). */
  isFailureStatus(status: number): boolean {
    return this.#failureStatuses.has(status);
  }

  /** The error a refused call fails with: 503, and when the half-open probes are due, Retry-After. */
  rejection(): GatewayError {
    if (this.#state === 'open' && !this.#unhealthy) {
      const seconds = Math.max(1, Math.ceil((this.#openUntil - this.#now()) / 1000));
      return new GatewayError('UPSTREAM_CIRCUIT_OPEN', { headers: { 'retry-after': String(seconds) } });
    }
    return new GatewayError('UPSTREAM_CIRCUIT_OPEN');
  }

  /**
   * Apply (new) settings; null: calls are no longer counted. The state is kept across a reload
   * with the same or other settings; removing them closes a circuit that calls had opened.
   */
  configure(settings: ResolvedCircuitBreaker | null): void {
    if (JSON.stringify(settings) === JSON.stringify(this.#settings)) return;
    this.#settings = settings;
    this.#failureStatuses = new Set(settings?.failureStatuses ?? []);
    this.#window = settings?.errorRate ? new SlidingWindow(settings.errorRate.window) : null;
    this.#consecutiveFailures = 0;
    if (settings === null && !this.#unhealthy && this.#state !== 'closed') this.#close('breaker-removed');
  }

  /** Active health checks found the origin unhealthy: out of the rotation until they pass. */
  healthFailed(detail?: string): void {
    if (this.#unhealthy) return;
    this.#unhealthy = true;
    this.#clearTimer();
    this.#transition('open', 'health-check-failed', detail);
  }

  /** Active health checks pass again (after failing): back into the rotation. */
  healthPassed(): void {
    if (!this.#unhealthy) return;
    this.#unhealthy = false;
    this.#close('health-check-passed');
  }

  /** The origin is no longer health-checked: forget their verdict. */
  healthRemoved(): void {
    if (!this.#unhealthy) return;
    this.#unhealthy = false;
    this.#close('health-check-removed');
  }

  dispose(): void {
    this.#clearTimer();
  }

  #open(reason: CircuitReason): void {
    const cooldown = this.#settings!.cooldown;
    this.#clearTimer();
    this.#openUntil = this.#now() + cooldown;
    // unref: a cooling-down breaker never keeps the process alive.
    this.#timer = setTimeout(() => this.#halfOpen(), cooldown).unref();
    this.#transition('open', reason);
  }

  #halfOpen(): void {
    this.#timer = null;
    if (this.#unhealthy || this.#state !== 'open' || this.#settings === null) return;
    this.#transition('half-open', 'cooldown-elapsed');
  }

  #close(reason: CircuitReason): void {
    this.#clearTimer();
    this.#consecutiveFailures = 0;
    this.#window?.clear();
    this.#transition('closed', reason);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #transition(to: CircuitState, reason: CircuitReason, detail?: string): void {
    const from = this.#state;
    this.#generation++;
    this.#probesInFlight = 0;
    this.#probesPassed = 0;
    if (from === to) return;
    this.#state = to;
    this.#onChange(detail === undefined ? { upstream: this.upstream, from, to, reason } : { upstream: this.upstream, from, to, reason, detail });
  }
}
