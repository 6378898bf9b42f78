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

/** Where a limit stopped a crossing: the member running (a position in the run) and its failure. */
interface Stopped {
  at: number;
  failure: PluginFailure;
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

  /** Which position of `order` a crossing's failure names (the member running when it was stopped). */
  const stoppedAt = (err: unknown, order: readonly number[]): Stopped => {
    const failure = err instanceof PluginFailure ? err : new PluginFailure(steps[order[0]!]!.name, 'throw', String(err));
    const at = order.find((j) => run[j]!.instanceName === failure.instance) ?? order[0]!;
    return { at, failure };
  };

  /** One crossing over `order`: the members' entries, or where a limit stopped it. */
  const cross = async (req: GatewayRequest, hook: 'onRequest' | 'onResponse', order: readonly number[], res?: GatewayResponse): Promise<GroupEntry[] | Stopped> => {
    const input = encodeRequest(req, null);
    if (res) input['rs'] = { st: res.status };
    const done = req.instruments === null ? null : startHook(req, label(order), hook);
    try {
      const raw = host.callGroup(
        order.map((j) => memberIndex[j]!),
        hook,
        JSON.stringify(input),
        JSON.stringify(req.headers),
        res ? JSON.stringify(res.headers) : undefined,
      );
      const entries = JSON.parse(typeof raw === 'string' ? raw : await raw) as GroupEntry[];
      const failed = entries.find((e) => e.f !== undefined);
      done?.(failed ? 'throw' : undefined);
      // Never empty (the runner answers for the first member at least): guard the loops below anyway.
      if (entries.length === 0) return stoppedAt(new PluginFailure(steps[order[0]!]!.name, 'bad-result', 'the shared group answered nothing'), order);
      return entries;
    } catch (err) {
      done?.(failureKind(err));
      return stoppedAt(err, order);
    }
  };

  /** A member's answer from an entry: its output, a pending hook settled, or its throw. */
  const answerOf = async (entry: GroupEntry, j: number, hook: HookName): Promise<HookOutput> => {
    if (entry.f !== undefined) throw host.groupThrow(memberIndex[j]!, entry.f, entry.k ?? '');
    if (entry.w !== undefined) return JSON.parse(await host.settleMember(memberIndex[j]!, hook, entry.w)) as HookOutput;
    return entry as HookOutput;
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
      const entries = await cross(req, 'onRequest', order);
      if (!Array.isArray(entries)) {
        // The members before the stopped one run again on the replacement isolate.
        stopped = entries;
        continue;
      }
      for (let k = 0; k < entries.length; k++) {
        const j = order[k]!;
        try {
          const early = steps[j]!.applyRequestOutput(req, await answerOf(entries[k]!, j, 'onRequest'), null);
          if (early) return { answer: early, entered: j };
        } catch (err) {
          const answer = steps[j]!.failed(err, 'onRequest', req);
          if (answer) return { answer, entered: j };
        }
      }
      from = order[entries.length - 1]! + 1;
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
      const entries = await cross(req, 'onResponse', order, res);
      if (!Array.isArray(entries)) {
        stopped = entries;
        continue;
      }
      for (let k = 0; k < entries.length; k++) {
        const j = order[k]!;
        try {
          steps[j]!.applyResponseOutput(req, res, await answerOf(entries[k]!, j, 'onResponse'));
        } catch (err) {
          replace(steps[j]!.failed(err, 'onResponse', req));
        }
      }
      from = order[entries.length - 1]! - 1;
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
