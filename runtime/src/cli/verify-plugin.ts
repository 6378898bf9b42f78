import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { SDK_VERSION } from '@isogate/sdk';
import { sdkRangeVerdict } from '../isolate/sdk-compat.ts';
import { loadSandboxedPlugin, SandboxLoadError } from '../testing/sandbox-runner.ts';
import { diagnosticAt, GENERATED_CODE_OPTIONS } from './typecheck-config.ts';

/**
 * `isogate plugin verify <dir|tarball>`: what a gateway team will do with a plugin package, done
 * before it is published, so that a package that passes here installs, loads and type-checks in a
 * gateway project. Plugin authors run it in CI (the scaffold's workflow does).
 *
 *  1. pack: the package as it would be installed (`npm pack`, so the prepack build runs), unpacked
 *     into a consumer project; its entry must be JavaScript (Node strips no types under
 *     node_modules) and it must ship declarations (a config types the options from them);
 *  2. peer: `peerDependencies['@isogate/sdk']` names a valid range that accepts this SDK, and the
 *     SDK is not a dependency of its own (a second copy);
 *  3. load: the installed package bundled and loaded into an isolate as the gateway does, with the
 *     example options declared in its package.json (`"isogate": { "exampleOptions": {...} }`),
 *     validated by the plugin's schema (unknown keys refused, as at gateway start);
 *  4. tests: `npm test` in the package directory (the scaffold's tests run the hooks in the
 *     sandbox through @isogate/sdk/testing); a tarball carries no tests, so there it is not run;
 *  5. types: a consumer's gateway.config.ts naming the package with usePlugin(() => import(name),
 *     exampleOptions) type-checks against the published declarations, and an unknown option key
 *     is a type error there (a warning if not: the types would not catch a consumer's typo).
 *
 * The consumer project is a temporary directory inside the package's directory (or the current
 * one, for a tarball), so the package's dependencies and the SDK resolve from the node_modules
 * already installed there, as npm would have installed them next to it; it is removed afterwards.
 */

export type VerifyStepName = 'pack' | 'peer' | 'load' | 'tests' | 'types';

export interface VerifyStep {
  name: VerifyStepName;
  /** true passed, false failed, null not run (`detail` says why). */
  ok: boolean | null;
  detail: string;
}

export interface VerifyReport {
  /** `name@version` of the package, once known. */
  package: string | null;
  steps: VerifyStep[];
  ok: boolean;
}

interface PackageJson {
  name?: unknown;
  version?: unknown;
  main?: unknown;
  types?: unknown;
  typings?: unknown;
  exports?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  peerDependencies?: Record<string, unknown>;
  isogate?: { exampleOptions?: unknown };
}

/** The environment for the commands verify runs: without the test runner's marker, so a package's own `node --test` reports to it, not to a parent runner. */
function commandEnv(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  return env;
}

const run = promisify(execFile);

/** The last lines of a command's output, for a failure's detail. */
function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function commandOutput(err: unknown): string {
  const e = err as { stdout?: string; stderr?: string; message?: string };
  return tail(`${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim() || (e.message ?? String(err)));
}

/** The declarations file a package names (`types`, `typings`, or the `types` condition of its `.` export). */
function declaredTypes(pkg: PackageJson): string | null {
  if (typeof pkg.types === 'string') return pkg.types;
  if (typeof pkg.typings === 'string') return pkg.typings;
  const dot = (pkg.exports as Record<string, unknown> | undefined)?.['.'] ?? pkg.exports;
  if (dot !== null && typeof dot === 'object') {
    const types = (dot as Record<string, unknown>)['types'];
    if (typeof types === 'string') return types;
  }
  return null;
}

/** The instance name a consumer would give the plugin in its config: the unscoped package name. */
function instanceName(packageName: string): string {
  return packageName.replace(/^@[^/]+\//, '');
}

/**
 * Verify a plugin package directory or a packed tarball (.tgz). `log` hears each step as it ends.
 * Never throws for a problem of the package: that is a failed step.
 */
export async function verifyPlugin(target: string, opts: { cwd?: string; log?: (step: VerifyStep) => void } = {}): Promise<VerifyReport> {
  const cwd = opts.cwd ?? process.cwd();
  const resolved = path.resolve(cwd, target);
  const steps: VerifyStep[] = [];
  const report: VerifyReport = { package: null, steps, ok: false };
  const record = (name: VerifyStepName, ok: boolean | null, detail: string) => {
    const step = { name, ok, detail };
    steps.push(step);
    opts.log?.(step);
  };
  const notRun = (names: VerifyStepName[], why: string) => {
    for (const name of names) record(name, null, `not run: ${why}`);
  };

  let isDir: boolean;
  try {
    isDir = (await stat(resolved)).isDirectory();
  } catch {
    record('pack', false, `${resolved} does not exist`);
    return report;
  }
  if (isDir && !existsSync(path.join(resolved, 'package.json'))) {
    record('pack', false, `${resolved} has no package.json: give a plugin package directory or a tarball from npm pack`);
    return report;
  }
  if (!isDir && !resolved.endsWith('.tgz')) {
    record('pack', false, `${resolved} is neither a directory nor a .tgz tarball`);
    return report;
  }

  const base = isDir ? resolved : cwd;
  const work = await mkdtemp(path.join(base, '.isogate-verify-'));
  try {
    // A package scope of its own: without it, `name` from inside the package's directory would
    // resolve to the package itself (self-reference through its exports), not to what was packed.
    await writeFile(path.join(work, 'package.json'), `${JSON.stringify({ name: 'isogate-verify-consumer', private: true, type: 'module' })}\n`);
    // 1. pack
    let tarball: string;
    if (isDir) {
      try {
        const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: resolved, env: commandEnv(), maxBuffer: 32 * 1024 * 1024 });
        // npm prints the prepack script's own output before the JSON.
        const json = JSON.parse(stdout.slice(stdout.indexOf('[\n') >= 0 ? stdout.indexOf('[\n') : stdout.indexOf('['))) as { filename: string }[];
        tarball = path.join(work, path.basename(json[0]!.filename));
      } catch (err) {
        record('pack', false, `npm pack failed (the prepack build runs first):\n${commandOutput(err)}`);
        notRun(['peer', 'load', 'tests', 'types'], 'the package could not be packed');
        return report;
      }
    } else tarball = resolved;
    const unpacked = path.join(work, 'unpacked');
    await mkdir(unpacked);
    try {
      await run('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);
    } catch (err) {
      record('pack', false, `cannot unpack ${tarball}: ${commandOutput(err)}`);
      notRun(['peer', 'load', 'tests', 'types'], 'the package could not be unpacked');
      return report;
    }
    let pkg: PackageJson;
    try {
      pkg = JSON.parse(await readFile(path.join(unpacked, 'package.json'), 'utf8')) as PackageJson;
    } catch {
      record('pack', false, 'the package has no readable package.json');
      notRun(['peer', 'load', 'tests', 'types'], 'the package has no package.json');
      return report;
    }
    if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string') {
      record('pack', false, 'package.json needs a name and a version');
      notRun(['peer', 'load', 'tests', 'types'], 'the package has no name');
      return report;
    }
    const name = pkg.name;
    report.package = `${name}@${pkg.version}`;
    // Installed where a gateway project would have it: node_modules/<name> of the consumer.
    const installed = path.join(work, 'node_modules', name);
    await mkdir(path.dirname(installed), { recursive: true });
    await rename(unpacked, installed);

    const packProblems: string[] = [];
    let entry: string | null = null;
    try {
      // Resolved as the gateway resolves a plugin named by its package (bundle-plugin.ts).
      entry = createRequire(path.join(work, 'noop.js')).resolve(name);
    } catch (err) {
      packProblems.push(`its entry cannot be resolved (main/exports): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    if (entry && /\.(c|m)?ts$/.test(entry) && !/\.d\.(c|m)?ts$/.test(entry)) {
      packProblems.push(`its entry ${path.relative(installed, entry)} is TypeScript: Node does not strip types under node_modules; publish JavaScript (a prepack build to dist/, as isogate new plugin sets up)`);
    }
    const types = declaredTypes(pkg);
    if (types === null) packProblems.push('it names no declarations (types): a gateway config could not type-check its options');
    else if (!existsSync(path.join(installed, types))) packProblems.push(`its declarations ${types} are not in the package (files in package.json, or the build)`);
    if (packProblems.length > 0) {
      record('pack', false, `${report.package}: ${packProblems.join('; ')}`);
    } else {
      record('pack', true, `${report.package}${isDir ? ' packed with npm pack (prepack build)' : ` from ${path.basename(tarball)}`}: entry ${path.relative(installed, entry!)}, declarations ${types}`);
    }

    // 2. peer
    const range = pkg.peerDependencies?.['@isogate/sdk'];
    let peerOk = false;
    if (typeof pkg.dependencies?.['@isogate/sdk'] === 'string') {
      record('peer', false, '@isogate/sdk is in dependencies: it must be a peerDependency (the gateway provides it; a second copy would be bundled into the plugin)');
    } else if (typeof range !== 'string') {
      record('peer', false, `no @isogate/sdk in peerDependencies: a gateway cannot tell which SDK the plugin was written for; add "peerDependencies": { "@isogate/sdk": "^${SDK_VERSION}" }`);
    } else if (sdkRangeVerdict(range) === 'invalid') {
      record('peer', false, `peerDependencies @isogate/sdk "${range}" is not a valid semver range`);
    } else if (sdkRangeVerdict(range) === 'excludes') {
      record('peer', false, `peerDependencies @isogate/sdk ${range} excludes this isogate's SDK ${SDK_VERSION}: a gateway on this version refuses the package`);
    } else {
      peerOk = true;
      record('peer', true, `@isogate/sdk ${range} accepts this SDK (${SDK_VERSION})`);
    }

    // 3. load
    const declaredExample = pkg.isogate?.exampleOptions;
    const exampleValid = declaredExample === undefined || (declaredExample !== null && typeof declaredExample === 'object' && !Array.isArray(declaredExample));
    const example = exampleValid ? ((declaredExample as Record<string, unknown> | undefined) ?? {}) : {};
    const exampleSource = declaredExample === undefined ? 'no isogate.exampleOptions in package.json: {}' : 'isogate.exampleOptions from package.json';
    const instance = instanceName(name);
    if (!exampleValid) {
      record('load', false, 'package.json isogate.exampleOptions must be an object (the options a gateway config would give)');
    } else if (packProblems.length > 0) {
      record('load', null, 'not run: the package does not install as a usable plugin');
    } else if (!peerOk) {
      record('load', null, 'not run: the gateway refuses a package whose SDK peer range does not fit');
    } else {
      try {
        const loaded = await loadSandboxedPlugin({ specifier: name, baseDir: work, options: example });
        const hooks = loaded.manifest.hooks.join(', ') || 'none';
        await loaded.dispose();
        record('load', true, `${loaded.manifest.name}@${loaded.manifest.version} loaded in an isolate (gateway limits, ${exampleSource}): hooks ${hooks}`);
      } catch (err) {
        if (err instanceof SandboxLoadError && err.kind === 'options') {
          record('load', false, `the example options are refused (${exampleSource}):\n${err.issues.map((i) => `plugins.${instance}.options${i.path.length > 0 ? `.${i.path.join('.')}` : ''}: ${i.message}`).join('\n')}`);
        } else {
          record('load', false, err instanceof Error ? err.message : String(err));
        }
      }
    }

    // 4. tests
    if (!isDir) {
      record('tests', null, 'not run: a tarball holds no tests (verify the package directory to run them)');
    } else if (typeof pkg.scripts?.['test'] !== 'string') {
      record('tests', false, 'package.json has no test script: a plugin package tests its hooks (testPlugin from @isogate/sdk/testing)');
    } else {
      try {
        const { stdout, stderr } = await run('npm', ['test'], { cwd: resolved, env: commandEnv(), maxBuffer: 32 * 1024 * 1024 });
        const output = `${stdout}\n${stderr}`;
        const count = /^(?:ℹ|#) tests (\d+)$/m.exec(output);
        if (count && Number(count[1]) === 0) record('tests', false, 'npm test ran no test (node --test on a Node older than 24 finds no .ts test and reports success)');
        else record('tests', true, count ? `npm test: ${count[1]} passed` : 'npm test passed');
      } catch (err) {
        record('tests', false, `npm test failed:\n${commandOutput(err)}`);
      }
    }

    // 5. types
    if (packProblems.length > 0) record('types', null, 'not run: the package does not install as a usable plugin');
    else {
      const problems = typecheckConsumer(work, 'gateway.config.ts', name, instance, example, installed);
      if (problems.length > 0) {
        record('types', false, `a gateway config naming the package with ${exampleSource.startsWith('no') ? 'options {}' : 'its example options'} does not type-check against the published declarations:\n${problems.join('\n')}`);
      } else {
        const probe = typecheckConsumer(work, 'probe.config.ts', name, instance, { ...example, isogateVerifyUnknownOption: true }, installed);
        record(
          'types',
          true,
          probe.length > 0
            ? "a gateway config naming the package type-checks against its declarations, and an unknown option key is a type error there"
            : 'a gateway config naming the package type-checks against its declarations; warning: an unknown option key is not a type error there (the declared options type accepts any key), so a consumer\'s typo is caught only when the gateway loads the config',
        );
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  report.ok = steps.every((s) => s.ok !== false);
  return report;
}

/**
 * Write a consumer config naming the installed package and type-check it with a consumer's usual
 * settings (strict, nodenext, skipLibCheck). Problems in the config and in the package's own files
 * are reported (TypeScript sources published under node_modules fail there); others are not ours.
 */
function typecheckConsumer(work: string, file: string, name: string, instance: string, options: Record<string, unknown>, installed: string): string[] {
  const config = path.join(work, file);
  ts.sys.writeFile(
    config,
    `import { defineConfig, usePlugin } from '@isogate/sdk';

export default defineConfig({
  plugins: { ${JSON.stringify(instance)}: usePlugin(() => import(${JSON.stringify(name)}), ${JSON.stringify(options)}) },
  routes: [{ path: '/*', upstream: 'http://127.0.0.1:9', middleware: [${JSON.stringify(instance)}] }],
});
`,
  );
  const program = ts.createProgram([config], { ...GENERATED_CODE_OPTIONS });
  const ownDir = `${installed}${path.sep}`;
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => !d.file || d.file.fileName === config || d.file.fileName.startsWith(ownDir))
    .map((d) => {
      const at = diagnosticAt(d);
      if (at.file === null) return at.message;
      const where = at.file === config ? file : path.relative(work, at.file);
      return `${where}:${at.line}:${at.column} - ${at.message}`;
    });
}

const MARK: Record<string, string> = { true: '✔', false: '✖', null: '–' };

/** `isogate plugin verify [target]`: prints each step, exits 1 when one failed. */
export async function verifyPluginCommand(target: string): Promise<void> {
  process.stdout.write(`isogate plugin verify ${target}\n`);
  const report = await verifyPlugin(target, {
    log: (step) => {
      const [first, ...rest] = step.detail.split('\n');
      process.stdout.write(`  ${MARK[String(step.ok)]} ${step.name.padEnd(5)}  ${first}\n${rest.map((l) => `           ${l}\n`).join('')}`);
    },
  });
  const failed = report.steps.filter((s) => s.ok === false).map((s) => s.name);
  if (report.ok) process.stdout.write(`${report.package ?? target}: OK\n`);
  else {
    process.stdout.write(`${report.package ?? target}: FAILED (${failed.join(', ')})\n`);
    process.exitCode = 1;
  }
}
