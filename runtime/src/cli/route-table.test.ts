import assert from 'node:assert/strict';
import { it } from 'node:test';
import { resolveConfig } from '../config/validate-config.ts';
import { builtinPlugins } from '../plugins/builtins.ts';
import { formatRouteTable } from './route-table.ts';

it("marks the instances that share an isolate, and says what that means under the table", () => {
  const config = resolveConfig(
    {
      plugins: {
        own: { use: './own.ts' },
        p1: { use: './p.ts', isolation: 'shared' },
        p2: { use: './p.ts', isolation: 'shared' },
        log: { use: 'logging' },
      },
      middleware: ['log'],
      routes: [
        { path: '/a/*', upstream: 'http://127.0.0.1:3001', middleware: ['own', 'p1', 'p2'] },
        { path: '/b/*', upstream: 'http://127.0.0.1:3002' },
      ],
    },
    builtinPlugins,
  );
  const lines = formatRouteTable(config).split('\n');
  assert.match(lines[0]!, /^METHODS\s+PATH\s+UPSTREAM\s+MIDDLEWARE$/);
  assert.ok(lines.some((l) => /\/a\/\*.*log → own → p1\* → p2\*$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /\/b\/\*.*\s log$/.test(l)), lines.join('\n'));
  assert.match(lines.at(-1)!, /^\* isolation: 'shared': /);
});

it('has no note when no instance is shared', () => {
  const config = resolveConfig({ routes: [{ path: '/a', upstream: 'http://127.0.0.1:3001' }] }, builtinPlugins);
  assert.equal(formatRouteTable(config).includes("isolation: 'shared'"), false);
});
