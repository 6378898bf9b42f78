import type { headerRules } from '@isogate/sdk/internal/hook-wire';

/** The hook runtime's entry points the runner calls, one per member (each lives in its member's context). */
interface MemberRuntime {
  call(hook: string, input: string, requestHeaders: string, responseHeaders?: string, requestOps?: string, responseOps?: string): unknown;
  forgetLast(): void;
}

/**
 * Where a shared group's crossing ends and what each member answered, as the runner returns it:
 * a JSON array with one entry per member that ran, in the order they ran. An entry is the
 * member's hook answer as the hook runtime wrote it (a HookOutput), `{"w": id}` for an async
 * hook (the host takes or settles its answer), or `{"f": message, "k": stack}` for a hook that
 * threw (or whose runtime answered something that is not a JSON object).
 * @example
 * JSON.parse('[{"h":[["s","x-a","1"]]},{"w":3}]') as GroupEntry[];
 */
export type GroupEntry = Record<string, unknown> & { w?: number; f?: string; k?: string };

/**
 * The runner of a shared plugin group: evaluated in the group's own context (no plugin code runs
 * there, and no plugin can reach it), it calls consecutive members' hooks within one crossing
 * from the host. Self-contained like `createHookRuntime`: its text is what the isolate runs.
 *
 * Each member must see the request as the host will have it after the members before it, so the
 * runner applies, between two members, exactly what the host applies the same way: the state,
 * header changes (checked by the host's own rules, `headerRules`, and handed to the next member's
 * runtime as operations on top of the headers the host sent) and, for onResponse, the status. A
 * member that answered anything else (a direct response, a new path or query, a body, header
 * changes the host would refuse), that threw, or whose hook is async ends the crossing after
 * itself: the host applies what came back, in order, and goes on from the next
 * member with a new crossing. So a chain of members that only set headers and state costs one
 * crossing, and every other case costs what it cost with one isolate per plugin.
 *
 * `running[0]` names the member running (its index plus one; 0 between crossings): after the
 * watchdog or the memory limit stopped the isolate, the host reads which member it was. Once
 * `attach`ed to the isolate's watchdog slot, each member's part of a crossing is judged by that
 * member's own CPU and wall-clock limits (`limits`, by member), from its own start.
 * @example
 * // in the group context: globalThis.__isogateGroup = createGroupRunner(members, running, headerRules);
 */
export function createGroupRunner(
  members: readonly MemberRuntime[],
  running: Int32Array,
  rulesFactory: typeof headerRules,
  limits: readonly (readonly [cpuMs: number, wallMs: number])[],
): { run: (packed: string) => string; forgetParked: () => void; attach: (cells: SharedArrayBuffer, at: number, cpu: number, wall: number, part: number) => void } {
  const { applyHeaderOps, acceptedStatus } = rulesFactory();
  const invalid = (message: string) => new Error(message);
  /** The watchdog's slot of this isolate (hook-watchdog.ts), once attached; null: the crossing is judged as a whole. */
  let slot: { cells: Int32Array; cpu: number; wall: number; part: number } | null = null;
  /** The member whose async hook the last crossing parked (an answer the host takes later), -1: none. */
  let parked = -1;

  /**
   * A member starts: from here the watchdog judges the call by this member's limits, from its own
   * start (a new part), so a member in a crossing keeps the limits it has alone. The part first:
   * the loop may read old limits against the new part's start (harmless), never new limits
   * against the previous member's time.
   */
  function startPart(cpuMs: number, wallMs: number): void {
    if (slot === null) return;
    Atomics.add(slot.cells, slot.part, 1);
    Atomics.store(slot.cells, slot.cpu, cpuMs);
    Atomics.store(slot.cells, slot.wall, wallMs);
  }

  function failure(err: unknown): string {
    // Whatever a plugin threw: reading it may run its code (a getter), which may throw again.
    let message = 'hook threw';
    let stack = '';
    try {
      const e = err as { message?: unknown; stack?: unknown } | null;
      message = String(e !== null && typeof e === 'object' ? e.message : e);
      stack = e !== null && typeof e === 'object' && typeof e.stack === 'string' ? e.stack : '';
    } catch {
      // keep the defaults
    }
    return JSON.stringify({ f: message, k: stack });
  }

  /** Header operations so far, as one JSON array's text (undefined: none yet). */
  function joinOps(so: string | undefined, more: unknown[]): string | undefined {
    if (more.length === 0) return so;
    const text = JSON.stringify(more);
    return so === undefined ? text : `${so.slice(0, -1)},${text.slice(1)}`;
  }

  /**
   * `packed`: the hook's name, the members to run (indices, comma-separated, in order), the
   * lengths of the message and of the request headers, each ended by U+0000, then the message,
   * the request headers and (onResponse) the response headers back to back.
   */
  function runGroup(packed: string): string {
    let at = packed.indexOf('\u0000');
    const hook = packed.slice(0, at);
    let next = packed.indexOf('\u0000', at + 1);
    const order = packed.slice(at + 1, next).split(',').map(Number);
    at = next;
    next = packed.indexOf('\u0000', at + 1);
    const messageLength = Number(packed.slice(at + 1, next));
    at = next;
    next = packed.indexOf('\u0000', at + 1);
    const headersLength = Number(packed.slice(at + 1, next));
    let message = packed.slice(next + 1, next + 1 + messageLength);
    const requestHeaders = packed.slice(next + 1 + messageLength, next + 1 + messageLength + headersLength);
    const response = hook === 'onResponse';
    const responseHeaders = response ? packed.slice(next + 1 + messageLength + headersLength) : undefined;
    // The header changes of the members before, as JSON text: the next member's runtime applies
    // them when its hook first reads the headers, so a chain of hooks that only write headers
    // never parses or re-encodes the header map (measured: ~1 µs per member when it did).
    let requestOps: string | undefined;
    let responseOps: string | undefined;
    const answers: string[] = [];
    parked = -1;
    // The largest limits of the members that ran: see the `finally` below.
    let cpuMs = 0;
    let wallMs = 0;
    try {
      for (const index of order) {
        const member = members[index]!;
        running[0] = index + 1;
        const [memberCpuMs, memberWallMs] = limits[index]!;
        startPart(memberCpuMs, memberWallMs);
        cpuMs = Math.max(cpuMs, memberCpuMs);
        wallMs = Math.max(wallMs, memberWallMs);
        let answer: unknown;
        let out: Record<string, unknown>;
        try {
          answer = member.call(hook, message, requestHeaders, responseHeaders, requestOps, responseOps);
          // The member's runtime shares its context with the plugin, which can replace what the
          // runtime calls: only a string that parses here, as one JSON object, is an answer.
          if (typeof answer !== 'string') throw new TypeError('the hook runtime answered something that is not text');
          if (answer.charCodeAt(0) === 0) {
            // An async hook: its promise jobs only run once the whole crossing returns, so the
            // host takes (or settles) it, then goes on with the next member. The id is the
            // runtime's, which the plugin can replace: only a positive integer is one.
            const id = Number(answer.slice(1));
            if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError('the hook runtime answered an async marker without an id');
            answers.push(`{"w":${id}}`);
            parked = index;
            break;
          }
          out = JSON.parse(answer) as Record<string, unknown>;
          if (out === null || typeof out !== 'object' || Array.isArray(out)) throw new TypeError('the hook runtime answered something that is not an object');
        } catch (err) {
          try {
            member.forgetLast();
          } catch {
            // nothing parked
          }
          answers.push(failure(err));
          break;
        }
        answers.push(answer);
        if (out['r'] !== undefined || out['p'] !== undefined || out['q'] !== undefined || out['b'] !== undefined || out['rb'] !== undefined) break;
        try {
          // Validated as the host will (applied to nothing: the next runtime applies them). The
          // request's headers only change in onRequest: the host ignores them in onResponse.
          if (out['h'] && !response) requestOps = joinOps(requestOps, applyHeaderOps({}, out['h'] as never, invalid) && (out['h'] as unknown[]));
          if (out['rh'] && response) responseOps = joinOps(responseOps, applyHeaderOps({}, out['rh'] as never, invalid) && (out['rh'] as unknown[]));
        } catch {
          break; // the host refuses them too, and decides by the member's failure policy
        }
        const state = out['s'] as Record<string, unknown> | undefined;
        if (state || (response && acceptedStatus(out['st']))) {
          const fields = JSON.parse(message) as Record<string, unknown>;
          // As the host encodes it (requestMessage): no state field when the state is empty.
          if (state && Object.keys(state).length > 0) fields['s'] = state;
          else if (state) delete fields['s'];
          if (response && acceptedStatus(out['st'])) (fields['rs'] as { st: number }).st = out['st'];
          message = JSON.stringify(fields);
        }
      }
    } finally {
      // 0: whatever fails from here on (promise jobs and unhandled rejections run when the whole
      // crossing returns) is no member's in particular; the host runs the members again one by
      // one, each under its own limits. Until then the jobs are judged by the largest limits of
      // the members that ran, in a part of their own: never by one member's (the last one's
      // limits would stop another's job that is within its own, on every request, or let it run
      // past them), and never longer than some member may run.
      running[0] = 0;
      if (cpuMs > 0) startPart(cpuMs, wallMs);
    }
    return `[${answers.join(',')}]`;
  }

  /**
   * The host calls this after a crossing failed once the runner had returned (promise jobs, an
   * unhandled rejection) and the isolate was kept: the answer the crossing parked for an async
   * member would never be taken, and would stay in the member's runtime for good.
   */
  function forgetParked(): void {
    const index = parked;
    parked = -1;
    if (index < 0) return;
    try {
      members[index]!.forgetLast();
    } catch {
      // nothing parked any more
    }
  }

  return {
    run: runGroup,
    forgetParked,
    attach(cells, at, cpu, wall, part) {
      const view = new Int32Array(cells);
      slot = { cells: view, cpu: at + cpu, wall: at + wall, part: at + part };
    },
  };
}
