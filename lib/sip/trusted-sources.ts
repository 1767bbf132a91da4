// Which peers a server believes (SPEC: "a server believes only the core it is
// configured with"): the core that sends third-party REGISTER, the application
// server that may watch every user's reg event. A peer is known by where its
// request came from. Over UDP that is address and port. Over TCP the address
// cannot be spoofed but the port is an ephemeral one, so the port compared is
// the Via sent-by, where the peer says it listens.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { IncomingRequest } from './endpoint';
import { splitHostPort } from './uri';

export interface TrustedSource {
  host: string;
  /** Absent: any port of that host. */
  port?: number;
}

interface Resolved {
  address: string;
  port?: number;
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => {
  if (isIP(host)) return [host];
  // dns.lookup honours /etc/hosts, which labs rely on (`localhost`, lab names).
  const all = await lookup(host, { all: true });
  return all.map((a) => a.address);
};

/** `host[:port]` entries separated by spaces or commas (IPv6 in brackets); the bad ones are named in `errors`. */
export function parseTrustedSources(textValue: string): { sources: TrustedSource[]; errors: string[] } {
  const sources: TrustedSource[] = [];
  const errors: string[] = [];
  for (const item of textValue.split(/[\s,;]+/).filter(Boolean)) {
    const hp = splitHostPort(item);
    if (hp) sources.push(hp);
    else errors.push(`"${item.slice(0, 80)}" is not host[:port]`);
  }
  return { sources, errors };
}

/** IPv4 peers on a dual-stack socket show up as `::ffff:a.b.c.d`. */
function plainAddress(a: string): string {
  return a.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

export class TrustedSources {
  private resolved: Promise<Resolved[]> | undefined;

  constructor(
    readonly sources: readonly TrustedSource[],
    private readonly resolve: Resolver = systemResolver,
  ) {}

  get empty(): boolean {
    return this.sources.length === 0;
  }

  /** Whether the request came from one of the sources. Names are resolved once; a failed lookup is tried again next time. */
  async allows(req: IncomingRequest): Promise<boolean> {
    if (this.sources.length === 0) return false;
    if (!this.resolved) {
      this.resolved = this.resolveAll();
      this.resolved.catch(() => (this.resolved = undefined));
    }
    let list: Resolved[];
    try {
      list = await this.resolved;
    } catch {
      return false;
    }
    const address = plainAddress(req.peer.address);
    const port = req.peer.protocol === 'udp' ? req.peer.port : (req.message.headers.via?.[0]?.port ?? 5060);
    return list.some((r) => r.address === address && (r.port === undefined || r.port === port));
  }

  private async resolveAll(): Promise<Resolved[]> {
    const out: Resolved[] = [];
    const results = await Promise.allSettled(this.sources.map((s) => this.resolve(s.host)));
    results.forEach((r, i) => {
      if (r.status !== 'fulfilled') return;
      for (const a of r.value) out.push({ address: plainAddress(a), port: this.sources[i]!.port });
    });
    if (out.length === 0) throw new Error('no trusted source resolved');
    return out;
  }
}
