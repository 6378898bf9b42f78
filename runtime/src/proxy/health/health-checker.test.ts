import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ResolvedHealthCheck } from '../../config/resolved-config.ts';
import { CircuitBreaker, type CircuitChange } from '../breaker/circuit-breaker.ts';
import { HealthChecker } from './health-checker.ts';

const settings: ResolvedHealthCheck = { path: '/health?deep=1', interval: 10, timeout: 200, healthyThreshold: 2, unhealthyThreshold: 2 };

describe('HealthChecker', () => {
  let server: http.Server;
  let origin: string;
  let answer: number | 'hang' = 200;
  const seen: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (answer === 'hang') return;
      res.writeHead(answer).end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  function watch() {
    const changes: CircuitChange[] = [];
    const circuit = new CircuitBreaker(origin, { onChange: (c) => changes.push(c) });
    return { circuit, changes };
  }

  async function until(predicate: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 500 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(predicate(), `timed out waiting for ${what}`);
  }

  it('takes the origin out after unhealthyThreshold failed checks and puts it back after healthyThreshold passes', async () => {
    const { circuit, changes } = watch();
    const checker = new HealthChecker(origin, settings, circuit);
    answer = 200;
    checker.start();
    try {
      await until(() => checker.checks >= 3, 'three checks');
      assert.equal(circuit.state, 'closed');
      assert.equal(seen.at(-1), 'GET /health?deep=1');
      answer = 503;
      await until(() => circuit.state === 'open', 'the circuit to open');
      assert.deepEqual(changes, [{ upstream: origin, from: 'closed', to: 'open', reason: 'health-check-failed', detail: 'status 503' }]);
      answer = 200;
      await until(() => circuit.state === 'closed', 'the circuit to close');
      assert.equal(changes.at(-1)?.reason, 'health-check-passed');
    } finally {
      checker.stop();
    }
  });

  it('a check that does not answer within its timeout fails', async () => {
    const { circuit, changes } = watch();
    const checker = new HealthChecker(origin, { ...settings, timeout: 30, unhealthyThreshold: 1 }, circuit);
    answer = 'hang';
    checker.start();
    try {
      await until(() => circuit.state === 'open', 'the circuit to open');
      assert.equal(changes[0]?.detail, 'timed out');
    } finally {
      checker.stop();
      answer = 200;
    }
  });

  it('a refused connection fails, with its error code', async () => {
    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadOrigin = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((resolve) => dead.close(resolve));
    const changes: CircuitChange[] = [];
    const circuit = new CircuitBreaker(deadOrigin, { onChange: (c) => changes.push(c) });
    const checker = new HealthChecker(deadOrigin, settings, circuit);
    checker.start();
    try {
      await until(() => circuit.state === 'open', 'the circuit to open');
      assert.equal(changes[0]?.detail, 'ECONNREFUSED');
    } finally {
      checker.stop();
    }
  });

  it('stop() ends the checks', async () => {
    const { circuit } = watch();
    const checker = new HealthChecker(origin, settings, circuit);
    checker.start();
    await until(() => checker.checks >= 1, 'a check');
    checker.stop();
    const before = seen.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(seen.length <= before + 1, 'at most the check that was in flight');
    const count = checker.checks;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(checker.checks, count);
  });

  it('never keeps the process alive: a process whose only work is a checker (with a check in flight) exits', async () => {
    answer = 'hang';
    const script = `
      import { HealthChecker } from ${JSON.stringify(path.join(import.meta.dirname, 'health-checker.ts'))};
      import { CircuitBreaker } from ${JSON.stringify(path.join(import.meta.dirname, '../breaker/circuit-breaker.ts'))};
      const checker = new HealthChecker(${JSON.stringify(origin)}, { path: '/health', interval: 50, timeout: 60000, healthyThreshold: 1, unhealthyThreshold: 1 }, new CircuitBreaker(${JSON.stringify(origin)}));
      checker.start();
      setTimeout(() => console.log('started'), 200);
    `;
    const before = seen.length;
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve({ stdout })));
    });
    answer = 200;
    assert.equal(stdout.trim(), 'started');
    assert.ok(seen.length > before, 'the check was in flight when the process exited');
  });
});
