import type { ResolvedShape } from '../../config/resolved-config.ts';

/**
 * KrakenD-style response shaping, applied to one backend's parsed JSON answer, in this order:
 * `collection` (a top-level array becomes a named field), `target` (take a sub-object), `allow` or
 * `deny` (keep or drop fields, dotted paths for nested ones), `mapping` (rename top-level fields),
 * `group` (nest the result under one key). Compiled once per route; applying it allocates only the
 * objects it returns and never changes its input.
 */
/** The shaping options, as the config resolves them for a route or a backend. */
export type ShapeOptions = ResolvedShape;

export type Shape = (value: unknown) => ShapeResult;
export type ShapeResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

type PathTree = Map<string, PathTree | true>;

/** `['a.b', 'a.c', 'd']` as a tree: `{a: {b, c}, d}`. A shorter path covers its longer ones. */
function pathTree(paths: readonly string[]): PathTree {
  const root: PathTree = new Map();
  for (const path of paths) {
    let node = root;
    const keys = path.split('.');
    keys.forEach((key, i) => {
      if (i === keys.length - 1) {
        node.set(key, true);
        return;
      }
      const next = node.get(key);
      if (next === true) return;
      const child: PathTree = next ?? new Map();
      node.set(key, child);
      node = child;
    });
  }
  return root;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function keep(value: Record<string, unknown>, tree: PathTree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, sub] of tree) {
    if (!Object.hasOwn(value, key)) continue;
    const field = value[key];
    if (sub === true) out[key] = field;
    else if (isObject(field)) out[key] = keep(field, sub);
  }
  return out;
}

function drop(value: Record<string, unknown>, tree: PathTree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const sub = tree.get(key);
    if (sub === true) continue;
    const field = value[key];
    out[key] = sub !== undefined && isObject(field) ? drop(field, sub) : field;
  }
  return out;
}

/** Whether a route or backend asks for any shaping at all (none: a single-backend answer streams untouched). */
export function hasShaping(options: ShapeOptions): boolean {
  return options.target !== undefined || options.allow !== undefined || options.deny !== undefined || options.mapping !== undefined || options.group !== undefined || options.collection !== undefined;
}

export function compileShape(options: ShapeOptions): Shape {
  const target = options.target?.split('.') ?? null;
  const allow = options.allow ? pathTree(options.allow) : null;
  const deny = options.deny ? pathTree(options.deny) : null;
  const mapping = options.mapping ? Object.entries(options.mapping) : null;
  const { group, collection } = options;

  return function shapeAnswer(input: unknown): ShapeResult {
    let value: unknown = input;
    if (Array.isArray(value)) {
      if (collection === undefined) return { ok: false, reason: 'the answer is an array: set `collection` to name the field it goes under' };
      value = { [collection]: value };
    }
    if (target !== null) {
      for (const key of target) {
        if (!isObject(value) || !Object.hasOwn(value, key)) return { ok: false, reason: `the answer has no \`${options.target}\`` };
        value = value[key];
      }
      if (Array.isArray(value) && collection !== undefined) value = { [collection]: value };
    }
    if (!isObject(value)) return { ok: false, reason: 'the answer is not a JSON object' };
    let object = value;
    if (allow !== null) object = keep(object, allow);
    if (deny !== null) object = drop(object, deny);
    if (mapping !== null) {
      object = { ...object };
      for (const [from, to] of mapping) {
        if (!Object.hasOwn(object, from)) continue;
        const field = object[from];
        delete object[from];
        object[to] = field;
      }
    }
    return { ok: true, value: group === undefined ? object : { [group]: object } };
  };
}

/**
 * Top-level field names a shaped answer can have, when the options say (a group, or an allow list
 * after mapping); null when any field may appear. Used to find collisions between backends at load.
 */
export function knownTopLevelFields(options: ShapeOptions): readonly string[] | null {
  if (options.group !== undefined) return [options.group];
  if (options.allow === undefined) return null;
  const tops = [...new Set(options.allow.map((p) => p.split('.')[0]!))];
  return tops.map((name) => options.mapping?.[name] ?? name);
}
