import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayEvent } from './builtin-plugin.ts';
import { GatewayServices } from './gateway-services.ts';

describe('GatewayServices events', () => {
  it("a listener that subscribes late first hears each origin's present circuit state, as a report (previous: null)", () => {
    const services = new GatewayServices();
    services.emit({ type: 'upstream-circuit', upstream: 'http://a', state: 'closed', previous: null });
    services.emit({ type: 'upstream-circuit', upstream: 'http://a', state: 'open', previous: 'closed' });
    services.emit({ type: 'upstream-circuit', upstream: 'http://b', state: 'closed', previous: null });
    services.emit({ type: 'config-reload', result: 'success' });
    const heard: GatewayEvent[] = [];
    services.onEvent((e) => heard.push(e));
    assert.deepEqual(heard, [
      { type: 'upstream-circuit', upstream: 'http://a', state: 'open', previous: null },
      { type: 'upstream-circuit', upstream: 'http://b', state: 'closed', previous: null },
    ]);
    services.emit({ type: 'upstream-circuit', upstream: 'http://b', state: 'open', previous: 'closed' });
    assert.deepEqual(heard.at(-1), { type: 'upstream-circuit', upstream: 'http://b', state: 'open', previous: 'closed' });
  });
});
