/**
 * The Standard Schema interface (https://standardschema.dev), which zod, valibot and arktype
 * implement. A plugin declares its options with any such schema; Isogate validates options with
 * it inside the plugin's isolate, and TypeScript infers the option types from it.
 * Declared here (types only) so the SDK has no runtime dependency.
 * @example
 * const schema: StandardSchemaV1<{ name: string }> = z.object({ name: z.string() });
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/**
 * What a schema's `validate` returns: the validated value, or the issues that made it fail.
 * @example
 * const result: StandardResult<{ port: number }> = await schema['~standard'].validate({ port: 8080 });
 * if (result.issues) throw new Error(result.issues.map((issue) => issue.message).join('; '));
 */
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardIssue[] };

/**
 * One validation failure: a message and, when known, the path to the offending value.
 * @example
 * const issue: StandardIssue = { message: 'expected a string', path: ['request', 'set', 'x-tag'] };
 */
export interface StandardIssue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/**
 * The input type a schema accepts (what goes in `gateway.config.ts`).
 * @example
 * const schema = z.object({ echo: z.boolean().default(false) });
 * const input: SchemaInput<typeof schema> = {}; // `echo` may be left out
 */
export type SchemaInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never;
/**
 * The output type a schema produces (what the plugin's hooks see as `ctx.options`).
 * @example
 * const schema = z.object({ echo: z.boolean().default(false) });
 * const output: SchemaOutput<typeof schema> = { echo: true }; // defaults filled: `echo` is always there
 */
export type SchemaOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : never;
