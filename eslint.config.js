// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const BORN_OLD_MESSAGE =
  'Do not assign a function literal straight to a property: V8 allocates it in old space until TurboFan compiles this function, and even once dead it keeps its context alive through scavenges until the next full GC. Bind it to a const first, return it from a function, or use a method or class field.';

/** `obj.f = () => …` and `obj.f = function …`, also through `??=`, `||=`, `&&=` and TypeScript's type wrappers. */
function bornOldClosureSelectors() {
  const fn = ':matches(ArrowFunctionExpression, FunctionExpression)';
  const wrap = ':matches(TSAsExpression, TSSatisfiesExpression, TSTypeAssertion, TSNonNullExpression)';
  const target = "AssignmentExpression:matches([left.type='MemberExpression'], [left.expression.type='MemberExpression'])";
  return [`${target} > ${fn}.right`, `${target} > ${wrap}.right > ${fn}.expression`, `${target} > ${wrap}.right > ${wrap}.expression > ${fn}.expression`];
}

const IVM_MESSAGE =
  "Import it from runtime/src/isolate/isolated-vm.ts: loaded directly, a process can abort at its natural exit (isolated-vm's weak callbacks run after its cleanup hook), and process.exit() can crash or hang under isolates still running code.";

/**
 * `import('isolated-vm')` (also as a template literal, and its subpaths) and `require(…)`, which
 * no-restricted-imports does not see. (Not caught: a name computed at run time, createRequire.)
 */
const IVM_DYNAMIC_SELECTORS = [
  'ImportExpression[source.value=/^isolated-vm($|\\/)/]',
  'ImportExpression > TemplateLiteral.source[quasis.0.value.raw=/^isolated-vm($|\\/)/]',
  "CallExpression[callee.name='require'][arguments.0.value=/^isolated-vm($|\\/)/]",
];

export default tseslint.config(
  // .package: the built packages (npm run build), compiled JavaScript.
  { ignores: ['**/node_modules/**', 'coverage/**', '**/.tmp-*/**', '**/.package/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly' } },
    rules: {
      // `usePlugin<typeof import('./plugin.ts')>` is how configs type plugin options without loading them.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Loading isolated-vm through the runtime's module is what makes exiting safe (a full GC before
    // Node tears the main isolate down, every isolate disposed in 'exit'; see the module). Only
    // it, and the fixture that reproduces the crash without it, load the package itself.
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    ignores: ['runtime/src/isolate/isolated-vm.ts', 'runtime/src/isolate/fixtures/ivm-garbage-at-exit.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'isolated-vm', message: IVM_MESSAGE }], patterns: [{ group: ['isolated-vm/*'], message: IVM_MESSAGE }] }],
      // The block below sets this rule again for the code on the hot path, selectors included
      // (a later block's options replace an earlier one's).
      'no-restricted-syntax': ['error', ...IVM_DYNAMIC_SELECTORS.map((selector) => ({ selector, message: IVM_MESSAGE }))],
    },
  },
  {
    // Code that runs per request or per hook call.
    files: ['runtime/src/**/*.ts', 'plugins/**/*.ts', 'sdk/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      // V8's parser marks a function literal assigned straight to a property (`obj.f = () => …`)
      // for old-space allocation; until TurboFan compiles the enclosing function, each such
      // closure is born old and, dead, keeps its young context (a whole request) alive through
      // every scavenge until the next full GC. Measured: megabytes promoted per scavenge and
      // 20-50 ms pauses (runtime/src/gateway.ts, reportSent; test/e2e/proxy/promotion.test.ts).
      // Type wrappers (`as`, `satisfies`, `!`, `<T>`) are stripped before V8 sees the code, so
      // `obj.f = (() => …) as F` is the same assignment.
      'no-restricted-syntax': [
        'error',
        ...bornOldClosureSelectors().map((selector) => ({ selector, message: BORN_OLD_MESSAGE })),
        ...IVM_DYNAMIC_SELECTORS.map((selector) => ({ selector, message: IVM_MESSAGE })),
      ],
    },
  },
);
