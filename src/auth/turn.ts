/**
 * coturn TURN REST credentials (coturn `use-auth-secret` / `static-auth-secret`; REFERENCE.md):
 * username = `<expiry Unix seconds>:<userId>`, credential = base64(HMAC-SHA1(secret, username)).
 * The time is the expiry, not the issue time; expiry only stops new allocations.
 */
import { createHmac } from 'node:crypto';
import type { Config } from '../config.js';

export interface TurnCredential {
  username: string;
  credential: string;
  ttlSec: number;
  urls: string[];
}

/** An RTCIceServer as browsers take it. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/**
 * Mint a TURN REST credential.
 * @param userId any string without ':' (the separator); it is what coturn logs.
 * @param ttlSec lifetime in seconds (> 0).
 * @param nowSec current Unix time in seconds.
 */
export function turnCredential(secret: string, urls: readonly string[], userId: string, ttlSec: number, nowSec = Math.floor(Date.now() / 1000)): TurnCredential {
  const username = `${nowSec + Math.round(ttlSec)}:${userId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, ttlSec: Math.round(ttlSec), urls: [...urls] };
}

/**
 * The ICE servers for a user: the STUN entry (STUN_SERVERS) and, when TURN_URLS and TURN_SECRET are set, a
 * TURN entry with a fresh credential valid TURN_TTL seconds.
 */
export function iceServers(config: Config, userId: string): { iceServers: IceServer[]; ttlSec: number } {
  const servers: IceServer[] = [];
  if (config.STUN_SERVERS.length) servers.push({ urls: [...config.STUN_SERVERS] });
  if (config.turnEnabled) {
    const c = turnCredential(config.TURN_SECRET!, config.TURN_URLS, userId, config.TURN_TTL);
    servers.push({ urls: c.urls, username: c.username, credential: c.credential });
  }
  return { iceServers: servers, ttlSec: config.TURN_TTL };
}
