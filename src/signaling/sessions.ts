/**
 * Live engine.io (Socket.IO) sessions counted per client address and in total, so that anonymous handshakes
 * (`GET /socket.io/?EIO=4&transport=polling`) cannot create sessions without bound. A slot is taken when a
 * handshake is let through and given back once, when its session closes (engine.io closes an idle session
 * after pingInterval + pingTimeout) or when the handshake fails before a session exists.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Why a handshake got no slot. */
export type SessionRefusal = 'per_ip' | 'total';

/** A taken slot; `release` is idempotent. */
export interface SessionSlot {
  readonly key: string;
  release(): void;
}

export class SessionLimiter {
  private readonly byKey = new Map<string, number>();
  private count = 0;

  /**
   * @param perKey most live sessions per address key (see `addressKey`)
   * @param total most live sessions in all
   */
  constructor(private readonly perKey: number, private readonly total: number) {}

  /** Live sessions (slots taken and not released). */
  get size(): number { return this.count; }

  /** Live sessions of one address key. */
  sessionsOf(key: string): number { return this.byKey.get(key) ?? 0; }

  /** Take a slot for `key`, or say which cap is full. */
  take(key: string): SessionSlot | SessionRefusal {
    const n = this.byKey.get(key) ?? 0;
    if (n >= this.perKey) return 'per_ip';
    if (this.count >= this.total) return 'total';
    this.byKey.set(key, n + 1);
    this.count++;
    let released = false;
    return {
      key,
      release: () => {
        if (released) return;
        released = true;
        this.count--;
        const left = (this.byKey.get(key) ?? 1) - 1;
        if (left > 0) this.byKey.set(key, left);
        else this.byKey.delete(key);
      },
    };
  }
}

/**
 * The key a client address is counted under: an IPv4 address as is (also when written IPv4-mapped,
 * `::ffff:a.b.c.d`), an IPv6 address by its /64 prefix (one host usually holds a whole /64), anything else
 * as given. uWS reports the socket's address, so behind a reverse proxy every client shares the proxy's key.
 */
export function addressKey(address: string): string {
  const a = address.trim().toLowerCase();
  if (isIPv4(a)) return a;
  if (!isIPv6(a)) return a;
  const groups = expandIPv6(a);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted IPv4 converted). */
function expandIPv6(a: string): number[] {
  let s = a.split('%')[0]!;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [b0, b1, b2, b3] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dotted.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const middle = tail === null ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...middle, ...t].map((g) => parseInt(g, 16));
}
