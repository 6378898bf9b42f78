import http from 'node:http';
import https from 'node:https';
import type { ResolvedHealthCheck } from '../../config/resolved-config.ts';
import type { CircuitBreaker } from '../breaker/circuit-breaker.ts';

/**
 * Active health checks of one upstream origin: `GET <path>` every `interval`, a 2xx or 3xx answer
 * within `timeout` passes. `unhealthyThreshold` failures in a row take the origin out of the
 * rotation (its circuit is held open), `healthyThreshold` passes in a row put it back. One checker
 * per origin, whatever the number of routes and routing tables using it (UpstreamPools owns it).
 *
 * Checks go over their own short-lived connection (node:http, `Connection: close`), not the
 * origin's pool: a pool whose connections are all busy must not make a healthy upstream look
 * dead, and an open circuit must not stop the check that would close it. Timers and sockets are
 * unref'd: a checker never keeps the process alive.
 */
export class HealthChecker {
  readonly origin: string;
  readonly settings: ResolvedHealthCheck;
  readonly #circuit: CircuitBreaker;
  readonly #url: URL;
  #timer: NodeJS.Timeout | null = null;
  #request: http.ClientRequest | null = null;
  #stopped = false;
  #passes = 0;
  #failures = 0;
  /** Checks completed (for tests and diagnostics). */
  checks = 0;

  constructor(origin: string, settings: ResolvedHealthCheck, circuit: CircuitBreaker) {
    this.origin = origin;
    this.settings = settings;
    this.#circuit = circuit;
    this.#url = new URL(settings.path, origin);
  }

  /** First check now, then every `interval` after the previous one ended. */
  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#request?.destroy();
    this.#request = null;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#check(), ms).unref();
  }

  #check(): void {
    this.#timer = null;
    let settled = false;
    const finish = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      this.#request = null;
      if (this.#stopped) return;
      this.checks++;
      this.#record(ok, detail);
      this.#schedule(this.settings.interval);
    };
    const client = this.#url.protocol === 'https:' ? https : http;
    const req = client.request(this.#url, {
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'isogate-health-check', accept: '*/*', connection: 'close' },
    });
    this.#request = req;
    const deadline = setTimeout(() => {
      finish(false, 'timed out');
      req.destroy();
    }, this.settings.timeout).unref();
    req.on('socket', (socket) => socket.unref());
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.destroy();
      finish(status >= 200 && status < 400, `status ${status}`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    req.end();
  }

  #record(ok: boolean, detail: string): void {
    if (ok) {
      this.#failures = 0;
      this.#passes++;
      if (this.#circuit.unhealthy && this.#passes >= this.settings.healthyThreshold) this.#circuit.healthPassed();
    } else {
      this.#passes = 0;
      this.#failures++;
      if (!this.#circuit.unhealthy && this.#failures >= this.settings.unhealthyThreshold) this.#circuit.healthFailed(detail);
    }
  }
}
