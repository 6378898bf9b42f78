import path from 'node:path';

/**
 * The environment of a newcomer's terminal: PATH without node_modules/.bin (so `npm` runs on the
 * machine's Node, and npm and npx add node_modules/.bin themselves), and none of what a surrounding
 * `npm test` or the test runner put there (npm_* variables, NODE_TEST_CONTEXT, NODE_OPTIONS).
 */
export function terminalEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) && name !== 'NODE_TEST_CONTEXT' && name !== 'NODE_OPTIONS') env[name] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(path.delimiter)
    .filter((dir) => !dir.split(path.sep).includes('node_modules'))
    .join(path.delimiter);
  return { ...env, ...extra };
}
