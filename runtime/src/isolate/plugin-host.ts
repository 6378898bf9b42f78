import { createHash } from 'node:crypto';
import ivm from './isolated-vm.ts';
import type { Logger } from 'pino';
import { createHookRuntime } from '@isogate/sdk/internal/hook-runtime';
import { headerRules, packHookCall } from '@isogate/sdk/internal/hook-wire';
import { pluginLocation, type PluginBundle } from './bundle-plugin.ts';
import { guardLimit, installBuiltinGuards } from './builtin-guards.ts';
import { createPluginFetch, hostFetchBridge, installHostFetch, type PluginFetchSettings } from './plugin-fetch.ts';
import { HookWatchdog, SLOT_CPU_LIMIT, SLOT_PART, SLOT_WALL_LIMIT, type WatchedIsolate } from './hook-watchdog.ts';
import { installSandbox } from './sandbox/sandbox-script.ts';
import { createGroupRunner } from './shared-group-runner.ts';

export interface PluginLimitsResolved {
  memoryMb: number;
  cpuMs: number;
  wallMs: number;
}

/** A user plugin's limits when its instance names none (the config's defaults, and `testPlugin`'s). */
export const DEFAULT_PLUGIN_LIMITS: Readonly<PluginLimitsResolved> = Object.freeze({ memoryMb: 64, cpuMs: 50, wallMs: 1_000 });
/** isolated-vm's error for a call stopped by its `timeout` option (src/isolate/run_with_timeout.h). */
const IVM_TIMEOUT_MESSAGE = 'Script execution timed out.';

/**
 * The host side of `ctx.fetch`: the gateway's allow-listed fetch (settings), or a function that
 * answers in its place (`@isogate/sdk/testing`'s fake), with the same JSON in and out.
 */
export type PluginFetchSource = PluginFetchSettings | ((url: string, init: string) => Promise<string>);

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
  /**
   * The instance (its name in the config) that failed, when the host knows it: in a shared group's
   * crossing it is how the caller finds whose failure policy applies.
   */
  instance: string | null = null;
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


/** One plugin's hook runtime in a loaded isolate. */
interface MemberRefs {
  /** The runtime's `callPacked`: a hook's arguments cross as one string (see packHookCall). */
  call: ivm.Reference<(packed: string) => string>;
  /** The runtime's `take`: an async hook's answer if it settled with the call (see `#run`). */
  take: ivm.Reference<(id: number) => string>;
  /** The runtime's `forgetLast`: drop what a call that threw had parked. */
  forgetLast: ivm.Reference<() => void>;
  settle: ivm.Reference<(id: number) => Promise<string>>;
}

interface Loaded {
  isolate: ivm.Isolate;
  /** Each member's runtime, in its own context (one member unless the host is a shared group). */
  members: MemberRefs[];
  /** A shared group's runner (shared-group-runner.ts); null for one plugin. */
  group: ivm.Reference<(packed: string) => string> | null;
  /** The runner's `forgetParked`: drop the answer a crossing that failed after the runner returned had parked. */
  groupForget: ivm.Reference<() => void> | null;
  /** Which member the group's runner is running (index plus one), read after a stop. */
  running: Int32Array | null;
  /** Which load of the host this is (a crossing's parked answers belong to it). */
  generation: number;
  /** The host disposed it because a call went past its wall-clock deadline (so a call it cut off reports that). */
  deadlineStop: boolean;
  /** Calls on the watchdog's fallback path go into the isolate one at a time (#runUncovered): the last one's turn. */
  uncoveredTurn: Promise<unknown>;
  /** The CPU limit of synchronous calls (null: every call passes isolated-vm's own timeout). */
  watched: WatchedIsolate | null;
}

/** What the host loads for one plugin instance: a single host has one, a shared group several. */
export interface PluginMemberSpec {
  instanceName: string;
  bundle: PluginBundle;
  options: unknown;
  limits: PluginLimitsResolved;
  fetch: PluginFetchSource | null;
}

interface Member extends PluginMemberSpec {
  optionsJson: string;
  identity: string;
}

/**
 * One member of a host, as the plugin middleware and the auth built-in call it: a single plugin's
 * host has one, a shared group one per instance in it.
 */
export class PluginMember {
  readonly host: PluginHost;
  readonly index: number;
  readonly instanceName: string;
  readonly bundle: PluginBundle;
  readonly limits: PluginLimitsResolved;
  manifest!: PluginManifest;
  constructor(host: PluginHost, index: number, spec: PluginMemberSpec) {
    this.host = host;
    this.index = index;
    this.instanceName = spec.instanceName;
    this.bundle = spec.bundle;
    this.limits = spec.limits;
  }

  /** Run one of this member's hooks (see PluginHost.call). */
  call(hook: 'onRequest' | 'onResponse' | 'verifier', input: string, requestHeaders = '{}', responseHeaders?: string): string | Promise<string> {
    return this.host.callMember(this.index, hook, input, requestHeaders, responseHeaders);
  }
}

/** A load of a shared group failed in one member's code or options: which member, and why. */
export class PluginMemberLoadError extends Error {
  readonly instanceName: string;
  override readonly cause: unknown;
  constructor(instanceName: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'PluginMemberLoadError';
    this.instanceName = instanceName;
    this.cause = cause;
  }
}

/**
 * One plugin instance in its own isolate: one isolate and one long-lived context per plugin
 * version, hooks called with a single string in and out. A hook that throws leaves the isolate
 * usable; a CPU timeout, a wall-clock deadline or an out-of-memory kill discards the isolate
 * (its state may be half-mutated) and the next call runs on a fresh one.
 *
 * The fresh one is ready before it is needed: once the host has served a call it keeps a warm
 * spare (loaded, configured and watched, never called), so a failure swaps the spare in at once
 * and a new spare is built in the background. Without it the request after a failure waited for
 * the whole replacement: measured 40-100 ms for a plugin bundling zod on 2 vCPUs (compiling the
 * bundle 13-50 ms, running its module code 8-20 ms, isolate, context and prelude 8-27 ms; the
 * watchdog's epoch restart 0.2 ms), against ~2 ms. The price is a second isolate per plugin in
 * service: +1.8 MB RSS for a tiny plugin (3.2 MB without), +6.7 MB for one bundling zod (9.7 MB
 * without), with the sandbox globals. Hosts that only load (`isogate check`, `token`) never
 * build one. V8's code cache for the bundle is not kept: it would make a build ~2 ms instead of
 * tens, but spares are built off the request path, and keeping it (as isolated-vm ExternalCopy or
 * as an ArrayBuffer) left +45-80 MB RSS after 100 reloads in reload-memory.test.ts, against +8.
 */
export class PluginHost {
  /** The instance's name; a shared group's is `shared:` and its members' names. */
  readonly instanceName: string;
  /** Whether this host is a shared group (`isolation: 'shared'`): its instances in one isolate. */
  readonly shared: boolean;
  /** The members, in the order they were given (one unless this host is a shared group). */
  readonly members: readonly PluginMember[];
  readonly #logger: Logger;
  readonly #specs: readonly Member[];
  #loaded: Loaded | null = null;
  #loading: Promise<Loaded> | null = null;
  /** The warm spare, and the build of the next one. */
  #spare: Loaded | null = null;
  #spareBuild: Promise<void> | null = null;
  /** Whether a call was made: from then on the host keeps a spare. */
  #serving = false;
  /** Isolates built after the first (spares and replacements), for tests and diagnostics. */
  #built = 0;
  /** Loads so far (Loaded.generation). */
  #loads = 0;
  /** Synchronous calls into the isolate (hooks, group crossings, takes), for tests and diagnostics. */
  #crossings = 0;
  #disposed = false;
  /** Routing tables using this host (a shared group: one use per member per table). */
  #users: number;
  /**
   * What makes two loads of an instance the same plugin: its bundled code, options, limits and
   * fetch settings (a group's: its members', in order). A reload that finds the same identity
   * keeps this host (and its isolate's state) instead of building a new one.
   */
  readonly identity: string;

  private constructor(name: string, specs: readonly PluginMemberSpec[], logger: Logger, shared: boolean) {
    this.instanceName = name;
    this.shared = shared;
    this.#logger = logger;
    this.#specs = specs.map(toMember);
    this.members = specs.map((spec, i) => new PluginMember(this, i, spec));
    this.#users = specs.length;
    this.identity = shared ? groupIdentity(this.#specs) : this.#specs[0]!.identity;
  }

  /** A single plugin's bundle (the first member's in a group). */
  get bundle(): PluginBundle {
    return this.#specs[0]!.bundle;
  }

  /** A single plugin's limits (the first member's in a group). */
  get limits(): PluginLimitsResolved {
    return this.#specs[0]!.limits;
  }

  /** A single plugin's manifest (the first member's in a group). */
  get manifest(): PluginManifest {
    return this.members[0]!.manifest;
  }


  /** The member for an instance name. */
  member(instanceName: string): PluginMember {
    const found = this.members.find((m) => m.instanceName === instanceName);
    if (!found) throw new Error(`plugin instance "${instanceName}" is not in host "${this.instanceName}"`);
    return found;
  }

  /** Whether an isolate is loaded and ready for a call right now (false while one is replaced). */
  get loaded(): boolean {
    return this.#loaded !== null && !this.#loaded.isolate.isDisposed;
  }

  /** Whether a warm spare is ready to take over after a failure (false while the next one is built). */
  get spareReady(): boolean {
    return this.#spare !== null && !this.#spare.isolate.isDisposed;
  }

  /** Isolates built since the first one: spares and replacements. */
  get isolatesBuilt(): number {
    return this.#built;
  }

  /** Synchronous calls made into the isolate so far: a group's crossing counts one, whatever it runs. */
  get crossings(): number {
    return this.#crossings;
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
    fetch: PluginFetchSource | null = null,
  ): Promise<PluginHost> {
    const host = new PluginHost(instanceName, [{ instanceName, bundle, options, limits, fetch }], logger, false);
    host.#loaded = await host.#load(true);
    return host;
  }

  /**
   * Load several plugin instances into one isolate, one context each (`isolation: 'shared'`): the
   * isolate's memory limit is the sum of theirs, each call keeps its member's CPU and wall-clock
   * limits, and consecutive members' hooks can run in one crossing (`callGroup`). What they give
   * up: a limit breach or a memory kill in one replaces the isolate, and with it every member's
   * state; a reload that changes one member reloads them all. One user per member: the routing
   * table disposes it once per member. A member's load failure is a PluginMemberLoadError.
   */
  static async createGroup(specs: readonly PluginMemberSpec[], logger: Logger): Promise<PluginHost> {
    if (specs.length === 0) throw new Error('a shared plugin group needs at least one member');
    const host = new PluginHost(`shared:${specs.map((s) => s.instanceName).join('+')}`, specs, logger, true);
    host.#loaded = await host.#load(true);
    return host;
  }

  async #load(first: boolean): Promise<Loaded> {
    const shared = this.shared;
    const memoryMb = this.#specs.reduce((sum, spec) => sum + spec.limits.memoryMb, 0);
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    // Fetches start only once the isolate serves hooks. One asked for by a plugin's module code or
    // its options schema is dropped (nobody awaits those): its answer would run the plugin's code
    // on one of isolated-vm's threads, and `configure`, a synchronous call no watchdog covers yet,
    // would then wait for the isolate's lock for as long as that code runs.
    let serving = false;
    const isServing = () => serving && !isolate.isDisposed;
    try {
      const members: MemberRefs[] = [];
      const contexts: ivm.Context[] = [];
      for (const [i, spec] of this.#specs.entries()) {
        try {
          const { refs, context, manifest } = await this.#loadMember(isolate, spec, isServing);
          members.push(refs);
          contexts.push(context);
          if (first) this.members[i]!.manifest = manifest;
        } catch (err) {
          throw shared ? new PluginMemberLoadError(spec.instanceName, err) : err;
        }
      }
      const { group, groupForget, running, attach } = shared ? await this.#loadRunner(isolate, contexts) : { group: null, groupForget: null, running: null, attach: null };
      if (!first) this.#built++;
      // wallMs too: a call waiting for the isolate while its async code runs on another thread
      // uses no CPU, and must not wait for ever (hook-watchdog.ts). A group sets each call's own.
      const watched = await HookWatchdog.shared().watch(isolate, this.#specs[0]!.limits.cpuMs, this.#logger, callWallMs(this.#specs[0]!.limits));
      if (attach && watched) {
        // The runner starts each member's part of a crossing with that member's limits.
        const { cells, at } = watched.slot();
        try {
          await attach.apply(undefined, [new ivm.ExternalCopy(cells).copyInto({ release: true }), at, SLOT_CPU_LIMIT, SLOT_WALL_LIMIT, SLOT_PART], { timeout: 1_000 });
        } catch (err) {
          watched.release();
          throw err;
        }
      }
      attach?.release();
      serving = true;
      return { isolate, members, group, groupForget, running, generation: ++this.#loads, deadlineStop: false, uncoveredTurn: Promise.resolve(), watched };
    } catch (err) {
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  /** One plugin in its own context of `isolate`: prelude, sandbox, bundle, then its options checked. */
  async #loadMember(isolate: ivm.Isolate, spec: Member, isServing: () => boolean): Promise<{ refs: MemberRefs; context: ivm.Context; manifest: PluginManifest }> {
    const context = await isolate.createContext();
    const fetchBridge = spec.fetch ? hostFetchBridge(typeof spec.fetch === 'function' ? spec.fetch : createPluginFetch(spec.fetch, spec.instanceName, this.#logger)) : null;
    // Picked up (and removed from the global object) by installHostFetch in the prelude.
    if (fetchBridge) await context.global.set('__isogateFetchRef', new ivm.Reference(fetchBridge.start));
    await context.eval(prelude(spec.limits.memoryMb), { timeout: 1_000 });
    if (fetchBridge) {
      // The way back for fetch answers, taken before any plugin code runs.
      fetchBridge.connect((await context.global.get('__isogateFetchDeliver', { reference: true })) as ivm.Reference<(id: number, reply: string) => void>, isServing);
      await context.global.delete('__isogateFetchDeliver');
    }
    // URL, TextEncoder, crypto, console…: after the guards (the polyfills use the guarded builtins).
    await installSandbox(isolate, context);
    const script = await isolate.compileScript(`${spec.bundle.code}\n;__isogateHost.register(__isogatePlugin)`, { filename: `isogate-plugin:${spec.bundle.entry}` });
    const manifestJson = (await script.run(context, { timeout: 2_000 })) as string;
    script.release();
    const manifest = JSON.parse(manifestJson) as PluginManifest;
    const hostRef = (await context.global.get('__isogateHost', { reference: true })) as ivm.Reference<Record<string, unknown>>;
    const configure = (await hostRef.get('configure', { reference: true })) as ivm.Reference<(input: string) => string>;
    const settle = (await hostRef.get('settle', { reference: true })) as MemberRefs['settle'];
    // Synchronous, like a hook; only an async schema goes through settle().
    let answer = configure.applySync(undefined, [spec.optionsJson], { timeout: 1_000 }) as string;
    if (answer.charCodeAt(0) === 0) answer = (await settle.apply(undefined, [Number(answer.slice(1))], { result: { promise: true } })) as string;
    const configured = JSON.parse(answer) as {
      ok: boolean;
      issues?: { message: string; path: string[] }[];
    };
    if (!configured.ok) throw new PluginOptionsError(configured.issues ?? [], manifest.name);
    const call = (await hostRef.get('callPacked', { reference: true })) as MemberRefs['call'];
    const take = (await hostRef.get('take', { reference: true })) as MemberRefs['take'];
    const forgetLast = (await hostRef.get('forgetLast', { reference: true })) as MemberRefs['forgetLast'];
    configure.release();
    hostRef.release();
    return { refs: { call, take, forgetLast, settle }, context, manifest };
  }

  /**
   * A shared group's runner, in a context of its own that no plugin can reach: it holds each
   * member's hook runtime (taken from the member's context) and the cell that says which member
   * runs.
   */
  async #loadRunner(
    isolate: ivm.Isolate,
    contexts: readonly ivm.Context[],
  ): Promise<{ group: Loaded['group']; groupForget: Loaded['groupForget']; running: Int32Array; attach: ivm.Reference<(cells: SharedArrayBuffer, at: number, cpu: number, wall: number, part: number) => void> | null }> {
    const context = await isolate.createContext();
    const runtimes: ivm.Reference<unknown>[] = [];
    for (const memberContext of contexts) runtimes.push((await memberContext.global.get('__isogateHost', { reference: true })) as ivm.Reference<unknown>);
    for (const [i, runtime] of runtimes.entries()) await context.global.set(`__member${i}`, runtime.derefInto());
    const cell = new SharedArrayBuffer(4);
    await context.global.set('__running', new ivm.ExternalCopy(cell).copyInto({ release: true }));
    const members = runtimes.map((_, i) => `__member${i}`).join(', ');
    const limits = JSON.stringify(this.#specs.map((spec) => [spec.limits.cpuMs, callWallMs(spec.limits)]));
    await context.eval(
      `{ const runner = (${createGroupRunner.toString()})([${members}], new Int32Array(__running), ${headerRules.toString()}, ${limits});\nglobalThis.__isogateGroup = runner.run;\nglobalThis.__isogateGroupForget = runner.forgetParked;\nglobalThis.__isogateGroupAttach = runner.attach; }\n;void 0`,
      { timeout: 1_000 },
    );
    const group = (await context.global.get('__isogateGroup', { reference: true })) as Loaded['group'];
    const groupForget = (await context.global.get('__isogateGroupForget', { reference: true })) as Loaded['groupForget'];
    const attach = (await context.global.get('__isogateGroupAttach', { reference: true })) as ivm.Reference<(cells: SharedArrayBuffer, at: number, cpu: number, wall: number, part: number) => void>;
    for (const runtime of runtimes) runtime.release();
    // The runner holds what it needs; nothing stays on the context's global object.
    await context.eval(`for (const k of ['__running', '__isogateGroup', '__isogateGroupForget', '__isogateGroupAttach', ${runtimes.map((_, i) => `'__member${i}'`).join(', ')}]) delete globalThis[k];\n;void 0`, { timeout: 1_000 });
    return { group, groupForget, running: new Int32Array(cell), attach };
  }

  #ready(): Promise<Loaded> {
    const current = this.#loaded;
    if (current && !current.isolate.isDisposed) return Promise.resolve(current);
    if (current) this.#lostBetweenCalls(current);
    if (this.#disposed) return Promise.reject(new PluginFailure(this.manifest.name, 'throw', 'plugin was unloaded'));
    if (this.#promoteSpare()) return Promise.resolve(this.#loaded!);
    this.#loading ??= this.#replace().finally(() => (this.#loading = null));
    return this.#loading;
  }

  /** No spare was ready: wait for the one being built, or build a replacement. */
  async #replace(): Promise<Loaded> {
    // A spare on its way is the replacement: waiting for it beats building a second isolate.
    if (this.#spareBuild) {
      await this.#spareBuild;
      if (this.#disposed) throw new PluginFailure(this.manifest.name, 'throw', 'plugin was unloaded');
      // A call that came in while the spare was being handed over may have promoted it already.
      if (this.loaded) return this.#loaded!;
      if (this.#promoteSpare()) return this.#loaded!;
    }
    const loaded = await this.#load(false);
    // Unloaded while this isolate was being built: it must not outlive the host (nor keep its
    // watchdog slot, which keeps the process alive).
    if (this.#disposed) {
      release(loaded);
      throw new PluginFailure(this.manifest.name, 'throw', 'plugin was unloaded');
    }
    if (this.loaded) {
      // A spare was promoted while this one was built: keep the current isolate (an async hook
      // may be running on it), and this one as the spare unless another is ready or on its way.
      if (this.#spare === null && this.#spareBuild === null) this.#spare = loaded;
      else release(loaded);
      return this.#loaded!;
    }
    this.#makeCurrent(loaded);
    this.#prepareSpare();
    return loaded;
  }

  /**
   * The one way an isolate becomes current after the first: the one it replaces (disposed, or
   * the replacement would not be needed) is released, never dropped.
   */
  #makeCurrent(next: Loaded): void {
    if (this.#loaded) this.#lostBetweenCalls(this.#loaded);
    this.#loaded = next;
  }

  /**
   * The current isolate was found disposed by a new call, before any failure of ours discarded it
   * (the watchdog's stop landing just as a call ended; a memory kill in an async hook's
   * continuation, before that hook's failure is handled). Release it before anything replaces it:
   * an isolate dropped unreleased keeps its watchdog slot, and with it the watchdog's loop and the
   * whole process, alive. Releasing is idempotent, so the failure handled later changes nothing.
   */
  #lostBetweenCalls(current: Loaded): void {
    this.#loaded = null;
    release(current);
    if (!this.#disposed) this.#logger.warn({ plugin: this.instanceName }, 'plugin isolate found disposed by a new call; that call runs on a fresh one');
  }

  /** Make the spare current, synchronously, and start building the next spare. False when there is none. */
  #promoteSpare(): boolean {
    const spare = this.#spare;
    if (spare === null || this.#disposed || (this.#loaded !== null && !this.#loaded.isolate.isDisposed)) return false;
    this.#spare = null;
    if (spare.isolate.isDisposed) {
      release(spare);
      return false;
    }
    this.#makeCurrent(spare);
    this.#prepareSpare();
    return true;
  }

  /** Build a spare in the background, unless one is ready or on its way. */
  #prepareSpare(): void {
    if (this.#disposed || this.#spare !== null || this.#spareBuild !== null) return;
    this.#spareBuild = this.#load(false).then(
      (loaded) => {
        this.#spareBuild = null;
        // Never overwrite a spare: one dropped unreleased keeps its watchdog slot (and the process) alive.
        if (this.#disposed || this.#spare !== null) release(loaded);
        else this.#spare = loaded;
      },
      (err: unknown) => {
        this.#spareBuild = null;
        // Not retried here (a plugin whose module code fails now would fail in a loop): the
        // next failure builds its replacement on demand, and tries for a spare again.
        if (!this.#disposed) this.#logger.error({ plugin: this.instanceName, error: err instanceof Error ? err.message : String(err) }, 'plugin spare isolate could not be built');
      },
    );
  }

  #discard(loaded: Loaded): void {
    const wasCurrent = this.#loaded === loaded;
    if (wasCurrent) this.#loaded = null;
    release(loaded);
    if (!wasCurrent || this.#disposed) return;
    // The spare takes over now: the next request runs on it without waiting for any build.
    if (this.#promoteSpare()) return;
    // No spare yet: build the replacement now, off the next request's path as far as it can be
    // (that request waits only for what is left of the build).
    void this.#ready().catch((err: unknown) => {
      if (!this.#disposed) this.#logger.error({ plugin: this.instanceName, error: err instanceof Error ? err.message : String(err) }, 'plugin isolate could not be replaced');
    });
  }

  /**
   * Run a hook of a single plugin's host (the first member of a group): one JSON string in, one
   * out. A synchronous hook on a loaded isolate answers synchronously (a string, no promise): most
   * hooks are sync and this is the hot path.
   */
  call(hook: 'onRequest' | 'onResponse' | 'verifier', input: string, requestHeaders = '{}', responseHeaders?: string): string | Promise<string> {
    return this.callMember(0, hook, input, requestHeaders, responseHeaders);
  }

  /** Run one member's hook, as `call` does (PluginMember.call). */
  callMember(index: number, hook: 'onRequest' | 'onResponse' | 'verifier', input: string, requestHeaders = '{}', responseHeaders?: string): string | Promise<string> {
    this.#startServing();
    return this.#dispatch({ member: index, hook, args: [packHookCall(hook, input, requestHeaders, responseHeaders)] });
  }

  /**
   * Run the same hook of several members of a shared group, in `order`, in one crossing as far as
   * the group's runner can go (shared-group-runner.ts): the answer is its JSON array of entries,
   * one per member that ran (GroupEntry). A limit breach or memory kill is a PluginFailure whose
   * `instance` names the member that was running, or is null when the crossing failed after its
   * members had run (their promise jobs, an unhandled rejection: no member's in particular).
   */
  callGroup(order: readonly number[], hook: 'onRequest' | 'onResponse', input: string, requestHeaders: string, responseHeaders?: string): GroupAnswer | Promise<GroupAnswer> {
    this.#startServing();
    const packed = `${hook}\u0000${order.join(',')}\u0000${input.length}\u0000${requestHeaders.length}\u0000${input}${requestHeaders}${responseHeaders ?? ''}`;
    const call: Call = { member: -1, order, hook, args: [packed] };
    const raw = this.#dispatch(call);
    // The load is the one the crossing ran on, not whichever serves when a delayed call (waiting
    // for a load or for the watchdog's handover) answers: another load's parked ids are others'.
    if (typeof raw === 'string') return { text: raw, generation: call.ran! };
    return raw.then((text) => ({ text, generation: call.ran! }));
  }

  #startServing(): void {
    if (this.#serving) return;
    this.#serving = true;
    this.#prepareSpare();
  }

  #dispatch(call: Call): string | Promise<string> {
    const loaded = this.#loaded;
    if (!loaded || loaded.isolate.isDisposed) return this.#ready().then((l) => this.#run(l, call));
    return this.#run(loaded, call);
  }

  /**
   * The limits a call is judged by: its member's, or for a group's crossing the members' combined.
   * Watched, the runner judges each member's part by that member's own limits and what is outside
   * every part (waiting for the isolate, the promise jobs after) by the largest ('max'); under
   * isolated-vm's own timeout the crossing is one run, judged by the sum ('sum').
   */
  #callLimits(call: Call, combine: 'max' | 'sum'): PluginLimitsResolved {
    if (call.member >= 0) return this.#specs[call.member]!.limits;
    let cpuMs = 0;
    let wallMs = 0;
    for (const i of call.order!) {
      const limits = this.#specs[i]!.limits;
      cpuMs = combine === 'sum' ? cpuMs + limits.cpuMs : Math.max(cpuMs, limits.cpuMs);
      wallMs = combine === 'sum' ? wallMs + callWallMs(limits) : Math.max(wallMs, callWallMs(limits));
    }
    return { memoryMb: 0, cpuMs, wallMs };
  }

  #run(loaded: Loaded, call: Call): string | Promise<string> {
    let result: string;
    // The watchdog enforces the CPU limit (see hook-watchdog.ts for why not a per-call timeout).
    // While it installs an isolate (this plugin's warm spare, a reload) the call waits a few ms for
    // it; a call it cannot cover goes asynchronously (#runUncovered).
    const watched = loaded.watched;
    const limits = this.#specs.length === 1 ? this.#specs[0]!.limits : this.#callLimits(call, 'max');
    // A group's members have limits of their own: the slot is set for this call before it enters.
    if (watched && this.shared) watched.setLimits(limits.cpuMs, callWallMs(limits));
    const callId = watched ? watched.enter() : 0;
    if (callId === 0) {
      const covered = watched?.whenCovered();
      // The isolate may have been swapped while waiting: dispatch again rather than reuse it (a
      // take belongs to its isolate: on a swapped one it fails as the lost isolate's answer).
      if (covered) return covered.then(() => (call.take ? this.#run(loaded, call) : this.#dispatch(call)));
      return this.#runUncovered(loaded, call, this.#specs.length === 1 ? limits : this.#callLimits(call, 'sum'));
    }
    const refs = call.member >= 0 ? loaded.members[call.member]! : null;
    call.ran = loaded.generation;
    try {
      this.#crossings++;
      const target = refs === null ? loaded.group! : call.take ? refs.take : refs.call;
      result = (target as ivm.Reference<(arg: string | number) => string>).applySync(undefined, call.args) as string;
      // An async hook (`\0<id>`): the isolate ran its promise jobs before the call returned, so a
      // hook that awaited nothing slow has its answer ready. Taking it is one more synchronous
      // call under the same CPU limit; settling it (#settleOn) is a round trip through isolated-vm's
      // threads and a timer, measured at 40-75 µs of CPU per request for an `async onRequest`
      // that only sets a header. A rejection is thrown here, as a synchronous throw is.
      if (refs !== null && !call.take && result.charCodeAt(0) === 0) {
        this.#crossings++;
        const taken = refs.take.applySync(undefined, [Number(result.slice(1))]) as string;
        if (taken.charCodeAt(0) !== 0) result = taken;
      }
    } catch (err) {
      // A kept isolate must not keep what the call parked before it threw. Still inside the
      // watchdog's cover: waiting for the isolate's lock (its async code may hold it) is only
      // ever stopped by the watchdog, never by isolated-vm's timeout. (A group's runner does this
      // itself for a member that throws; a crossing that failed after it returned, here.)
      const forget = forgetterOf(loaded, refs);
      if (forget !== null && !loaded.isolate.isDisposed) {
        try {
          forget.applySync(undefined, []);
        } catch {
          // the isolate went away meanwhile: so did what it held
        }
      }
      // Leave before classifying: the watchdog charges the hook thread's CPU time until leave(),
      // and classifying a throw reads the plugin's source map (11-15 ms cold for a bundle with
      // zod, ~100 ms before source-map-position.ts), which once got a plugin's isolate stopped
      // after its hook had already returned.
      watched!.leave();
      // A group's crossing names the member it was running when it was stopped (under the
      // watchdog that member's part was judged by its own limits); -1: it failed after the runner
      // returned (promise jobs, an unhandled rejection), in no member's part.
      const index = failedMember(loaded, call);
      const judged = call.member < 0 && index >= 0 ? this.#specs[index]!.limits : limits;
      throw this.#classify(err, loaded, index, judged, callId);
    }
    watched!.leave();
    if (refs === null || result.charCodeAt(0) !== 0) return result;
    return this.#settleOn(loaded, call.member, call.hook, call.take ? (call.args[0] as number) : Number(result.slice(1)));
  }

  /**
   * A call the watchdog does not cover (every slot taken, or its loop gone; no handover under
   * way): asynchronous, so the gateway's thread never waits for the isolate's lock, which
   * isolated-vm's timeout does not cover (the isolate's async code may hold it for ever). The
   * timeout judges the run; a timer on the whole call, waiting included, disposes the isolate at
   * the call's wall-clock limit. Rare, and slower than the watched path: it is the fallback.
   */
  async #runUncovered(loaded: Loaded, call: Call, limits: PluginLimitsResolved): Promise<string> {
    // One call at a time into the isolate on this path, as the synchronous path is by nature:
    // what a failed call parked is forgotten as "the last one" (forgetLast, forgetParked), which
    // another call in between would change; a group's running-member cell is read after the
    // call; and a call's deadline timer must not count its wait behind the others. Settling an
    // async hook's answer is not part of the turn.
    const turn = loaded.uncoveredTurn.then(() => this.#crossUncovered(loaded, call, limits));
    loaded.uncoveredTurn = turn.then(
      () => {},
      () => {},
    );
    const result = await turn;
    if (call.member < 0 || result.charCodeAt(0) !== 0) return result;
    return this.#settleOn(loaded, call.member, call.hook, call.take ? (call.args[0] as number) : Number(result.slice(1)));
  }

  /** One call of #runUncovered, in its turn: the answer, or `\0<id>` for an async hook's that is not settled yet. */
  async #crossUncovered(loaded: Loaded, call: Call, limits: PluginLimitsResolved): Promise<string> {
    const refs = call.member >= 0 ? loaded.members[call.member]! : null;
    const timeout = { timeout: limits.cpuMs };
    const wallMs = callWallMs(limits);
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      loaded.deadlineStop = true;
      if (!loaded.isolate.isDisposed) loaded.isolate.dispose();
    }, wallMs);
    let result: string;
    const started = performance.now();
    call.ran = loaded.generation;
    try {
      this.#crossings++;
      const target = refs === null ? loaded.group! : call.take ? refs.take : refs.call;
      result = (await (target as ivm.Reference<(arg: string | number) => string>).apply(undefined, call.args, timeout)) as string;
      if (refs !== null && !call.take && result.charCodeAt(0) === 0) {
        this.#crossings++;
        const taken = (await refs.take.apply(undefined, [Number(result.slice(1))], timeout)) as string;
        if (taken.charCodeAt(0) !== 0) result = taken;
      }
    } catch (err) {
      const index = failedMember(loaded, call);
      const forget = forgetterOf(loaded, refs);
      if (forget !== null && !loaded.isolate.isDisposed) await forget.apply(undefined, [], timeout).catch(() => {});
      if (expired) {
        this.#discard(loaded);
        const name = index >= 0 ? this.members[index]!.manifest.name : this.instanceName;
        throw this.#named(new PluginFailure(name, 'deadline', `hook exceeded its ${wallMs} ms deadline (waiting for the plugin's isolate included)`), index);
      }
      throw this.#classify(err, loaded, index, limits, 0, performance.now() - started);
    } finally {
      clearTimeout(timer);
    }
    return result;
  }

  /** Which load of the host serves calls now (a crossing's `{"w": id}` entries belong to the load that answered them). */
  get generation(): number {
    return this.#loaded?.generation ?? 0;
  }

  /** Whether load `generation` still serves, with its isolate (so what a crossing parked on it can be taken). */
  serves(generation: number): boolean {
    const loaded = this.#loaded;
    return loaded !== null && loaded.generation === generation && !loaded.isolate.isDisposed;
  }

  /**
   * The answer a group's crossing left parked for a member (`{"w": id}`) on load `generation`:
   * taken synchronously when its promise settled as the crossing returned (as a member's own call
   * does), else settled. If that load is gone, the answer went with it: a 'memory' failure, as
   * an isolate lost under a pending hook gives.
   */
  takeMember(index: number, hook: 'onRequest' | 'onResponse', id: number, generation: number): string | Promise<string> {
    const loaded = this.#loaded;
    if (!loaded || loaded.generation !== generation || loaded.isolate.isDisposed) {
      return Promise.reject(this.#named(new PluginFailure(this.members[index]!.manifest.name, 'memory', "the plugin group's isolate was replaced while a hook was pending"), index));
    }
    return this.#run(loaded, { member: index, hook, args: [id], take: true });
  }

  /**
   * A member's hook returned a promise on `loaded`: wait for it, but never longer than its
   * wall-clock deadline. Code after an `await` is not covered by the CPU timeout; only disposing
   * the isolate stops it.
   */
  async #settleOn(loaded: Loaded, index: number, hook: string, id: number): Promise<string> {
    const { name } = this.members[index]!.manifest;
    const limits = this.#specs[index]!.limits;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        loaded.members[index]!.settle.apply(undefined, [id], { result: { promise: true } }) as Promise<string>,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PluginFailure(name, 'deadline', `hook ${hook} exceeded its ${limits.wallMs} ms deadline`)), limits.wallMs);
        }),
      ]);
    } catch (err) {
      throw this.#classify(err, loaded, index, limits);
    } finally {
      clearTimeout(timer);
    }
  }

  #named(failure: PluginFailure, index: number): PluginFailure {
    failure.instance = index >= 0 ? (this.#specs[index]?.instanceName ?? null) : null;
    return failure;
  }

  /**
   * What a failed call was: a limit breach, a memory kill or the isolate lost (it is discarded), or
   * the plugin's own throw (`index`: the member that ran; its source map locates the throw).
   * `callId`: the watchdog's id of the call (0: not watched); `uncoveredMs`: how long a call made
   * under isolated-vm's own timeout ran (#runUncovered), -1 for any other call.
   */
  #classify(err: unknown, loaded: Loaded, index: number, limits: PluginLimitsResolved, callId = 0, uncoveredMs = -1): PluginFailure {
    // -1: a group's crossing that failed in no member's part (its instance is then null).
    const member = Math.min(index, this.#specs.length - 1);
    const name = member >= 0 ? this.members[member]!.manifest.name : this.instanceName;
    if (err instanceof PluginFailure) {
      if (err.kind === 'deadline') loaded.deadlineStop = true;
      this.#discard(loaded);
      return this.#named(err, member);
    }
    const wallMs = callWallMs(limits);
    const stoppedFor = loaded.watched?.stoppedFor(callId) ?? null;
    if (stoppedFor !== null) {
      this.#discard(loaded);
      if (stoppedFor === 'wall') return this.#named(new PluginFailure(name, 'deadline', `hook exceeded its ${wallMs} ms deadline waiting for the plugin's isolate (its async code kept it busy)`), member);
      return this.#named(new PluginFailure(name, 'timeout', `hook exceeded its ${limits.cpuMs} ms CPU limit`), member);
    }
    const message = err instanceof Error ? err.message : String(err);
    // Another call's wall-clock stop disposed the isolate under this one (async code that kept it).
    if (loaded.isolate.isDisposed && (loaded.watched?.lastStop() === 'wall' || loaded.deadlineStop)) {
      this.#discard(loaded);
      return this.#named(new PluginFailure(name, 'deadline', `the plugin's isolate was stopped: a call waited ${wallMs} ms for it`), member);
    }
    // A stop is known by what happened to the isolate, never by the message: a plugin may throw
    // any text ("upstream timed out", "over the memory limit"), and that is its own throw, which
    // keeps its isolate. The memory limit disposes the isolate; isolated-vm's own timeout (only on
    // a call the watchdog did not cover) leaves it alive, so that one is its exact message after
    // at least the CPU limit's time.
    if (loaded.isolate.isDisposed) {
      this.#discard(loaded);
      return this.#named(new PluginFailure(name, 'memory', message), member);
    }
    if (uncoveredMs >= limits.cpuMs && message === IVM_TIMEOUT_MESSAGE) {
      this.#discard(loaded);
      return this.#named(new PluginFailure(name, 'timeout', `hook exceeded its ${limits.cpuMs} ms CPU limit`), member);
    }
    const failure = new PluginFailure(name, 'throw', message);
    if (member >= 0) failure.location = pluginLocation(this.#specs[member]!.bundle, (err as { stack?: string } | null)?.stack);
    return this.#named(failure, member);
  }

  /**
   * A hook that threw inside a group's crossing (the runner caught it and reported `{f, k}`): the
   * same PluginFailure a throw from the member's own call gives, located in its source.
   */
  groupThrow(index: number, message: string, stack: string): PluginFailure {
    const failure = new PluginFailure(this.members[index]!.manifest.name, 'throw', message);
    failure.location = pluginLocation(this.#specs[index]!.bundle, stack);
    return this.#named(failure, index);
  }

  /**
   * Release this user's hold; the last one disposes the isolate. Calls in flight then reject and
   * the host is not reloaded again.
   */
  dispose(): void {
    if (this.#disposed || --this.#users > 0) return;
    this.#disposed = true;
    if (this.#loaded) this.#discard(this.#loaded);
    if (this.#spare) release(this.#spare);
    this.#spare = null;
    this.#logger.debug({ plugin: this.instanceName }, 'plugin isolate disposed');
  }
}

/** A call into the isolate: one member's hook, or (member -1) a group's crossing over `order`. */
interface Call {
  member: number;
  hook: 'onRequest' | 'onResponse' | 'verifier';
  args: [string] | [number];
  order?: readonly number[];
  /** A member's `take` of an answer a group's crossing left parked (`args`: its id). */
  take?: boolean;
  /** The load the call last entered (set as it crosses): a crossing's parked answers belong to it. */
  ran?: number;
}

/** What a shared group's crossing answered (callGroup), and the load of the host that answered it. */
export interface GroupAnswer {
  /** The runner's JSON array of entries (GroupEntry). */
  text: string;
  /** Which load answered: its parked answers (`{"w": id}`) are taken from it (takeMember). */
  generation: number;
}

/**
 * The member a failed call was running: its own for a member's call; for a group's crossing the
 * one the runner was in when it was stopped, -1 when it failed after the runner returned.
 */
function failedMember(loaded: Loaded, call: Call): number {
  return call.member >= 0 ? call.member : (loaded.running?.[0] ?? 0) - 1;
}

/** What drops the answer a failed call parked: the member runtime's `forgetLast`, or the group runner's `forgetParked`. */
function forgetterOf(loaded: Loaded, refs: MemberRefs | null): ivm.Reference<() => void> | null {
  return refs !== null ? refs.forgetLast : loaded.groupForget;
}

/** How long a synchronous call may go on by the clock: wallMs, never less than cpuMs. */
function callWallMs(limits: PluginLimitsResolved): number {
  return Math.max(limits.wallMs, limits.cpuMs);
}

/** Stop watching an isolate and dispose it (idempotent). */
function release(loaded: Loaded): void {
  loaded.watched?.release();
  if (!loaded.isolate.isDisposed) loaded.isolate.dispose();
}

/** A number per fetch function (a test's fake): a function has no text to compare, only itself. */
const fetchFunctionIds = new WeakMap<object, number>();
let fetchFunctions = 0;

function fetchIdentity(fetch: PluginFetchSource | null): string {
  if (typeof fetch !== 'function') return JSON.stringify(fetch);
  let id = fetchFunctionIds.get(fetch);
  if (id === undefined) fetchFunctionIds.set(fetch, (id = ++fetchFunctions));
  return `function #${id}`;
}

function toMember(spec: PluginMemberSpec): Member {
  const optionsJson = JSON.stringify(spec.options ?? {});
  return { ...spec, optionsJson, identity: hostIdentity(spec.bundle, optionsJson, spec.limits, spec.fetch) };
}

/** The identity a group of these members has (PluginHost.identity), to compare before loading one. */
export function groupIdentityOf(specs: readonly PluginMemberSpec[]): string {
  return groupIdentity(specs.map(toMember));
}

/** A group's identity: its members' names and identities, in order (a reorder is a new group). */
function groupIdentity(members: readonly Member[]): string {
  const hash = createHash('sha256');
  for (const m of members) hash.update(m.instanceName).update('\0').update(m.identity).update('\0');
  return hash.digest('base64');
}

/** Same identity: same code, options, limits and fetch settings (the instance name is the map key). */
export function hostIdentity(bundle: PluginBundle, optionsJson: string, limits: PluginLimitsResolved, fetch: PluginFetchSource | null): string {
  return createHash('sha256').update(bundle.code).update('\0').update(optionsJson).update('\0').update(JSON.stringify(limits)).update('\0').update(fetchIdentity(fetch)).digest('base64');
}

export class PluginOptionsError extends Error {
  readonly issues: readonly { message: string; path: string[] }[];
  /** The plugin's own name (its manifest's), when it got as far as registering. */
  readonly plugin: string | undefined;
  constructor(issues: { message: string; path: string[] }[], plugin?: string) {
    super(issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; '));
    this.name = 'PluginOptionsError';
    this.issues = issues;
    this.plugin = plugin;
  }
}
