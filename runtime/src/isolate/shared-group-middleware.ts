import type { Logger } from 'pino';
import type { HookOutput } from '@isogate/sdk/internal/hook-wire';
import type { GatewayRequest, GatewayResponse, Middleware } from '../chain/types.ts';
import { discardBody } from '../chain/discard-body.ts';
import { startHook, type HookName } from '../chain/instruments.ts';
import { encodeRequest, failureKind, hookBodies, pluginSteps, type PluginSteps } from './plugin-middleware.ts';
import { PluginFailure, type PluginHost } from './plugin-host.ts';
import type { GroupEntry } from './shared-group-runner.ts';

/** One instance of the run, in chain order. */
export interface SharedRunMember {
  instanceName: string;
  failurePolicy: 'fail-closed' | 'fail-open';
}

/**
 * Whether a member's hooks can share a crossing: neither of its hooks takes a body (a body is
 * buffered and handed over by the member's own middleware, one crossing per hook as before).
 */
export function crossesShared(host: PluginHost, instanceName: string): boolean {
  const { requestKind, responseKind } = hookBodies(host.member(instanceName).manifest);
  return requestKind === null && responseKind === null;
}

/**
 * Where a limit stopped a crossing: the member running (a position in the run) and its failure;
 * `at` -1 when it failed after its members had run (their promise jobs, an unhandled rejection).
 */
interface Stopped {
  at: number;
  failure: PluginFailure;
}

/** What a crossing answered: the members' entries, and the load of the host that answered them. */
interface Crossed {
  entries: GroupEntry[];
  generation: number;
}

/**
 * Consecutive members of one shared plugin group on a route, as one chain middleware: their
 * `onRequest` hooks run in one crossing into the group's isolate, then `next`, then their
 * `onResponse` hooks (innermost first) in one crossing. The result is the one the members would
 * give as consecutive middlewares: each member's answer is applied with its own steps (the same
 * code as its own middleware's), in order; a member that answers directly, fails closed or fails
 * open is handled by its own policy; the members before one that answered see its answer in their
 * `onResponse`, as they would. The group's runner ends a crossing wherever the next member could
 * not be shown the request as the host will have it (shared-group-runner.ts), and the middleware
 * goes on from there with another crossing.
 *
 * A limit breach or memory kill stops the whole isolate: what the members before the stopped one
 * answered in that crossing is lost with it, so they run again on the replacement (their state was
 * lost too: the group restarted), then the stopped member's policy applies, then the rest run.
 *
 * Instruments see one hook call per crossing, named by the members it ran (`a+b+c`), since the
 * members' hooks run in it together; a member's failure is its own `plugin-error` event and log
 * line, as always.
 */
export function createSharedGroupMiddleware(host: PluginHost, run: readonly SharedRunMember[], logger: Logger): Middleware {
  const steps: PluginSteps[] = run.map((m) => pluginSteps(host.member(m.instanceName), m.instanceName, m.failurePolicy, logger));
  const memberIndex = run.map((m) => host.member(m.instanceName).index);
  const count = run.length;

  /** The positions from `from` towards `end` (exclusive, either direction) whose member has the hook. */
  const positions = (from: number, end: number, hook: 'onRequest' | 'onResponse'): number[] => {
    const out: number[] = [];
    const step = from <= end ? 1 : -1;
    for (let j = from; j !== end; j += step) if (hook === 'onRequest' ? steps[j]!.hasRequest : steps[j]!.hasResponse) out.push(j);
    return out;
  };

  const label = (order: readonly number[]) => order.map((j) => run[j]!.instanceName).join('+');

  /** Which position of `order` a crossing's failure names (the member running when it was stopped), -1 for none. */
  const stoppedAt = (err: unknown, order: readonly number[]): Stopped => {
    const failure = err instanceof PluginFailure ? err : new PluginFailure(steps[order[0]!]!.name, 'throw', String(err));
    if (failure.instance === null) return { at: -1, failure };
    const at = order.find((j) => run[j]!.instanceName === failure.instance) ?? order[0]!;
    return { at, failure };
  };

  /** The hook message (onResponse: with the response's status). */
  const messageOf = (req: GatewayRequest, res?: GatewayResponse): string => {
    const input = encodeRequest(req, null);
    if (res) input['rs'] = { st: res.status };
    return JSON.stringify(input);
  };

  /** One crossing over `order`: the members' entries, or where a limit stopped it. */
  const cross = async (req: GatewayRequest, hook: 'onRequest' | 'onResponse', order: readonly number[], res?: GatewayResponse): Promise<Crossed | Stopped> => {
    const done = req.instruments === null ? null : startHook(req, label(order), hook);
    try {
      const raw = host.callGroup(
        order.map((j) => memberIndex[j]!),
        hook,
        messageOf(req, res),
        JSON.stringify(req.headers),
        res ? JSON.stringify(res.headers) : undefined,
      );
      const { text, generation } = raw instanceof Promise ? await raw : raw;
      const entries = JSON.parse(text) as GroupEntry[];
      done?.(entries.some((e) => e.f !== undefined) ? 'throw' : undefined);
      // The runner answers one entry per member it ran, at least one: anything else is no
      // member's answer, and the members run again one by one.
      if (!Array.isArray(entries) || entries.length === 0 || entries.length > order.length) return { at: -1, failure: new PluginFailure(host.instanceName, 'bad-result', 'the shared group answered a crossing with something else') };
      return { entries, generation };
    } catch (err) {
      done?.(failureKind(err));
      return stoppedAt(err, order);
    }
  };

  /** A member's hook in a crossing of its own (after a crossing failed in no member's part). */
  const alone = async (req: GatewayRequest, j: number, hook: HookName, res?: GatewayResponse): Promise<HookOutput> => {
    const raw = host.callMember(memberIndex[j]!, hook, messageOf(req, res), JSON.stringify(req.headers), res ? JSON.stringify(res.headers) : undefined);
    return JSON.parse(typeof raw === 'string' ? raw : await raw) as HookOutput;
  };

  /**
   * A member's answer from an entry: its output, a parked async hook's answer, or its throw. A
   * parked answer went with its load if another request's limit breach restarted the group
   * before it was taken: the member then runs again alone, on the load that serves now, as the
   * members before a stopped one do (its state went with the restart; a `ctx.fetch` its first
   * run made has gone out).
   */
  const answerOf = async (req: GatewayRequest, crossed: Crossed, k: number, j: number, hook: 'onRequest' | 'onResponse', res?: GatewayResponse): Promise<HookOutput> => {
    const entry = crossed.entries[k]!;
    if (entry.f !== undefined) throw host.groupThrow(memberIndex[j]!, entry.f, entry.k ?? '');
    if (entry.w !== undefined) {
      if (!host.serves(crossed.generation)) return alone(req, j, hook, res);
      return JSON.parse(await host.takeMember(memberIndex[j]!, hook, entry.w, crossed.generation)) as HookOutput;
    }
    return entry as HookOutput;
  };

  /**
   * The answers for `order` after a crossing: its entries in order, or (it failed in no member's
   * part: the failure cannot be pinned on one) each member called alone, as in isolates of their
   * own; their hooks have then run twice for this request where the isolate was kept.
   */
  const answers = (req: GatewayRequest, crossed: Crossed | Stopped, order: readonly number[], hook: 'onRequest' | 'onResponse', res?: () => GatewayResponse) => {
    if ('entries' in crossed) return { count: crossed.entries.length, get: (k: number) => answerOf(req, crossed, k, order[k]!, hook, res?.()) };
    return { count: order.length, get: (k: number) => alone(req, order[k]!, hook, res?.()) };
  };

  /**
   * The onRequest hooks, in chain order: an answer (direct, or a failure's) and how many members
   * passed the request on (those see the response).
   */
  const requestPhase = async (req: GatewayRequest): Promise<{ answer: GatewayResponse | null; entered: number }> => {
    let from = 0;
    let stopped: Stopped | null = null;
    while (from < count) {
      const order = positions(from, stopped ? stopped.at : count, 'onRequest');
      if (order.length === 0) {
        if (stopped === null) break;
        const answer = steps[stopped.at]!.failed(stopped.failure, 'onRequest', req);
        if (answer) return { answer, entered: stopped.at };
        from = stopped.at + 1;
        stopped = null;
        continue;
      }
      const crossed = await cross(req, 'onRequest', order);
      if ('at' in crossed && crossed.at >= 0) {
        // The members before the stopped one run again on the replacement isolate.
        stopped = crossed;
        continue;
      }
      const { count: answered, get } = answers(req, crossed, order, 'onRequest');
      for (let k = 0; k < answered; k++) {
        const j = order[k]!;
        try {
          const early = steps[j]!.applyRequestOutput(req, await get(k), null);
          if (early) return { answer: early, entered: j };
        } catch (err) {
          const answer = steps[j]!.failed(err, 'onRequest', req);
          if (answer) return { answer, entered: j };
        }
      }
      from = order[answered - 1]! + 1;
    }
    return { answer: null, entered: count };
  };

  /** The onResponse hooks of the members that passed the request on, innermost first. */
  const responsePhase = async (req: GatewayRequest, first: GatewayResponse, entered: number): Promise<GatewayResponse> => {
    let res = first;
    let from = entered - 1;
    let stopped: Stopped | null = null;
    const replace = (answer: GatewayResponse | null) => {
      if (!answer) return;
      discardBody(res.body);
      res = answer;
    };
    while (from >= 0) {
      const order = positions(from, stopped ? stopped.at : -1, 'onResponse');
      if (order.length === 0) {
        if (stopped === null) break;
        replace(steps[stopped.at]!.failed(stopped.failure, 'onResponse', req));
        from = stopped.at - 1;
        stopped = null;
        continue;
      }
      const crossed = await cross(req, 'onResponse', order, res);
      if ('at' in crossed && crossed.at >= 0) {
        stopped = crossed;
        continue;
      }
      const { count: answered, get } = answers(req, crossed, order, 'onResponse', () => res);
      for (let k = 0; k < answered; k++) {
        const j = order[k]!;
        try {
          steps[j]!.applyResponseOutput(req, res, await get(k));
        } catch (err) {
          replace(steps[j]!.failed(err, 'onResponse', req));
        }
      }
      from = order[answered - 1]! - 1;
    }
    return res;
  };

  return (next) =>
    async function sharedGroup(req: GatewayRequest): Promise<GatewayResponse> {
      const { answer, entered } = await requestPhase(req);
      const res = answer ?? (await next(req));
      if (res.upgradeSocket || entered === 0) return res;
      return responsePhase(req, res, entered);
    };
}
