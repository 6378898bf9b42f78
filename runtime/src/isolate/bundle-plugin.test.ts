import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundlePlugin, PluginBuildError } from './bundle-plugin.ts';

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(import.meta.dirname, 'fixtures', '.tmp-bundle-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Bundle a plugin whose third line is `line`; the build error it fails with. */
async function buildError(line: string): Promise<PluginBuildError> {
  const file = path.join(dir, `p${Math.random().toString(36).slice(2)}.ts`);
  await fs.writeFile(file, `import { definePlugin } from '@isogate/sdk';\n// a plugin\n${line}\nexport default definePlugin({ name: 'p', version: '1.0.0', onRequest() {} });\n`);
  try {
    await bundlePlugin(file);
  } catch (err) {
    assert.ok(err instanceof PluginBuildError, String(err));
    assert.match(err.location, new RegExp(`${path.basename(file).replace('.', '\\.')}:3:\\d+$`), 'the importing file and line');
    return err;
  }
  assert.fail('the plugin bundled');
}

describe('bundlePlugin: Node built-ins', () => {
  for (const [line, instead] of [
    ["import { createHmac } from 'node:crypto';", /"node:crypto" cannot be imported; use the global crypto \(crypto\.subtle/],
    ["import crypto from 'crypto';", /"crypto" cannot be imported; use the global crypto/],
    ["import { Buffer } from 'node:buffer';", /use Uint8Array, with TextEncoder\/TextDecoder for text and atob\/btoa for base64/],
    ["import { parse } from 'url';", /use the global URL and URLSearchParams/],
    ["import { readFile } from 'node:fs/promises';", /"node:fs\/promises" cannot be imported; use the plugin's options \(there is no file system/],
    ["import { request } from 'node:https';", /use ctx\.fetch/],
    ["import { setTimeout } from 'node:timers/promises';", /a hook has no timers/],
    ["import { inspect } from 'node:v8';", /README: "Sandbox"/],
  ] as const) {
    it(`refuses ${line} with file:line, saying built-ins do not exist in plugins and what to use`, async () => {
      const err = await buildError(line);
      assert.match(err.message, /^Node built-ins do not exist in plugins \(a plugin runs in a V8 isolate, not in Node\)/);
      assert.match(err.message, instead);
    });
  }

  it('leaves other unresolved imports as esbuild says them', async () => {
    const err = await buildError("import x from 'no-such-package-here';");
    assert.equal(err.message, 'Could not resolve "no-such-package-here"');
  });
});
