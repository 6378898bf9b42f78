import net from 'node:net';

/** Which peers may vouch for the client through X-Forwarded-For / -Proto / -Host. */
export class TrustedProxies {
  readonly #list = new net.BlockList();
  readonly #empty: boolean;

  constructor(entries: readonly string[]) {
    this.#empty = entries.length === 0;
    for (const entry of entries) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(address, family);
      else this.#list.addSubnet(address, Number(bits), family);
    }
  }

  isTrusted(address: string): boolean {
    if (this.#empty || !address) return false;
    const plain = unmapIpv4(address);
    return this.#list.check(plain, net.isIPv6(plain) ? 'ipv6' : 'ipv4');
  }

  /**
   * The client address: the peer, unless the peer is trusted — then the right-most address in
   * X-Forwarded-For that is not itself a trusted proxy.
   */
  clientIp(remoteAddress: string, forwardedFor: string | string[] | undefined): string {
    const peer = unmapIpv4(remoteAddress);
    if (forwardedFor === undefined || !this.isTrusted(peer)) return peer;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!.trim();
      if (net.isIP(hop) === 0) return peer; // garbage in the chain: believe nothing beyond our peer
      if (!this.isTrusted(hop)) return hop;
    }
    return peer;
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, so IPv4 rules apply to dual-stack sockets. */
export function unmapIpv4(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
