import { z } from 'zod';
import { duration } from '../../runtime/src/config/units.ts';

// Several settings have no default here on purpose: when the config leaves them out, the
// standard OTEL_* environment variable decides (settings.ts), and only then the built-in default.

const headerName = z.string().regex(/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/, 'expected an HTTP header name');
const headerValue = z.string().regex(/^[^\r\n\0]*$/, 'header values cannot contain CR, LF or NUL');
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });
const ratio = z.number().min(0, 'a ratio between 0 and 1').max(1, 'a ratio between 0 and 1');
const positiveInt = z.number().int().positive();

const otlp = z
  .strictObject({
    endpoint: httpUrl.optional(),
    headers: z.record(headerName, headerValue).default({}),
    encoding: z.enum(['protobuf', 'json']).optional(),
    compression: z.enum(['gzip', 'none']).optional(),
    timeout: duration.optional(),
  })
  .prefault({});

const sampling = z
  .strictObject({
    ratio: ratio.optional(),
    parentBased: z.boolean().optional(),
    // No default here: `parentBased: false` (from the config or OTEL_TRACES_SAMPLER) means
    // "never", so the default ("trusted-proxies") is applied in settings.ts.
    honourIncomingSampled: z.enum(['always', 'trusted-proxies', 'never']).optional(),
  })
  .prefault({});

const batch = z
  .strictObject({
    maxQueueSize: positiveInt.optional(),
    maxExportBatchSize: positiveInt.optional(),
    scheduledDelay: duration.optional(),
    exportTimeout: duration.optional(),
  })
  .prefault({});

const captureHeaders = z
  .strictObject({
    request: z.array(headerName).default([]),
    response: z.array(headerName).default([]),
  })
  .prefault({});

export const tracingOptions = z
  .strictObject({
    serviceName: z.string().min(1).optional(),
    resourceAttributes: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).default({}),
    exporter: z.enum(['otlp-http', 'otlp-grpc', 'console', 'none']).optional(),
    otlp,
    sampling,
    continueIncoming: z.enum(['always', 'trusted-proxies', 'never']).default('always'),
    batch,
    captureHeaders,
    attributeValueLengthLimit: positiveInt.optional(),
    shutdownTimeout: duration.default(2000),
  })
  .superRefine((o, ctx) => {
    const { maxQueueSize, maxExportBatchSize } = o.batch;
    if (maxQueueSize !== undefined && maxExportBatchSize !== undefined && maxExportBatchSize > maxQueueSize) {
      ctx.addIssue({ code: 'custom', path: ['batch', 'maxExportBatchSize'], message: 'cannot be larger than batch.maxQueueSize' });
    }
    const { parentBased, honourIncomingSampled } = o.sampling;
    if (parentBased === false && honourIncomingSampled !== undefined && honourIncomingSampled !== 'never') {
      ctx.addIssue({ code: 'custom', path: ['sampling', 'honourIncomingSampled'], message: 'parentBased: false already means no incoming sampled flag is honoured ("never")' });
    }
    if (o.exporter === 'otlp-grpc' && o.otlp.encoding !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['otlp', 'encoding'], message: 'applies to otlp-http only (gRPC always sends protobuf)' });
    }
  });

export type TracingOptions = z.output<typeof tracingOptions>;
export type TracingOptionsInput = z.input<typeof tracingOptions>;
