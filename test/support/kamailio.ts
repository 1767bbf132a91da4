// Starts and stops a real Kamailio (test/kamailio/kamailio.cfg) for integration
// tests and the benchmark.
//
// Each instance gets its own port on 127.0.0.1, its own run directory with
// db_text tables (users, presence) and its own ctl socket, so instances can run
// side by side. Kamailio runs in its own process group; stop(), a process
// 'exit' hook and SIGINT/SIGTERM/SIGHUP hooks kill that whole group, so no
// Kamailio process outlives the test run.

import { ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port';
import { projectRoot } from './project-root';

export interface KamailioUser {
  user: string;
  password: string;
}

export interface KamailioOptions {
  /** Home domain and digest realm. Default 'lab.test'. */
  domain?: string;
  /** Default alice/alice-pw, bob/bob-pw, carol/carol-pw. */
  users?: KamailioUser[];
  /** Enables third-party REGISTER and the routing of settings events to this server. */
  appServer?: { host: string; port: number; transport?: 'udp' | 'tcp' };
  /** Where settings SUBSCRIBE / PUBLISH are proxied, and whose requests are trusted. Default appServer. */
  settingsServer?: { host: string; port: number; transport?: 'udp' | 'tcp' };
  /** The IM server that keeps deferred messages: where a MESSAGE for a provisioned user who is not registered and a SUBSCRIBE to the deferred-messages package go, and whose requests (the delivery INVITE) pass unchallenged. Default appServer. */
  imServer?: { host: string; port: number; transport?: 'udp' | 'tcp' };
  /** Reg event (SUBSCRIBE Event: reg). Default true. */
  reginfo?: boolean;
  minExpires?: number;
  maxExpires?: number;
  defaultExpires?: number;
  /** Shared memory in MB. Default 256. */
  shmMb?: number;
  /** Private memory per process in MB. Default 16. */
  pkgMb?: number;
  /** Worker processes per listening socket. Default 4. */
  children?: number;
  /** A fixed port, e.g. to bring a core back where it was; default a free one. */
  port?: number;
}

export interface KamailioInstance {
  host: string;
  port: number;
  domain: string;
  pid: number;
  /** binrpc socket for `kamcmd -s <ctlSocket> ul.dump` while debugging. */
  ctlSocket: string;
  /** stderr/stdout collected so far (for failure messages). */
  log(): string;
  /** SIGTERM, wait for exit (SIGKILL after a few seconds), remove the run directory. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 4_000;
const START_ATTEMPTS = 3;
/** Enough for the failure message of a test; a benchmark must not grow memory without bound. */
const LOG_LIMIT = 1 << 20;
const INSTALL_HINT = 'install with: apt-get install kamailio kamailio-presence-modules';

const DEFAULT_USERS: KamailioUser[] = [
  { user: 'alice', password: 'alice-pw' },
  { user: 'bob', password: 'bob-pw' },
  { user: 'carol', password: 'carol-pw' },
];

interface Resolved {
  domain: string;
  users: KamailioUser[];
  appServer?: { host: string; port: number; transport: 'udp' | 'tcp' };
  settingsServer?: { host: string; port: number; transport: 'udp' | 'tcp' };
  imServer?: { host: string; port: number; transport: 'udp' | 'tcp' };
  reginfo: boolean;
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  shmMb: number;
  pkgMb: number;
  children: number;
  port?: number;
}

// ---------------------------------------------------------------- locating

/** Kamailio lives in sbin, which a non-root PATH often lacks. */
function findKamailio(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, 'kamailio');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export function kamailioInstalled(): boolean {
  return findKamailio() !== undefined;
}

export { projectRoot };

export function kamailioConfigPath(): string {
  return path.join(projectRoot(), 'test', 'kamailio', 'kamailio.cfg');
}

// ---------------------------------------------------------------- options

// Values end up inside double-quoted cfg defines and SIP URIs: refuse what
// would break out of them rather than escaping.
function checkToken(what: string, value: string, pattern: RegExp): void {
  if (!pattern.test(value)) throw new Error(`invalid ${what} for Kamailio: ${JSON.stringify(value)}`);
}

function checkNonNegative(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new Error(`invalid ${what} for Kamailio: ${value}`);
}

function resolveOptions(opts: KamailioOptions): Resolved {
  const r: Resolved = {
    domain: opts.domain ?? 'lab.test',
    users: opts.users ?? DEFAULT_USERS,
    appServer: opts.appServer && { transport: 'udp', ...opts.appServer },
    settingsServer: (opts.settingsServer ?? opts.appServer) && { transport: 'udp', ...(opts.settingsServer ?? opts.appServer)! },
    imServer: opts.imServer && { transport: 'udp', ...opts.imServer },
    reginfo: opts.reginfo ?? true,
    minExpires: opts.minExpires ?? 60,
    maxExpires: opts.maxExpires ?? 3600,
    defaultExpires: opts.defaultExpires ?? 3600,
    shmMb: opts.shmMb ?? 256,
    pkgMb: opts.pkgMb ?? 16,
    children: opts.children ?? 4,
    port: opts.port,
  };
  checkToken('domain', r.domain, /^[A-Za-z0-9.-]+$/);
  for (const u of r.users) checkToken('user name', u.user, /^[A-Za-z0-9._~+!$&'()*,=-]+$/);
  for (const [what, s] of [['appServer', r.appServer], ['settingsServer', r.settingsServer], ['imServer', r.imServer]] as const) {
    if (!s) continue;
    checkToken(`${what}.host`, s.host, /^[A-Za-z0-9.:-]+$/);
    checkNonNegative(`${what}.port`, s.port);
  }
  for (const [k, v] of Object.entries({ minExpires: r.minExpires, maxExpires: r.maxExpires, defaultExpires: r.defaultExpires, shmMb: r.shmMb, pkgMb: r.pkgMb, children: r.children })) {
    checkNonNegative(k, v);
  }
  return r;
}

// ---------------------------------------------------------------- db_text tables

/** db_text escapes: backslash, the ':' delimiter, line breaks, tabs and NUL. */
function dbtextValue(value: string): string {
  return value.replace(/[\\:\n\r\t\0]/g, (c) => {
    switch (c) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      case '\0': return '\\0';
      default: return '\\' + c;
    }
  });
}

// Column layouts and table versions of Kamailio 5.6's schema; db_text needs
// the header line, and each module checks its table version at start-up.
const TABLES: Record<string, { version: number; header: string }> = {
  subscriber: { version: 7, header: 'id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null)' },
  presentity: { version: 5, header: 'id(int,auto) username(string) domain(string) event(string) etag(string) expires(int) received_time(int) body(string) sender(string) priority(int) ruid(string,null)' },
  active_watchers: { version: 12, header: 'id(int,auto) presentity_uri(string) watcher_username(string) watcher_domain(string) to_user(string) to_domain(string) event(string) event_id(string,null) to_tag(string) from_tag(string) callid(string) local_cseq(int) remote_cseq(int) contact(string) record_route(string,null) expires(int) status(int) reason(string,null) version(int) socket_info(string) local_contact(string) from_user(string) from_domain(string) updated(int) updated_winfo(int) flags(int) user_agent(string,null)' },
  watchers: { version: 3, header: 'id(int,auto) presentity_uri(string) watcher_username(string) watcher_domain(string) event(string) status(int) reason(string,null) inserted_time(int)' },
  pua: { version: 7, header: 'id(int,auto) pres_uri(string) pres_id(string) event(int) expires(int) desired_expires(int) flag(int) etag(string) tuple_id(string,null) watcher_uri(string) call_id(string) to_tag(string) from_tag(string) cseq(int) record_route(string,null) contact(string) remote_contact(string) version(int) extra_headers(string)' },
};

function writeTables(dbDir: string, r: Resolved): void {
  fs.mkdirSync(dbDir, { recursive: true });
  const versions = Object.entries(TABLES).map(([name, t], i) => `${i + 1}:${name}:${t.version}`);
  fs.writeFileSync(path.join(dbDir, 'version'), ['id(int,auto) table_name(string) table_version(int)', ...versions, ''].join('\n'));
  const subscribers = r.users.map((u, i) => [i + 1, u.user, r.domain, u.password, '', ''].map((v) => dbtextValue(String(v))).join(':'));
  fs.writeFileSync(path.join(dbDir, 'subscriber'), [TABLES.subscriber.header, ...subscribers, ''].join('\n'));
  for (const name of ['presentity', 'active_watchers', 'watchers', 'pua']) {
    fs.writeFileSync(path.join(dbDir, name), TABLES[name].header + '\n');
  }
}

// ---------------------------------------------------------------- command line

function appServerUri(as: NonNullable<Resolved['appServer']>): string {
  const host = as.host.includes(':') ? `[${as.host}]` : as.host;
  return `sip:${host}:${as.port}` + (as.transport === 'tcp' ? ';transport=tcp' : '');
}

function kamailioArgs(r: Resolved, port: number, runDir: string): string[] {
  const define = (d: string) => ['-A', d];
  const args = [
    '-f', kamailioConfigPath(),
    '-DD', '-E',
    '-Y', runDir, '-w', runDir,
    '-m', String(r.shmMb), '-M', String(r.pkgMb), '-n', String(r.children),
    '-l', `udp:${HOST}:${port}`, '-l', `tcp:${HOST}:${port}`,
    ...define('WITH_CMDLINE_LISTEN'),
    ...define(`DOMAIN="${r.domain}"`),
    ...define(`CORE_URI="sip:${HOST}:${port}"`),
    ...define(`DB_URL="text://${path.join(runDir, 'db')}"`),
    ...define(`CTL_SOCKET="unix:${ctlPath(runDir)}"`),
    ...define(`MIN_EXPIRES=${r.minExpires}`),
    ...define(`MAX_EXPIRES=${r.maxExpires}`),
    ...define(`DEFAULT_EXPIRES=${r.defaultExpires}`),
  ];
  const debug = process.env.OMA_KAMAILIO_DEBUG;
  if (debug && /^-?\d$/.test(debug)) args.push(...define(`DEBUG_LEVEL=${debug}`));
  if (r.reginfo) args.push(...define('WITH_REGINFO'));
  if (r.appServer) args.push(...define('WITH_THIRDPARTY'), ...define(`AS_URI="${appServerUri(r.appServer)}"`));
  if (r.appServer && r.settingsServer) {
    const s = r.settingsServer;
    args.push(...define(`SETTINGS_URI="${appServerUri(s)}"`), ...define(`SETTINGS_ADDR="${s.host}"`), ...define(`SETTINGS_PORT=${s.port}`));
  }
  if (r.appServer && r.imServer) {
    const s = r.imServer;
    args.push(...define(`IM_URI="${appServerUri(s)}"`), ...define(`IM_ADDR="${s.host}"`), ...define(`IM_PORT=${s.port}`));
  }
  return args;
}

function ctlPath(runDir: string): string {
  return path.join(runDir, 'kamailio_ctl');
}

// ---------------------------------------------------------------- process lifetime

interface Running {
  child: ChildProcess;
  runDir: string;
}

const running = new Set<Running>();
let hooksInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

/** Last resort when the test process goes away: synchronous, so it works in an 'exit' handler. */
function killAllNow(): void {
  for (const r of running) {
    if (r.child.pid !== undefined) killGroup(r.child.pid, 'SIGKILL');
    fs.rmSync(r.runDir, { recursive: true, force: true });
  }
  running.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  // Kamailio runs in its own process group, so a Ctrl-C in the terminal does
  // not reach it: forward the end of the test run, then let the signal act.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.kill(process.pid, sig);
    });
  }
}

class OutputLog {
  private text = '';
  append(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    if (this.text.length > LOG_LIMIT) this.text = this.text.slice(this.text.length - LOG_LIMIT);
  }
  toString(): string {
    return this.text;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function stopProcess(entry: Running): Promise<void> {
  const pid = entry.child.pid;
  if (pid !== undefined) {
    if (!exited(entry.child)) {
      killGroup(pid, 'SIGTERM');
      if (!(await waitExit(entry.child, STOP_GRACE_MS))) killGroup(pid, 'SIGKILL');
      await waitExit(entry.child, STOP_GRACE_MS);
    }
    // Children of a crashed main process may linger in the group.
    killGroup(pid, 'SIGKILL');
  }
  running.delete(entry);
  fs.rmSync(entry.runDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- readiness

function optionsProbe(port: number, localPort: number, callId: string): string {
  return [
    `OPTIONS sip:${HOST}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${HOST}:${localPort};branch=z9hG4bK-${callId}-${Date.now()}`,
    'Max-Forwards: 70',
    `From: <sip:probe@${HOST}:${localPort}>;tag=${callId}`,
    `To: <sip:${HOST}:${port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/**
 * Resolves when Kamailio answers an OPTIONS over UDP; rejects when it exits
 * first or does not answer in time.
 */
function waitReady(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const callId = `probe-${process.pid}-${port}`;
    let interval: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      clearInterval(interval);
      clearTimeout(deadline);
      child.off('exit', onExit);
      socket.close();
      if (err) reject(err);
      else resolve();
    };
    const onExit = () => finish(new Error(`kamailio exited during start-up (code ${child.exitCode}, signal ${child.signalCode})`));
    const deadline = setTimeout(() => finish(new Error(`kamailio did not answer OPTIONS within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', onExit);
    socket.on('message', (msg) => {
      if (msg.toString().includes(callId)) finish();
    });
    socket.on('error', (err) => finish(err));
    socket.bind(0, HOST, () => {
      const send = () => socket.send(optionsProbe(port, socket.address().port, callId), port, HOST);
      send();
      interval = setInterval(send, 200);
    });
  });
}

// ---------------------------------------------------------------- start

function spawnKamailio(binary: string, args: string[], log: OutputLog): ChildProcess {
  const child = spawn(binary, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => log.append(c));
  child.stderr?.on('data', (c: Buffer) => log.append(c));
  // Neither the process nor its pipes keep the test process alive: the exit
  // hooks above end Kamailio when the test process ends.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  return child;
}

/** A bind failure means another process took the port between the check and the start: try another. */
function portTaken(log: string): boolean {
  return /Address already in use|bind\(.*\) failed|failed to bind/i.test(log);
}

function instance(entry: Running, r: Resolved, port: number, log: OutputLog): KamailioInstance {
  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    domain: r.domain,
    pid: entry.child.pid as number,
    ctlSocket: `unix:${ctlPath(entry.runDir)}`,
    log: () => log.toString(),
    stop: () => (stopping ??= stopProcess(entry)),
  };
}

async function startOnce(binary: string, r: Resolved): Promise<{ inst?: KamailioInstance; error?: Error; retry: boolean }> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-kamailio-'));
  writeTables(path.join(runDir, 'db'), r);
  const port = r.port ?? (await freePort());
  const log = new OutputLog();
  const child = spawnKamailio(binary, kamailioArgs(r, port, runDir), log);
  const entry: Running = { child, runDir };
  running.add(entry);
  try {
    await waitReady(child, port, READY_TIMEOUT_MS);
    return { inst: instance(entry, r, port, log), retry: false };
  } catch (err) {
    await stopProcess(entry);
    const text = log.toString();
    const hint = /could not find module|failed to load module|cannot open shared object/i.test(text) ? ` (${INSTALL_HINT})` : '';
    const error = new Error(`${(err as Error).message}${hint}\n--- kamailio log (port ${port}) ---\n${text.slice(-20_000)}`);
    return { error, retry: r.port === undefined && portTaken(text) };
  }
}

export async function startKamailio(opts: KamailioOptions = {}): Promise<KamailioInstance> {
  const binary = findKamailio();
  if (!binary) throw new Error(`kamailio is not installed; ${INSTALL_HINT}`);
  const r = resolveOptions(opts);
  installHooks();
  let last: Error | undefined;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    const { inst, error, retry } = await startOnce(binary, r);
    if (inst) return inst;
    last = error;
    if (!retry) break;
  }
  throw last ?? new Error('kamailio did not start');
}
