// Segment-trie router over paths already normalised by normalizePath.
//
// Specificity is a property of the trie, not of insertion order: at every
// level a static child is tried before the param child, and both before a
// wildcard ending at that level. A depth-first walk in that order therefore
// visits candidate routes from most to least specific, and the first one that
// accepts the request method wins.
//
// Trailing slashes are significant: '/users' and '/users/' are different
// paths, and a pattern matches only the one it spells. Silently folding them
// would make two distinct upstream resources look like one to policies.

import { decodeSegment, normalizePath } from './normalize-path.ts';

export type RouteMatch<T> =
  | { kind: 'found'; value: T; params: Record<string, string>; pattern: string }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

export class RouterConflictError extends Error {
  override name = 'RouterConflictError';
}

export class RouterPatternError extends Error {
  override name = 'RouterPatternError';
}

type Entry<T> = {
  value: T;
  pattern: string;
  /** Names of the ':' params in path order; the wildcard is not listed. */
  paramNames: readonly string[];
};

type Endpoint<T> = {
  /** Route declared with methods === null; excludes every method-specific route at the same key. */
  any: Entry<T> | null;
  methods: Map<string, Entry<T>>;
};

type Node<T> = {
  statics: Map<string, Node<T>> | null;
  param: Node<T> | null;
  /** Route whose pattern ends exactly at this node. */
  end: Endpoint<T> | null;
  /** Route whose pattern is this node's prefix followed by '/*'. */
  wildcard: Endpoint<T> | null;
};

type Segment = { kind: 'static'; text: string } | { kind: 'param'; name: string } | { kind: 'wildcard' };

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// An RFC 9110 token restricted to upper case, so 'get' in config is caught rather than never matching.
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Z]+$/;

function newNode<T>(): Node<T> {
  return { statics: null, param: null, end: null, wildcard: null };
}

function parsePattern(pattern: string): Segment[] | string {
  if (typeof pattern !== 'string' || pattern.charCodeAt(0) !== 0x2f) return 'pattern must start with "/"';
  // '/' itself is one empty segment, the same shape a trailing slash has.
  const parts = pattern.slice(1).split('/');
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const isLast = i === parts.length - 1;
    if (part === '') {
      if (!isLast) return `empty segment in pattern "${pattern}"`;
      segments.push({ kind: 'static', text: '' });
    } else if (part === '*') {
      if (!isLast) return `"*" must be the last segment in pattern "${pattern}"`;
      segments.push({ kind: 'wildcard' });
    } else if (part.charCodeAt(0) === 0x3a) {
      const name = part.slice(1);
      if (!PARAM_NAME.test(name)) return `invalid param name "${name}" in pattern "${pattern}"`;
      // A plain object would swallow this key into its prototype instead of storing it.
      if (name === '__proto__') return `reserved param name "${name}" in pattern "${pattern}"`;
      if (names.has(name)) return `duplicate param name "${name}" in pattern "${pattern}"`;
      names.add(name);
      segments.push({ kind: 'param', name });
    } else {
      if (part.includes('*')) return `"*" must be a whole segment in pattern "${pattern}"`;
      if (part === '.' || part === '..') return `dot segment in pattern "${pattern}"`;
      // Requests are matched after normalisation, so a non-normal static segment could never match.
      const norm = normalizePath('/' + part);
      if (!norm.ok) return `invalid segment "${part}" in pattern "${pattern}": ${norm.reason}`;
      if (norm.path !== '/' + part) {
        return `segment "${part}" in pattern "${pattern}" is not normalised (expected "${norm.path.slice(1)}")`;
      }
      segments.push({ kind: 'static', text: part });
    }
  }
  return segments;
}

/** Validate a pattern; returns an error message or null. */
export function checkPattern(pattern: string): string | null {
  const r = parsePattern(pattern);
  return typeof r === 'string' ? r : null;
}

/** Canonical key of a pattern: param names erased (`/users/:id` and `/users/:uid` → same key). Used by config validation to reject two routes that can never be told apart. Throws RouterPatternError on an invalid pattern. */
/** The params a route pattern binds: each `:name` segment, and `*` for a trailing wildcard. */
export function patternParams(pattern: string): Set<string> {
  const params = new Set<string>();
  for (const segment of pattern.split('/')) {
    if (segment.startsWith(':')) params.add(segment.slice(1));
    else if (segment === '*') params.add('*');
  }
  return params;
}

export function patternKey(pattern: string): string {
  const segments = parsePattern(pattern);
  if (typeof segments === 'string') throw new RouterPatternError(segments);
  return keyOf(segments);
}

function keyOf(segments: readonly Segment[]): string {
  let key = '';
  for (const s of segments) key += '/' + (s.kind === 'static' ? s.text : s.kind === 'param' ? ':' : '*');
  return key;
}

function pick<T>(ep: Endpoint<T>, method: string): Entry<T> | undefined {
  if (ep.any !== null) return ep.any;
  const e = ep.methods.get(method);
  if (e !== undefined) return e;
  // HEAD is GET without a body (RFC 9110 §9.3.2), so a GET route serves it unless HEAD is routed explicitly.
  if (method === 'HEAD') return ep.methods.get('GET');
  return undefined;
}

export class Router<T> {
  #root: Node<T> = newNode();
  /** Patterns without params or wildcard, keyed by the exact path they match. */
  #exact = new Map<string, Endpoint<T>>();
  // Scratch state for one match() call; match is synchronous and not re-entrant.
  #path = '';
  #method = '';
  #collect: Set<string> | null = null;
  #paramBounds: number[] = [];
  #hit: Entry<T> | null = null;
  #hitRest = -1;

  /** methods: upper-case list, or null meaning every method. Throws RouterConflictError if an indistinguishable route (same patternKey, overlapping methods) exists. Throws on invalid pattern. */
  add(pattern: string, methods: readonly string[] | null, value: T): void {
    const segments = parsePattern(pattern);
    if (typeof segments === 'string') throw new RouterPatternError(segments);
    let unique: string[] | null = null;
    if (methods !== null) {
      if (methods.length === 0) throw new TypeError(`route "${pattern}": methods must be null or a non-empty list`);
      for (const m of methods) {
        if (typeof m !== 'string' || !METHOD.test(m)) {
          throw new TypeError(`route "${pattern}": invalid method ${JSON.stringify(m)} (methods must be upper-case tokens)`);
        }
      }
      unique = [...new Set(methods)];
    }

    let node = this.#root;
    let isWildcard = false;
    const paramNames: string[] = [];
    for (const s of segments) {
      if (s.kind === 'static') {
        node.statics ??= new Map();
        let child = node.statics.get(s.text);
        if (child === undefined) {
          child = newNode();
          node.statics.set(s.text, child);
        }
        node = child;
      } else if (s.kind === 'param') {
        node.param ??= newNode();
        node = node.param;
        paramNames.push(s.name);
      } else {
        isWildcard = true;
      }
    }

    const existing = isWildcard ? node.wildcard : node.end;
    const ep: Endpoint<T> = existing ?? { any: null, methods: new Map() };
    // Same key means same trie slot, so only overlapping methods can make two routes indistinguishable.
    let conflict: Entry<T> | undefined = ep.any ?? undefined;
    if (conflict === undefined) {
      if (unique === null) conflict = ep.methods.values().next().value;
      else for (const m of unique) conflict ??= ep.methods.get(m);
    }
    if (conflict !== undefined) {
      const what = unique === null ? 'all methods' : unique.join(',');
      throw new RouterConflictError(
        `route "${pattern}" (${what}) conflicts with existing route "${conflict.pattern}" (same shape ${keyOf(segments)})`,
      );
    }

    const entry: Entry<T> = { value, pattern, paramNames };
    if (unique === null) ep.any = entry;
    else for (const m of unique) ep.methods.set(m, entry);
    if (existing === null) {
      if (isWildcard) node.wildcard = ep;
      else node.end = ep;
    }
    if (!isWildcard && paramNames.length === 0) this.#exact.set(pattern, ep);
  }

  match(method: string, path: string): RouteMatch<T> {
    const exact = this.#exact.get(path);
    if (exact !== undefined) {
      const e = pick(exact, method);
      if (e !== undefined) return { kind: 'found', value: e.value, params: {}, pattern: e.pattern };
    }

    this.#path = path;
    this.#method = method;
    this.#collect = null;
    this.#paramBounds.length = 0;
    this.#hit = null;
    try {
      if (this.#walk(this.#root, 1)) return this.#found();
      // Nothing accepted the method: walk again collecting what would have been accepted.
      const allow = new Set<string>();
      this.#collect = allow;
      this.#walk(this.#root, 1);
      if (allow.size === 0) return { kind: 'not-found' };
      return { kind: 'method-not-allowed', allow: [...allow].sort() };
    } finally {
      this.#path = '';
      this.#collect = null;
      this.#hit = null;
    }
  }

  #found(): RouteMatch<T> {
    const e = this.#hit!;
    const path = this.#path;
    const bounds = this.#paramBounds;
    const params: Record<string, string> = {};
    for (let i = 0; i < e.paramNames.length; i++) {
      params[e.paramNames[i]!] = decodeSegment(path.slice(bounds[2 * i]!, bounds[2 * i + 1]!));
    }
    if (this.#hitRest >= 0) params['*'] = this.#hitRest >= path.length ? '' : path.slice(this.#hitRest);
    return { kind: 'found', value: e.value, params, pattern: e.pattern };
  }

  /** Offer an endpoint as a candidate; true stops the walk. rest is the wildcard start offset or -1. */
  #offer(ep: Endpoint<T>, rest: number): boolean {
    const collect = this.#collect;
    if (collect !== null) {
      for (const m of ep.methods.keys()) collect.add(m);
      if (ep.methods.has('GET')) collect.add('HEAD');
      return false;
    }
    const e = pick(ep, this.#method);
    if (e === undefined) return false;
    this.#hit = e;
    this.#hitRest = rest;
    return true;
  }

  /**
   * pos is the offset of the current segment's first character; pos > path.length
   * means every segment has been consumed (the path '/' has one empty segment).
   */
  #walk(node: Node<T>, pos: number): boolean {
    const path = this.#path;
    if (pos > path.length) {
      if (node.end !== null && this.#offer(node.end, -1)) return true;
      return node.wildcard !== null && this.#offer(node.wildcard, pos);
    }
    let end = path.indexOf('/', pos);
    if (end === -1) end = path.length;

    if (node.statics !== null) {
      const child = node.statics.get(path.slice(pos, end));
      if (child !== undefined && this.#walk(child, end + 1)) return true;
    }
    if (node.param !== null && end > pos) {
      const bounds = this.#paramBounds;
      bounds.push(pos, end);
      if (this.#walk(node.param, end + 1)) return true;
      bounds.length -= 2;
    }
    return node.wildcard !== null && this.#offer(node.wildcard, pos);
  }
}
