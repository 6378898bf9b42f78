/**
 * The Standard Schema interface (https://standardschema.dev), which zod, valibot and arktype
 * implement. A plugin declares its options with any such schema; Isogate validates options with
 * it inside the plugin's isolate, and TypeScript infers the option types from it.
 * Declared here (types only) so the SDK has no runtime dependency.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardIssue[] };

export interface StandardIssue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** The input type a schema accepts (what goes in `gateway.config.ts`). */
export type SchemaInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never;
/** The output type a schema produces (what the plugin's hooks see as `ctx.options`). */
export type SchemaOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : never;
