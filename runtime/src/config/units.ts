import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const BYTES = /^(\d+)(b|kb|mb)$/i;

/** Milliseconds from a number or a `"250ms" | "5s" | "1m"` string. */
export const duration = z
  .union([z.number().nonnegative().finite(), z.string().regex(DURATION, 'expected a duration like 500, "500ms", "5s" or "1m"')], {
    error: 'expected a duration like 500, "500ms", "5s" or "1m"',
  })
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v);
    const [, n, unit] = DURATION.exec(v)!;
    const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000;
    return Math.round(Number(n) * factor);
  });

/** Bytes from a number or a `"512b" | "16kb" | "1mb"` string (binary multiples). */
export const byteSize = z
  .union([z.number().int().positive(), z.string().regex(BYTES, 'expected a size like 1024, "16kb" or "1mb"')], {
    error: 'expected a size like 1024, "16kb" or "1mb"',
  })
  .transform((v) => {
    if (typeof v === 'number') return v;
    const [, n, unit] = BYTES.exec(v)!;
    const u = unit!.toLowerCase();
    return Number(n) * (u === 'b' ? 1 : u === 'kb' ? 1024 : 1024 * 1024);
  });
