// A real Node-RED process (for the package test and benchmarks): this checkout linked into a fresh
// user directory, flows deployed through the admin API, results read back
// over HTTP, and the process's memory read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './free-port';
import { projectRoot } from './project-root';
import { resolveNodeRed } from './node-red-under-test';

export interface NodeRedProcess {
  port: number;
  pid: number;
  /** Node-RED's user directory (removed by stop() when startNodeRed made it). */
  userDir: string;
  request(method: string, urlPath: string, body?: unknown, accept?: string): Promise<{ status: number; body: unknown }>;
  deploy(flow: unknown[]): Promise<void>;
  /** Resident set size of the Node-RED process, MB. */
  rssMb(): number;
  /** CPU time (user + system) the Node-RED process has used, seconds. */
  cpuSeconds(): number;
  /** What Node-RED wrote to stdout and stderr so far (its warnings and errors: the log level is warn). */
  log(): string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no close handler runs, nothing is flushed; resolves once the process is gone. Keeps the user directory. */
  kill(): Promise<void>;
}

export interface NodeRedOptions {
  /** Run on this user directory (e.g. again after a crash); it is the caller's and stop() keeps it. Default a fresh one. */
  userDir?: string;
  /** The editor and admin API port; default a free one. */
  port?: number;
}

function httpJson(port: number, method: string, urlPath: string, body?: unknown, accept = 'application/json'): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method,
        headers: { accept, 'content-type': 'application/json', 'node-red-deployment-type': 'full', ...(data ? { 'content-length': data.length } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** CPU time (user + system) a running process has used, seconds (Linux /proc, 10 ms ticks). */
export function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function startNodeRed(options: NodeRedOptions = {}): Promise<NodeRedProcess> {
  const port = options.port ?? (await freePort());
  const ownDir = options.userDir === undefined;
  const userDir = options.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'oma-nodered-'));
  const link = path.join(userDir, 'node_modules', 'node-red-contrib-oma-sip');
  if (!fs.existsSync(link)) {
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(projectRoot(), link, 'dir');
  }
  const settings = path.join(userDir, 'settings.js');
  fs.writeFileSync(
    settings,
    `module.exports = { uiHost: '127.0.0.1', uiPort: ${port}, flowFile: 'flows.json', credentialSecret: false,
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  // Offline like a lab machine: no update-notification prompt over the editor, no online palette catalogue.
  telemetry: { enabled: false }, editorTheme: { tours: false, palette: { catalogues: [] } } };\n`,
  );
  // BENCH_PROFILE=dir writes a CPU profile of the Node-RED process there.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, resolveNodeRed('node-red/red.js'), '-u', userDir, '-s', settings], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      const r = await httpJson(port, 'GET', '/flows');
      if (r.status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`Node-RED did not start:\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async () => {
    if (!gone()) {
      child.kill('SIGINT');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r(undefined);
        }, 10000);
        child.once('exit', () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
    if (ownDir) fs.rmSync(userDir, { recursive: true, force: true });
  };
  const kill = async () => {
    if (!gone()) child.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    pid: child.pid!,
    userDir,
    request: (m, p, b, a) => httpJson(port, m, p, b, a),
    async deploy(flow) {
      const r = await httpJson(port, 'POST', '/flows', flow);
      if (r.status !== 200 && r.status !== 204) throw new Error(`deploy failed: ${r.status} ${JSON.stringify(r.body)}\n${log.slice(-2000)}`);
    },
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    log: () => log,
    rssMb() {
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    },
    stop,
    kill,
  };
}
