import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import pino from 'pino';
import { silentLogger } from '../../runtime/src/logging/logger.ts';
import { joinCluster, serveClusterMetrics, type ClusterLink, type ClusterPrimary, type ClusterWorker, type WorkerChannel } from './cluster.ts';
import { parseExposition } from './parse-exposition.ts';
import { CounterFamily, type CounterSeries, GaugeFamily, HistogramFamily, registerFamily } from './series.ts';

/**
 * node:cluster in miniature: a primary emitter and, per worker, a channel pair that delivers
 * messages asynchronously (as IPC does). A worker can be made deaf (never answers) or killed.
 */
class FakeCluster {
  readonly primary = new EventEmitter();
  readonly #workers = new Map<number, { worker: ClusterWorker; channel: EventEmitter; deaf: boolean; connected: boolean }>();
  #nextId = 1;

  addWorker(
    requests: number,
    options: { deaf?: boolean; logger?: Logger } = {},
  ): { link: ClusterLink; id: number; kill(): void; deaf(value: boolean): void; registry: Registry; total: CounterSeries } {
    const id = this.#nextId++;
    const channel = new EventEmitter();
    const entry: { deaf: boolean; connected: boolean; channel: EventEmitter; worker: ClusterWorker } = {
      deaf: options.deaf ?? false,
      connected: true,
      channel,
      worker: {
        id,
        isConnected: () => entry.connected,
        send: (message: unknown) => {
          if (!entry.connected) throw new Error('channel closed');
          if (!entry.deaf) setImmediate(() => channel.emit('message', structuredClone(message)));
        },
      },
    };
    this.#workers.set(id, entry);
    const workerSide: WorkerChannel = {
      send: (message) => {
        if (!entry.connected) throw new Error('channel closed');
        setImmediate(() => this.primary.emit('message', entry.worker, JSON.parse(JSON.stringify(message))));
      },
      on: (event, listener) => channel.on(event, listener),
      off: (event, listener) => channel.off(event, listener),
    };
    const registry = new Registry();
    const total = new CounterFamily('gateway_requests_total', 'help', ['route']);
    const workers = new GaugeFamily('gateway_metrics_workers', 'help', []);
    const missing = new GaugeFamily('gateway_metrics_workers_missing', 'help', []);
    const inFlight = new GaugeFamily('gateway_requests_in_flight', 'help', []);
    const duration = new HistogramFamily('gateway_request_duration_seconds', 'help', ['route'], [0.1, 1]);
    for (const family of [total, workers, missing, inFlight, duration]) registerFamily(registry, family);
    total.series('/a').value = requests;
    workers.series().value = 1;
    inFlight.series().value = 1;
    for (let i = 0; i < requests; i++) duration.series('/a').observe(0.5);
    const link = joinCluster(registry, silentLogger(), workerSide)!;
    return {
      link,
      id,
      registry,
      total: total.series('/a'),
      deaf: (value) => {
        entry.deaf = value;
      },
      kill: () => {
        entry.connected = false;
        this.primary.emit('exit', entry.worker);
      },
    };
  }

  listeners(): number {
    return this.primary.listenerCount('message') + this.primary.listenerCount('exit');
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('cluster aggregation', () => {
  it('any worker’s scrape returns the sum over every worker', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const workers = [fake.addWorker(3), fake.addWorker(4), fake.addWorker(5)];
    await tick();
    for (const w of workers) {
      const m = parseExposition(await w.link.scrape(1_000));
      assert.equal(m.value('gateway_requests_total', { route: '/a' }), 12);
      assert.equal(m.value('gateway_metrics_workers'), 3);
    }
    stop();
    assert.equal(fake.listeners(), 0);
  });

  it('a worker that does not answer is counted with its last answer, without its gauges, and reported missing', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(logger, fake.primary as unknown as ClusterPrimary);
    const a = fake.addWorker(1);
    const hung = fake.addWorker(5);
    await tick();
    let m = parseExposition(await a.link.scrape(1_000));
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 6);
    assert.equal(m.value('gateway_metrics_workers_missing'), 0);

    hung.deaf(true);
    a.total.value += 2;
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      m = parseExposition(await a.link.scrape(200));
      assert.ok(Date.now() - started < 1_000);
      assert.equal(m.value('gateway_requests_total', { route: '/a' }), 8, 'the hung worker’s last total, plus the live one’s');
      assert.equal(m.value('gateway_request_duration_seconds_count', { route: '/a' }), 6);
      assert.equal(m.value('gateway_request_duration_seconds_bucket', { route: '/a', le: '1' }), 6);
      assert.equal(m.value('gateway_requests_in_flight'), 1, 'the hung worker’s gauge is left out');
      assert.equal(m.value('gateway_metrics_workers'), 2);
      assert.equal(m.value('gateway_metrics_workers_missing'), 1);
    }
    const warnings = lines.filter((l) => String(l['msg']).includes('did not answer a scrape in time'));
    assert.equal(warnings.length, 1, 'logged once, not on every scrape');
    assert.deepEqual(warnings[0]!['workers'], [hung.id]);

    hung.deaf(false);
    m = parseExposition(await a.link.scrape(1_000));
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 8);
    assert.equal(m.value('gateway_metrics_workers_missing'), 0);
    stop();
  });

  it('a worker that exits keeps its counters and histograms in every later scrape (no counter reset), not its gauges', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const workers = [fake.addWorker(1_000), fake.addWorker(1_000), fake.addWorker(1_000), fake.addWorker(1_000)];
    await tick();
    const [first, , , dying] = workers as [ReturnType<FakeCluster['addWorker']>, unknown, unknown, ReturnType<FakeCluster['addWorker']>];
    assert.equal(parseExposition(await first.link.scrape(1_000)).value('gateway_requests_total', { route: '/a' }), 4_000);
    dying.kill();
    const replacement = fake.addWorker(0);
    await tick();
    let m = parseExposition(await first.link.scrape(1_000));
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 4_000, 'the total does not drop when a worker is replaced');
    assert.equal(m.value('gateway_request_duration_seconds_count', { route: '/a' }), 4_000);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { route: '/a', le: '0.1' }), 0);
    assert.equal(m.value('gateway_request_duration_seconds_bucket', { route: '/a', le: '+Inf' }), 4_000);
    assert.equal(m.value('gateway_request_duration_seconds_sum', { route: '/a' }), 2_000);
    assert.equal(m.value('gateway_requests_in_flight'), 4, 'three survivors and the replacement, not the dead worker');
    assert.equal(m.value('gateway_metrics_workers'), 4, 'live workers');

    // Traffic afterwards adds up on top; a second death folds in as well.
    replacement.total.value = 5;
    workers[1]!.kill();
    m = parseExposition(await replacement.link.scrape(1_000));
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 4_005);
    assert.equal(m.value('gateway_metrics_workers'), 3);
    stop();
  });

  it('a worker that answered and then exits before the collection ends is counted once', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const a = fake.addWorker(2);
    const b = fake.addWorker(7);
    const c = fake.addWorker(1);
    await tick();
    assert.equal(parseExposition(await c.link.scrape(1_000)).value('gateway_requests_total', { route: '/a' }), 10);
    b.deaf(true);
    const scrape = c.link.scrape(5_000);
    await tick(); // a and c have answered; b keeps the collection open
    a.kill();
    b.kill();
    const m = parseExposition(await scrape);
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 10);
    assert.equal(m.value('gateway_metrics_workers'), 1);
    stop();
  });

  it('a worker that exits mid-collection is left out, not waited for', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const a = fake.addWorker(2);
    const dying = fake.addWorker(7, { deaf: true });
    await tick();
    const scrape = a.link.scrape(5_000);
    await tick();
    dying.kill();
    const m = parseExposition(await scrape);
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 2);
    assert.equal(m.value('gateway_metrics_workers'), 1);
    stop();
  });

  it('a worker that closed its registry is no longer asked', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const a = fake.addWorker(2);
    const b = fake.addWorker(3);
    await tick();
    assert.equal(parseExposition(await a.link.scrape(500)).value('gateway_requests_total', { route: '/a' }), 5);
    b.total.value = 4; // counted after its last answer: lost with it (documented)
    b.link.close();
    await tick();
    const m = parseExposition(await a.link.scrape(500));
    assert.equal(m.value('gateway_requests_total', { route: '/a' }), 5, 'its last answered counts stay in the sum');
    assert.equal(m.value('gateway_metrics_workers'), 1);
    stop();
  });

  it('without an answering primary the worker’s scrape times out instead of hanging', async () => {
    const fake = new FakeCluster(); // nobody serves the primary side
    const a = fake.addWorker(1);
    await assert.rejects(a.link.scrape(50), /the cluster primary did not answer within 50 ms/);
  });

  it('a closed channel fails the scrape at once', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const a = fake.addWorker(1);
    await tick();
    a.kill();
    await assert.rejects(a.link.scrape(5_000), /unreachable/);
    stop();
  });

  it('ignores messages that are not its own', async () => {
    const fake = new FakeCluster();
    const stop = serveClusterMetrics(silentLogger(), fake.primary as unknown as ClusterPrimary);
    const a = fake.addWorker(4);
    fake.primary.emit('message', { id: 99, send() {}, isConnected: () => true }, null);
    fake.primary.emit('message', { id: 99, send() {}, isConnected: () => true }, 'text');
    fake.primary.emit('message', { id: 99, send() {}, isConnected: () => true }, { type: 'prom-client:getMetricsRes' });
    await tick();
    assert.equal(parseExposition(await a.link.scrape(500)).value('gateway_requests_total', { route: '/a' }), 4);
    stop();
  });
});
