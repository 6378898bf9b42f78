import assert from 'node:assert/strict';
import { it } from 'node:test';
import { env, MissingEnvError } from './env.ts';

it('env() reads a variable, falls back, and refuses a missing or empty one without a fallback', () => {
  process.env['ISOGATE_SDK_TEST'] = 'value';
  assert.equal(env('ISOGATE_SDK_TEST'), 'value');
  process.env['ISOGATE_SDK_TEST'] = '';
  assert.equal(env('ISOGATE_SDK_TEST', 'fallback'), 'fallback');
  assert.throws(() => env('ISOGATE_SDK_TEST'), (err: unknown) => err instanceof MissingEnvError && err.code === 'ISOGATE_ERR_CONFIG_ENV' && /ISOGATE_SDK_TEST is not set/.test(err.message));
  delete process.env['ISOGATE_SDK_TEST'];
});
