import { createHash } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';

/** How often certificate and key files are looked at for a renewal. */
const RELOAD_CHECK_MS = 2_000;

export interface TlsSettings {
  /** PEM text, or an absolute file path (the config resolved relative paths). */
  readonly cert: string;
  readonly key: string;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
}

function isPem(value: string): boolean {
  return value.includes('-----BEGIN');
}

function read(value: string): string {
  return isPem(value) ? value : fs.readFileSync(value, 'utf8');
}

/**
 * The listener's certificate and key, and the options every TLS connection gets. Files are read
 * again every RELOAD_CHECK_MS and, when their contents changed, swapped in with
 * `server.setSecureContext()`: new connections get the renewed certificate, open ones keep theirs.
 * Contents rather than modification times, because cert-manager and Kubernetes secret volumes
 * replace files through symlink swaps. A pair that does not load (a half-written file, a key that
 * does not match) is logged and the last good one stays.
 */
export class TlsContext {
  readonly #settings: TlsSettings;
  readonly #logger: Logger;
  #digest: string;
  #timer: NodeJS.Timeout | null = null;

  constructor(settings: TlsSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
    const { cert, key } = this.#load();
    this.#digest = digest(cert, key);
  }

  /** Options for `tls.createServer`: modern defaults, ALPN h2 then http/1.1. */
  serverOptions(): tls.TlsOptions {
    const { cert, key } = this.#load();
    return {
      cert,
      key,
      minVersion: this.#settings.minVersion,
      ALPNProtocols: ['h2', 'http/1.1'],
      // Node's default cipher list is the modern one (ECDHE, AEAD first); the server's order wins.
      honorCipherOrder: true,
    };
  }

  /** Start watching the files (nothing to watch for PEM text); `server` gets each renewal. */
  watch(server: tls.Server): void {
    const { cert, key } = this.#settings;
    if (isPem(cert) && isPem(key)) return;
    this.#timer = setInterval(() => this.#check(server), RELOAD_CHECK_MS);
    this.#timer.unref();
  }

  #check(server: tls.Server): void {
    let loaded: { cert: string; key: string };
    try {
      loaded = this.#load();
    } catch (err) {
      this.#logger.error({ err: { message: (err as Error).message } }, 'TLS certificate or key could not be read; keeping the current one');
      return;
    }
    const next = digest(loaded.cert, loaded.key);
    if (next === this.#digest) return;
    try {
      server.setSecureContext({ cert: loaded.cert, key: loaded.key, minVersion: this.#settings.minVersion, honorCipherOrder: true });
    } catch (err) {
      // Seen mid-renewal: the certificate written, the key not yet. The next check tries again.
      this.#logger.warn({ err: { message: (err as Error).message } }, 'TLS certificate and key do not load together; keeping the current pair');
      return;
    }
    this.#digest = next;
    this.#logger.info({ cert: isPem(this.#settings.cert) ? '(PEM)' : this.#settings.cert }, 'TLS certificate reloaded');
  }

  #load(): { cert: string; key: string } {
    const cert = read(this.#settings.cert);
    const key = read(this.#settings.key);
    // Throws on a pair that does not belong together, before a server ever sees it.
    tls.createSecureContext({ cert, key });
    return { cert, key };
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

function digest(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('base64');
}
