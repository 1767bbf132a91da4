// The clients of bench/deferred-users.ts in a process of their own, so that
// their cost is not counted as the server's. On 'store', a writer sends each
// user's messages as pager MESSAGEs through the core while the users are
// not registered (the core hands them to the server, which keeps them: 202),
// one user's in order, many users at once. On 'burst', every user registers
// at once, publishes IM settings with offline delivery active, and its inbox
// answers the server's delivery INVITE and takes the MSRP session. Users
// share endpoints (USERS_PER_ENDPOINT each), as users behind one host do.
import { DigestClient } from '../lib/auth/digest-client';
import { requestWithAuth } from '../lib/auth/authenticated-request';
import { Inbox, type InboxMessage, type InboxSessionEvent } from '../lib/deferred/inbox';
import { profileFor } from '../lib/registration/enablers';
import { Registration } from '../lib/registration/registration';
import { SettingsPublisher } from '../lib/settings/publisher';
import { SipEndpoint, type WireEvent } from '../lib/sip/endpoint';
import { pagerMessage } from '../test/support/sip-builders';
import { InboxTally, type InboxCounts } from './inbox-tally';
import { kinds, median } from './table';

export const BENCH_DOMAIN = 'lab.test';
export const WRITER = 'writer';

/** The benchmark's users: `u0001`... with password `<name>-pw`. */
export function benchUserNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `u${String(i + 1).padStart(4, '0')}`);
}

export const passwordOf = (user: string): string => `${user}-pw`;

export interface StoreResult {
  /** CPU seconds this (client) process used in the phase. */
  clientCpu: number;
  retransmitted: { out: number; in: number };
  stored: number;
  failed: number;
  seconds: number;
  firstError?: string;
}

export interface BurstResult extends InboxCounts {
  registered: number;
  registerFailed: number;
  published: number;
  publishFailed: number;
  /** Messages whose body names another user than the inbox that got them. */
  misdelivered: number;
  /** Delivery sessions the inboxes saw end. */
  sessionsEnded: number;
  /** Users who got all their messages. */
  complete: number;
  /** Requests the inboxes refused, MSRP failures included. */
  refused: number;
  firstRefusal?: string;
  /** What the inboxes refused, by kind (see kinds()), with how many. */
  refusals: Record<string, number>;
  /** Min, median and max ms from answering the INVITE (200) to a refusal, over the refusals after one. */
  refusalDelayMs: number[];
  firstError?: string;
  /** Milliseconds since the first REGISTER went out. */
  lastRegisteredMs: number;
  lastPublishedMs: number;
  firstMessageMs: number;
  lastMessageMs: number;
  lastSessionEndMs: number;
  /** True when the burst ended because nothing moved for STALL_SECONDS. */
  stalled: boolean;
  clientCpu: number;
  /** Requests sent again (the answer was late: T1 passed) and received again, at the clients. */
  retransmitted: { out: number; in: number };
  /** Medians over the users, ms since the first REGISTER: registered, published, first and last message. */
  median: { registered: number; published: number; firstMessage: number; lastMessage: number };
}

const USERS = Number(process.env.USERS ?? 1000);
const PER_USER = Number(process.env.PER_USER ?? 10);
const PER_ENDPOINT = Number(process.env.USERS_PER_ENDPOINT ?? 100);
const WRITERS = Number(process.env.WRITERS ?? 100);
const STALL_SECONDS = Number(process.env.STALL_SECONDS ?? 60);
const CORE_PORT = Number(process.env.CORE_PORT);

const aorOf = (user: string): string => `sip:${user}@${BENCH_DOMAIN}`;
const bodyOf = (user: string, k: number): string => `message ${k} of ${PER_USER} for ${user}`;
const BODY = /^message (\d+) of \d+ for (\S+)$/;
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

const TOP_BRANCH = /\r\nvia:[^\r\n]*?branch=([^;,\s]+)/i;

/**
 * Requests that went (or came) more than once on the clients' endpoints,
 * known by method and top Via branch: how often the other side was later
 * than T1, so a server slow to answer shows here.
 */
class Retransmissions {
  private readonly seen = new Set<string>();
  readonly count = { out: 0, in: 0 };

  watch(ep: SipEndpoint): void {
    ep.on('wire', (w: WireEvent) => {
      if (w.wire.startsWith('SIP/2.0')) return;
      const key = `${w.direction} ${w.wire.slice(0, w.wire.indexOf(' '))} ${TOP_BRANCH.exec(w.wire)?.[1]}`;
      if (this.seen.has(key)) this.count[w.direction]++;
      else this.seen.add(key);
    });
  }

  reset(): void {
    this.seen.clear();
    this.count.out = this.count.in = 0;
  }
}

const retransmissions = new Retransmissions();

async function endpoint(): Promise<SipEndpoint> {
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port: CORE_PORT, transport: 'udp' } });
  await ep.start();
  retransmissions.watch(ep);
  return ep;
}

/** Runs `work` for each item, `lanes` at a time. */
async function inLanes<T>(items: T[], lanes: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** The writer's messages: each user's in order (the next once the one before was taken), WRITERS users at a time. */
async function store(users: string[]): Promise<StoreResult> {
  const ep = await endpoint();
  const digest = new DigestClient({ username: WRITER, password: passwordOf(WRITER) });
  const result: StoreResult = { clientCpu: 0, retransmitted: { out: 0, in: 0 }, stored: 0, failed: 0, seconds: 0 };
  retransmissions.reset();
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await inLanes(users, WRITERS, async (user) => {
    for (let k = 1; k <= PER_USER; k++) {
      for (let attempt = 0; ; attempt++) {
        const out = await requestWithAuth({ ua: ep, digest, build: () => pagerMessage(ep, aorOf(WRITER), aorOf(user), bodyOf(user, k)) });
        const status = out.result.response.status;
        if (status === 202) {
          result.stored++;
          break;
        }
        // 503: the deliver node is still reading its store; it says when to come again.
        if (status === 503 && attempt < 20) {
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        result.failed++;
        result.firstError ??= `MESSAGE for ${user}: ${status} ${out.result.response.reason ?? ''}${out.fatal ? ` (${out.fatal})` : ''}`;
        break;
      }
    }
  });
  result.seconds = (Date.now() - t0) / 1000;
  result.clientCpu = cpuSecondsSince(cpu0);
  result.retransmitted = { ...retransmissions.count };
  await ep.close();
  return result;
}

interface Client {
  user: string;
  registration: Registration;
  publisher: SettingsPublisher;
  inbox: Inbox;
  got: number;
  /** When the inbox answered the delivery INVITE 200 (Date.now()). */
  acceptedAt?: number;
  /** ms since the first REGISTER. */
  at: { registered: number; published: number; firstMessage: number; lastMessage: number };
}

async function clients(users: string[]): Promise<{ clients: Client[]; endpoints: SipEndpoint[] }> {
  const endpoints: SipEndpoint[] = [];
  for (let i = 0; i < Math.ceil(users.length / PER_ENDPOINT); i++) endpoints.push(await endpoint());
  const all = users.map((user, i): Client => {
    const ep = endpoints[Math.floor(i / PER_ENDPOINT)]!;
    const aor = aorOf(user);
    const password = passwordOf(user);
    const registration = new Registration(ep, { aor, registrar: `sip:${BENCH_DOMAIN}`, username: user, password, contactUser: user, profile: profileFor({ enabler: 'im' }), expires: 3600 });
    const publisher = new SettingsPublisher(ep, { aor, username: user, password, enabler: 'im' });
    const inbox = new Inbox({ endpoint: ep, aor, contactUser: user });
    inbox.start();
    return { user, registration, publisher, inbox, got: 0, at: { registered: NaN, published: NaN, firstMessage: NaN, lastMessage: NaN } };
  });
  return { clients: all, endpoints };
}

async function burst(all: Client[]): Promise<BurstResult> {
  const tally = new InboxTally((m) => Number(BODY.exec(m.body)?.[1] ?? NaN));
  const r: BurstResult = {
    ...tally.counts(),
    registered: 0,
    registerFailed: 0,
    published: 0,
    publishFailed: 0,
    misdelivered: 0,
    sessionsEnded: 0,
    complete: 0,
    refused: 0,
    refusals: {},
    refusalDelayMs: [],
    lastRegisteredMs: NaN,
    lastPublishedMs: NaN,
    firstMessageMs: NaN,
    lastMessageMs: NaN,
    lastSessionEndMs: NaN,
    stalled: false,
    clientCpu: 0,
    retransmitted: retransmissions.count,
    median: { registered: NaN, published: NaN, firstMessage: NaN, lastMessage: NaN },
  };
  const refusals: string[] = [];
  const refusalDelays: number[] = [];
  let t0 = 0;
  let lastMove = Date.now();
  const since = (): number => {
    lastMove = Date.now();
    return lastMove - t0;
  };
  for (const c of all) {
    c.inbox.on('message', (m: InboxMessage) => {
      tally.add(c.user, m);
      if (BODY.exec(m.body)?.[2] !== c.user) r.misdelivered++;
      if (++c.got === PER_USER) r.complete++;
      r.lastMessageMs = since();
      if (Number.isNaN(r.firstMessageMs)) r.firstMessageMs = r.lastMessageMs;
      c.at.lastMessage = r.lastMessageMs;
      if (Number.isNaN(c.at.firstMessage)) c.at.firstMessage = r.lastMessageMs;
    });
    c.inbox.on('duplicate', () => tally.duplicate());
    c.inbox.on('session', (e: InboxSessionEvent) => {
      if (e.state === 'accepted') c.acceptedAt = Date.now();
      if (e.state !== 'terminated') return;
      r.sessionsEnded++;
      r.lastSessionEndMs = since();
    });
    c.inbox.on('refused', (x: { status: number; reason: string; method: string }) => {
      r.refused++;
      r.firstRefusal ??= `${c.user}: ${x.method} ${x.status} ${x.reason}`;
      refusals.push(`${x.method} ${x.status} ${x.reason}`);
      if (c.acceptedAt !== undefined) refusalDelays.push(Date.now() - c.acceptedAt);
    });
  }
  const signUp = async (c: Client): Promise<void> => {
    await c.registration.register();
    const reg = c.registration.current;
    if (reg.state !== 'registered') {
      r.registerFailed++;
      r.firstError ??= `${c.user} not registered: ${reg.error ?? reg.state}`;
      return;
    }
    r.registered++;
    r.lastRegisteredMs = c.at.registered = since();
    c.publisher.follow(reg);
    const pub = await c.publisher.publish({ id: aorOf(c.user), im: { offlineDelivery: true }, extensions: [] });
    if (pub.info.state !== 'published') {
      r.publishFailed++;
      r.firstError ??= `${c.user} settings not published: ${pub.info.error ?? pub.info.state}`;
      return;
    }
    r.published++;
    r.lastPublishedMs = c.at.published = since();
  };
  const cpu0 = process.cpuUsage();
  retransmissions.reset();
  t0 = Date.now();
  const signedUp = Promise.all(all.map((c) => signUp(c).catch((e: unknown) => void (r.firstError ??= `${c.user}: ${errorText(e)}`))));
  // Done once every user has all its messages and every session ended, or nothing moved for STALL_SECONDS.
  await signedUp;
  for (;;) {
    if (r.complete === all.length && r.sessionsEnded >= r.published) break;
    if (Date.now() - lastMove > STALL_SECONDS * 1000) {
      r.stalled = true;
      break;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  r.clientCpu = cpuSecondsSince(cpu0);
  r.refusals = Object.fromEntries(kinds(refusals));
  refusalDelays.sort((a, b) => a - b);
  r.refusalDelayMs = refusalDelays.length ? [refusalDelays[0]!, median(refusalDelays), refusalDelays[refusalDelays.length - 1]!] : [];
  r.retransmitted = { ...retransmissions.count };
  const mid = (k: keyof Client['at']) => median(all.map((c) => c.at[k]).filter((x) => !Number.isNaN(x)));
  r.median = { registered: mid('registered'), published: mid('published'), firstMessage: mid('firstMessage'), lastMessage: mid('lastMessage') };
  return { ...r, ...tally.counts() };
}

async function main(): Promise<void> {
  const users = benchUserNames(USERS);
  const { clients: all, endpoints } = await clients(users);
  process.on('message', (msg: unknown) => {
    const answer = (p: Promise<unknown>): void => {
      p.then(
        (x) => process.send?.(x),
        (e: unknown) => process.send?.({ error: errorText(e) }),
      );
    };
    if (msg === 'store') answer(store(users));
    else if (msg === 'burst') answer(burst(all));
    else if (msg === 'exit') {
      for (const c of all) {
        c.registration.stop();
        c.publisher.stop();
      }
      void Promise.all([...all.map((c) => c.inbox.close()), ...endpoints.map((e) => e.close())]).finally(() => process.exit(0));
    }
  });
  process.send?.({ ready: true });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
