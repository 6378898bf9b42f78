import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CPU_CLOCK_ANSWERED, CPU_CLOCK_FAILED, CPU_CLOCK_NS_BYTE_OFFSET, CPU_CLOCK_REQUESTED, type CpuClockWorkerData } from './hook-thread-cpu-clock.ts';

// The reader thread of hook-thread-cpu-clock.ts: asleep until the watchdog asks, then one read of
// the hook thread's schedstat (its first field is the time on CPU, in ns). Its event loop never
// runs again after the first answer, which is all it needs: it only answers through the buffer.
const { buffer, file } = workerData as CpuClockWorkerData;
const cells = new Int32Array(buffer, 0, 3);
const cpuNs = new BigInt64Array(buffer, CPU_CLOCK_NS_BYTE_OFFSET, 1);

function readCpuNs(): bigint {
  const text = readFileSync(file, 'latin1');
  return BigInt(text.slice(0, text.indexOf(' ')));
}

try {
  readCpuNs();
  // Read before saying so: a request made right after 'ready' must find the loop still owing it.
  let answered = Atomics.load(cells, CPU_CLOCK_REQUESTED);
  parentPort!.postMessage('ready');
  for (;;) {
    Atomics.wait(cells, CPU_CLOCK_REQUESTED, answered);
    // One reading answers every request made before it was taken.
    const request = Atomics.load(cells, CPU_CLOCK_REQUESTED);
    Atomics.store(cpuNs, 0, readCpuNs());
    Atomics.store(cells, CPU_CLOCK_ANSWERED, request);
    Atomics.notify(cells, CPU_CLOCK_ANSWERED);
    answered = request;
  }
} catch (err) {
  Atomics.store(cells, CPU_CLOCK_FAILED, 1);
  Atomics.notify(cells, CPU_CLOCK_ANSWERED);
  throw err;
}
