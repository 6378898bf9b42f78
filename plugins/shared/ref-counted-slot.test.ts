import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RefCountedSlot } from './ref-counted-slot.ts';

/** A value that records its closing; `close` settles only when `finish` is called, when asked. */
function counted(slow = false) {
  const made: { closed: number; finish: () => void }[] = [];
  const slot = new RefCountedSlot(() => {
    let finish = () => {};
    const value = {
      closed: 0,
      finish: () => finish(),
      close: () => {
        value.closed++;
        return slow ? new Promise<void>((resolve) => (finish = resolve)) : undefined;
      },
    };
    made.push(value);
    return value;
  });
  return { slot, made };
}

describe('RefCountedSlot', () => {
  it('opens one value for all its users and closes it with the last release, once', () => {
    const { slot, made } = counted();
    assert.equal(slot.acquire(), slot.acquire());
    assert.equal(made.length, 1);
    slot.release();
    assert.equal(made[0]!.closed, 0, 'still held');
    slot.release();
    assert.equal(made[0]!.closed, 1);
    assert.equal(slot.current, null);
    slot.release(); // one too many: ignored
    assert.equal(made[0]!.closed, 1);
  });

  it('a reload that acquires before it releases keeps the value', () => {
    const { slot, made } = counted();
    const old = slot.acquire();
    const next = slot.acquire(); // the new routing table
    slot.release(); // the old one retires
    assert.equal(next, old);
    assert.equal(made[0]!.closed, 0);
  });

  it('close() closes what users still hold, waits for it, and starts the count afresh', async () => {
    const { slot, made } = counted(true);
    slot.acquire();
    slot.acquire();
    let closed = false;
    const closing = slot.close().then(() => (closed = true));
    await Promise.resolve();
    assert.equal(closed, false, 'waits for the value to close');
    made[0]!.finish();
    await closing;
    assert.equal(made[0]!.closed, 1);
    assert.equal(slot.users, 0);
    // Used again afterwards: a fresh value, closed by its own last release (the old count would keep it open forever).
    const again = slot.acquire();
    assert.notEqual(again, made[0]);
    slot.release();
    assert.equal(made[1]!.closed, 1);
    slot.release(); // the users close() forgot: ignored
    assert.equal(made[1]!.closed, 1);
  });
});
