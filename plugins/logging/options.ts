import { z } from 'zod';
import { CREDENTIAL_QUERY_PARAMS } from './credentials.ts';

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name')
  .transform((name) => name.toLowerCase());

/** The fields of the access line that `redact` may name (anything else in `redact` is a header name). */
export const REDACTABLE_FIELDS = ['clientIp', 'userAgent', 'path', 'query'] as const;
export type RedactableField = (typeof REDACTABLE_FIELDS)[number];

const redactEntry = z.union([z.enum(REDACTABLE_FIELDS), headerName], {
  error: `expected a header name or one of the fields ${REDACTABLE_FIELDS.join(', ')}`,
});

const queryParam = z.string().min(1).max(256);

const requestId = z
  .strictObject({
    header: headerName.default('x-request-id'),
    trustIncoming: z.enum(['trusted-proxies', 'always', 'never']).default('trusted-proxies'),
    // 8: shorter ids collide too easily to be trusted; 1024: an id is not a payload.
    maxLength: z.int().min(8).max(1024).default(128),
    forward: z.boolean().default(true),
    respond: z.boolean().default(true),
  })
  .prefault({});

/** Options of the `logging` built-in; `LoggingPluginOptions` in the SDK documents each one. */
export const loggingOptions = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  file: z
    .string()
    .min(1)
    .regex(/^[^\0]*$/, 'a file path cannot contain NUL')
    .optional(),
  requestId,
  query: z.boolean().default(true),
  redactQuery: z.array(queryParam).default([]),
  // Absent: log every parameter but the redacted ones. Present (even empty): log only these values.
  queryAllow: z
    .array(
      queryParam.refine((name) => !CREDENTIAL_QUERY_PARAMS.has(name.toLowerCase()), {
        error: (issue) => `"${String(issue.input)}" is a credential parameter: its value is always redacted`,
      }),
    )
    .optional(),
  userAgent: z.boolean().default(true),
  headers: z.array(headerName).default([]),
  responseHeaders: z.array(headerName).default([]),
  redact: z.array(redactEntry).default([]),
  sample: z.number().min(0).max(1).default(1),
});

export type LoggingOptions = z.output<typeof loggingOptions>;
export type LogLevel = LoggingOptions['level'];
