import { createHash } from 'node:crypto';
import ivm from 'isolated-vm';
import type { Logger } from 'pino';
import { createHookRuntime } from '@isogate/sdk/internal/hook-runtime';
import { pluginLocation, type PluginBundle } from './bundle-plugin.ts';
import { guardLimit, installBuiltinGuards } from './builtin-guards.ts';
import { createPluginFetch, installHostFetch, type PluginFetchSettings } from './plugin-fetch.ts';
import { HookWatchdog, type WatchedIsolate } from './hook-watchdog.ts';

export interface PluginLimitsResolved {
  memoryMb: number;
  cpuMs: number;
  wallMs: number;
}

export interface PluginManifest {
  name: string;
  version: string;
  sdkVersion: string;
  hooks: ('onRequest' | 'onResponse' | 'verifier')[];
  requestBody: 'text' | 'json' | 'bytes' | null;
  responseBody: 'text' | 'json' | 'bytes' | null;
  maxBodyBytes: number | null;
  hasSchema: boolean;
}

export type PluginFailureKind = 'throw' | 'timeout' | 'memory' | 'deadline' | 'bad-result' | 'unavailable';

/** A hook failed. Its message stays in logs; the client only ever sees a coded error. */
export class PluginFailure extends Error {
  readonly kind: PluginFailureKind;
  readonly plugin: string;
  /** Where in the plugin's own source it failed (`file:line:column`), when the stack says so. */
  location: string | null = null;
  constructor(plugin: string, kind: PluginFailureKind, message: string) {
    super(message);
    this.name = 'PluginFailure';
    this.kind = kind;
    this.plugin = plugin;
  }
}

/**
 * Trusted code evaluated in every plugin isolate before the plugin's bundle: the SDK's hook runtime
 * (the same function `@isogate/sdk/testing` runs), installed as the global `__isogateHost`. It is
 * the only code that talks to the host: one JSON string in and one out per call, so no
 * isolated-vm object ever reaches plugin code.
 */
const prelude = (memoryMb: number): string => `(${installBuiltinGuards.toString()})(${guardLimit(memoryMb)});\n(${installHostFetch.toString()})();\nObject.defineProperty(globalThis, '__isogateHost', { value: (${createHookRuntime.toString()})(), enumerable: false, configurable: false, writable: false });\n;void 0`;

type HookArgs = [hook: string, input: string, requestHeaders: string, responseHeaders?: string];

interface Loaded {
  isolate: ivm.Isolate;
  context: ivm.Context;
  call: ivm.Reference<(hook: string, input: string, requestHeaders: string, responseHeaders?: string) => string>;
  settle: ivm.Reference<(id: number) => Promise<string>>;
  /** The CPU limit of synchronous calls (null: every call passes isolated-vm's own timeout). */
  watched: WatchedIsolate | null;
}

/**
 * One plugin instance in its own isolate: one isolate and one long-lived context per plugin
 * version, hooks called with a single string in and out. A hook that throws leaves the isolate
 * usable; a CPU timeout, a wall-clock deadline or an out-of-memory kill discards the isolate
 * (its state may be half-mutated) and the next call loads a fresh one.
 */
export class PluginHost {
  readonly instanceName: string;
  readonly bundle: PluginBundle;
  readonly limits: PluginLimitsResolved;
  manifest!: PluginManifest;
  readonly #logger: Logger;
  readonly #optionsJson: string;
  readonly #fetch: PluginFetchSettings | null;
  #loaded: Loaded | null = null;
  #loading: Promise<Loaded> | null = null;
  #disposed = false;
  /** Routing tables using this host: a reload that leaves the plugin unchanged shares it. */
  #users = 1;
  /**
   * What makes two loads of an instance the same plugin: its bundled code, options, limits and
   * fetch settings. A reload that finds the same identity keeps this host (and its isolate's
   * state) instead of building a new one.
   */
  readonly identity: string;

  private constructor(instanceName: string, bundle: PluginBundle, optionsJson: string, limits: PluginLimitsResolved, logger: Logger, fetch: PluginFetchSettings | null) {
    this.instanceName = instanceName;
    this.#fetch = fetch;
    this.bundle = bundle;
    this.#optionsJson = optionsJson;
    this.limits = limits;
    this.#logger = logger;
    this.identity = hostIdentity(bundle, optionsJson, limits, fetch);
  }

  /** Whether an isolate is loaded and ready for a call right now (false while one is replaced). */
  get loaded(): boolean {
    return this.#loaded !== null && !this.#loaded.isolate.isDisposed;
  }

  /** Another routing table uses this host from now on; each user calls `dispose()` once. */
  retain(): this {
    if (this.#disposed) throw new Error(`plugin host "${this.instanceName}" is already disposed`);
    this.#users++;
    return this;
  }

  /**
   * Load the bundle into a fresh isolate, register it and validate its options (in the isolate:
   * plugin code never runs in the host). Throws PluginLoadError with the option issues.
   */
  static async create(
    instanceName: string,
    bundle: PluginBundle,
    options: unknown,
    limits: PluginLimitsResolved,
    logger: Logger,
    fetch: PluginFetchSettings | null = null,
  ): Promise<PluginHost> {
    const host = new PluginHost(instanceName, bundle, JSON.stringify(options ?? {}), limits, logger, fetch);
    host.#loaded = await host.#load(true);
    return host;
  }

  async #load(first: boolean): Promise<Loaded> {
    const isolate = new ivm.Isolate({ memoryLimit: this.limits.memoryMb });
    try {
      const context = await isolate.createContext();
      if (this.#fetch) {
        // Picked up (and removed from the global object) by installHostFetch in the prelude.
        await context.global.set('__isogateFetchRef', new ivm.Reference(createPluginFetch(this.#fetch, this.instanceName, this.#logger)));
      }
      await context.eval(prelude(this.limits.memoryMb), { timeout: 1_000 });
      const script = await isolate.compileScript(`${this.bundle.code}\n;__isogateHost.register(__isogatePlugin)`, { filename: `isogate-plugin:${this.bundle.entry}` });
      const manifestJson = (await script.run(context, { timeout: 2_000 })) as string;
      const manifest = JSON.parse(manifestJson) as PluginManifest;
      const hostRef = (await context.global.get('__isogateHost', { reference: true })) as ivm.Reference<Record<string, unknown>>;
      const configure = (await hostRef.get('configure', { reference: true })) as ivm.Reference<(input: string) => string>;
      const settle = (await hostRef.get('settle', { reference: true })) as Loaded['settle'];
      // Synchronous, like a hook; only an async schema goes through settle().
      let answer = configure.applySync(undefined, [this.#optionsJson], { timeout: 1_000 }) as string;
      if (answer.charCodeAt(0) === 0) answer = (await settle.apply(undefined, [Number(answer.slice(1))], { result: { promise: true } })) as string;
      const configured = JSON.parse(answer) as {
        ok: boolean;
        issues?: { message: string; path: string[] }[];
      };
      if (!configured.ok) throw new PluginOptionsError(configured.issues ?? []);
      const call = (await hostRef.get('call', { reference: true })) as Loaded['call'];
      configure.release();
      hostRef.release();
      if (first) this.manifest = manifest;
      const watched = await HookWatchdog.shared().watch(isolate, this.limits.cpuMs);
      return { isolate, context, call, settle, watched };
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  async #ready(): Promise<Loaded> {
    if (this.#loaded && !this.#loaded.isolate.isDisposed) return this.#loaded;
    if (this.#disposed) throw new PluginFailure(this.manifest.name, 'throw', 'plugin was unloaded');
    this.#loading ??= this.#load(false).then(
      (loaded) => {
        this.#loading = null;
        // Unloaded while this isolate was being built: it must not outlive the host (nor keep
        // its watchdog slot, which keeps the process alive).
        if (this.#disposed) {
          loaded.watched?.release();
          loaded.isolate.dispose();
          throw new PluginFailure(this.manifest.name, 'throw', 'plugin was unloaded');
        }
        this.#loaded = loaded;
        return loaded;
      },
      (err: unknown) => {
        this.#loading = null;
        throw err;
      },
    );
    return this.#loading;
  }

  #discard(loaded: Loaded): void {
    const wasCurrent = this.#loaded === loaded;
    if (wasCurrent) this.#loaded = null;
    loaded.watched?.release();
    if (!loaded.isolate.isDisposed) loaded.isolate.dispose();
    // Build the replacement now, off the next request's path: that request then finds it ready
    // (or waits for the build already under way) instead of paying for a whole isolate.
    if (wasCurrent && !this.#disposed) {
      void this.#ready().catch((err: unknown) => {
        if (!this.#disposed) this.#logger.error({ plugin: this.instanceName, error: err instanceof Error ? err.message : String(err) }, 'plugin isolate could not be replaced');
      });
    }
  }

  /**
   * Run a hook: one JSON string in, one out. A synchronous hook on a loaded isolate answers
   * synchronously (a string, no promise): most hooks are sync and this is the hot path.
   */
  call(hook: 'onRequest' | 'onResponse' | 'verifier', input: string, requestHeaders = '{}', responseHeaders?: string): string | Promise<string> {
    const args: HookArgs = responseHeaders === undefined ? [hook, input, requestHeaders] : [hook, input, requestHeaders, responseHeaders];
    const loaded = this.#loaded;
    if (!loaded || loaded.isolate.isDisposed) return this.#ready().then((l) => this.#run(l, hook, args));
    return this.#run(loaded, hook, args);
  }

  #run(loaded: Loaded, hook: 'onRequest' | 'onResponse' | 'verifier', args: HookArgs): string | Promise<string> {
    let result: string;
    // The watchdog enforces the CPU limit (see hook-watchdog.ts for why not a per-call timeout);
    // when it is not covering this call, isolated-vm's own timeout does.
    const watched = loaded.watched;
    const callId = watched ? watched.enter() : 0;
    try {
      result = (callId !== 0 ? loaded.call.applySync(undefined, args) : loaded.call.applySync(undefined, args, { timeout: this.limits.cpuMs })) as string;
    } catch (err) {
      throw this.#classify(err, loaded, callId);
    } finally {
      if (callId !== 0) watched!.leave();
    }
    if (result.charCodeAt(0) !== 0) return result;
    return this.#settle(loaded, hook, Number(result.slice(1)));
  }

  /**
   * The hook returned a promise: wait for it, but never longer than the wall-clock deadline.
   * Code after an `await` is not covered by the CPU timeout; only disposing the isolate stops it.
   */
  async #settle(loaded: Loaded, hook: string, id: number): Promise<string> {
    const name = this.manifest.name;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        loaded.settle.apply(undefined, [id], { result: { promise: true } }) as Promise<string>,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PluginFailure(name, 'deadline', `hook ${hook} exceeded its ${this.limits.wallMs} ms deadline`)), this.limits.wallMs);
        }),
      ]);
    } catch (err) {
      throw this.#classify(err, loaded);
    } finally {
      clearTimeout(timer);
    }
  }

  #classify(err: unknown, loaded: Loaded, callId = 0): PluginFailure {
    const name = this.manifest.name;
    if (err instanceof PluginFailure) {
      this.#discard(loaded);
      return err;
    }
    if (loaded.watched?.stopped(callId)) {
      this.#discard(loaded);
      return new PluginFailure(name, 'timeout', `hook exceeded its ${this.limits.cpuMs} ms CPU limit`);
    }
    const message = err instanceof Error ? err.message : String(err);
    if (loaded.isolate.isDisposed || /memory limit/i.test(message)) {
      this.#discard(loaded);
      return new PluginFailure(name, 'memory', message);
    }
    if (/timed out/i.test(message)) {
      this.#discard(loaded);
      return new PluginFailure(name, 'timeout', message);
    }
    const failure = new PluginFailure(name, 'throw', message);
    failure.location = pluginLocation(this.bundle, (err as { stack?: string } | null)?.stack);
    return failure;
  }

  /**
   * Release this user's hold; the last one disposes the isolate. Calls in flight then reject and
   * the host is not reloaded again.
   */
  dispose(): void {
    if (this.#disposed || --this.#users > 0) return;
    this.#disposed = true;
    if (this.#loaded) this.#discard(this.#loaded);
    this.#logger.debug({ plugin: this.instanceName }, 'plugin isolate disposed');
  }
}

/** Same identity: same code, options, limits and fetch settings (the instance name is the map key). */
export function hostIdentity(bundle: PluginBundle, optionsJson: string, limits: PluginLimitsResolved, fetch: PluginFetchSettings | null): string {
  return createHash('sha256').update(bundle.code).update('\0').update(optionsJson).update('\0').update(JSON.stringify(limits)).update('\0').update(JSON.stringify(fetch)).digest('base64');
}

export class PluginOptionsError extends Error {
  readonly issues: readonly { message: string; path: string[] }[];
  constructor(issues: { message: string; path: string[] }[]) {
    super(issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; '));
    this.name = 'PluginOptionsError';
    this.issues = issues;
  }
}
