// The pattern behind the GC pile-up fixed in Gateway.handle (see `reportSent` in
// runtime/src/gateway.ts), in plain JavaScript: a function builds a request and a response, leaves
// on the response an arrow that reads both, and the arrow is called a moment later. V8's parser
// marks a function literal assigned straight to a property (`res.onSent = (o) => …`, "inline")
// for old-space allocation, and the interpreter, Sparkplug and Maglev honour that (TurboFan does
// not): each dead closure in old space then keeps its young context, the whole request, alive
// through every scavenge until the next full GC, and scavenges promote it. The same arrow bound
// to a const before the assignment ("bound") or returned by a function ("factory") is allocated
// young. Bytes promoted by minor GCs per request (v8.GCProfiler), one child per variant, 50
// requests in flight, with --no-opt --no-maglev (no TurboFan, so the mark is honoured throughout).
//
// Usage: node bench/closure-promotion.ts   (prints one JSON line per variant)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import v8 from 'node:v8';
import { minorGcPromotion } from './minor-gc-promotion.ts';

interface Res {
  status: number;
  body: number[];
  onSent?: (outcome: number) => void;
}

const REQUESTS = 200_000;
const IN_FLIGHT = 50;

const factory = (notify: (status: number, outcome: number) => void, res: Res) => (outcome: number) => notify(res.status, outcome);

type Variant = 'inline' | 'bound' | 'factory';
const VARIANTS: readonly Variant[] = ['inline', 'bound', 'factory'];

function handle(i: number, variant: Variant): Res {
  const req = { id: i, path: `/users/${i}`, headers: new Array<number>(64).fill(i), done: 0 };
  const res: Res = { status: 200, body: new Array<number>(64).fill(0) };
  const notify = (status: number, outcome: number): void => {
    req.done = status + outcome;
  };
  if (variant === 'inline') {
    res.onSent = (outcome) => notify(res.status, outcome);
  } else if (variant === 'bound') {
    const onSent = (outcome: number): void => notify(res.status, outcome);
    res.onSent = onSent;
  } else {
    res.onSent = factory(notify, res);
  }
  return res;
}

async function measure(variant: Variant): Promise<{ variant: string; promotedPerRequest: number; minorGcs: number }> {
  const profiler = new v8.GCProfiler();
  profiler.start();
  let sent = 0;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const pump = (): void => {
      while (inFlight < IN_FLIGHT && sent < REQUESTS) {
        inFlight++;
        const res = handle(++sent, variant);
        setImmediate(() => {
          res.onSent!(1);
          inFlight--;
          if (sent === REQUESTS && inFlight === 0) resolve();
        });
      }
      if (sent < REQUESTS) setImmediate(pump);
    };
    pump();
  });
  const { bytes, minorGcs } = minorGcPromotion(profiler.stop().statistics);
  return { variant, promotedPerRequest: Math.round(bytes / REQUESTS), minorGcs };
}

const variant = VARIANTS.find((v) => v === process.argv[2]);
if (variant !== undefined) {
  process.stdout.write(`${JSON.stringify(await measure(variant))}\n`);
} else {
  for (const v of VARIANTS) {
    const child = fork(import.meta.filename, [v], { execArgv: ['--no-opt', '--no-maglev'] });
    await once(child, 'exit');
  }
}
