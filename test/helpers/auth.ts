/**
 * Accounts for end-to-end tests: register a fresh user (owner of a fresh organization) on a test server and
 * log in, for routes with auth 'bearer'/'admin' (PROTOCOL.md §1).
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { SignalingClient, SignalingClientError } from '../../src/client/index.js';
import { http, type TestServer } from './server.js';

export interface TestAccount {
  email: string;
  password: string;
  userId: string;
  orgId: string;
  accessToken: string;
  refreshToken: string;
  /** `{ authorization: 'Bearer <accessToken>' }` */
  headers: Record<string, string>;
}

/**
 * Register a new account (unique e-mail unless given) and log it in.
 * @throws Error when registration or login does not succeed.
 */
export async function registerAccount(server: Pick<TestServer, 'url'>, opts: { email?: string; password?: string; organization?: string; name?: string } = {}): Promise<TestAccount> {
  const email = opts.email ?? `user-${randomBytes(6).toString('hex')}@example.test`;
  const password = opts.password ?? 'correct horse battery staple';
  const reg = await http('POST', `${server.url}/auth/register`, { organization: opts.organization ?? 'Test Org', name: opts.name ?? 'Test User', email, password });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await http('POST', `${server.url}/auth/login`, { email, password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return {
    email, password, userId: reg.body.user.id, orgId: reg.body.organization.id,
    accessToken: login.body.accessToken, refreshToken: login.body.refreshToken,
    headers: { authorization: `Bearer ${login.body.accessToken}` },
  };
}

/**
 * Add an account to `inviter`'s organization the way a user would: the inviter's POST /api/org/invitations,
 * then POST /auth/invitations/accept with a name and password (a new e-mail unless given), then log in.
 * @throws Error when any step does not succeed.
 */
export async function inviteAccount(server: Pick<TestServer, 'url'>, inviter: TestAccount, role: 'owner' | 'admin' | 'member', opts: { email?: string; password?: string; name?: string } = {}): Promise<TestAccount> {
  const email = opts.email ?? `invitee-${randomBytes(6).toString('hex')}@example.test`;
  const password = opts.password ?? 'correct horse battery staple';
  const inv = await http('POST', `${server.url}/api/org/invitations`, { email, role }, inviter.headers);
  if (inv.status !== 201) throw new Error(`invite failed: ${inv.status} ${JSON.stringify(inv.body)}`);
  const acc = await http('POST', `${server.url}/auth/invitations/accept`, { token: inv.body.token, name: opts.name ?? 'Invited User', password });
  if (acc.status !== 201) throw new Error(`accept failed: ${acc.status} ${JSON.stringify(acc.body)}`);
  const login = await http('POST', `${server.url}/auth/login`, { email, password, organizationId: inviter.orgId });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return {
    email, password, userId: acc.body.user.id, orgId: inviter.orgId,
    accessToken: login.body.accessToken, refreshToken: login.body.refreshToken,
    headers: { authorization: `Bearer ${login.body.accessToken}` },
  };
}

/** Register a new owner account and return the header that authenticates as it: `{ authorization: 'Bearer …' }`. */
export async function registerAndLogin(server: Pick<TestServer, 'url'>): Promise<Record<string, string>> {
  return (await registerAccount(server)).headers;
}

/**
 * Open a /ws socket (with `?token=` when given), try to join `roomId` and close.
 * @returns 'joined', or the error code of the refusal (`unauthorized`, `forbidden`, `not_found`, ...).
 */
export async function tryJoin(server: Pick<TestServer, 'wsUrl'>, roomId: string, token?: string): Promise<string> {
  const c = await new SignalingClient({ url: server.wsUrl, WebSocket, token }).connect();
  try {
    await c.join(roomId);
    return 'joined';
  } catch (err) {
    return (err as SignalingClientError).code;
  } finally {
    c.close();
  }
}
