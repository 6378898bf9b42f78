// Request-target splitting and path normalisation live in the SDK (one copy, shared with the
// plugin test harness, which must not depend on the runtime); see that file for the rules.
export { decodeSegment, normalizePath, splitTarget, type NormalizedPath, type SplitTarget } from '@isogate/sdk/internal/normalize-path';
