// baresip (Debian package baresip-core), a widely used SIP user agent, run
// headless as a lab would point it at a core: one account, no audio, no UI.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const BARESIP = '/usr/bin/baresip';
const MODULES = '/usr/lib/baresip/modules';

export interface BaresipOptions {
  user: string;
  password: string;
  domain: string;
  corePort: number;
  listenPort: number;
}

export interface RunningBaresip {
  readonly child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves once its output matches. */
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  /** Asks it to quit (it de-registers) and waits for it to exit. */
  stop(): Promise<void>;
}

export function startBaresip(o: BaresipOptions): RunningBaresip {
  if (!fs.existsSync(BARESIP)) throw new Error('baresip is not installed; run scripts/install-test-deps.sh (package baresip-core)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baresip-'));
  fs.writeFileSync(path.join(dir, 'config'), [`sip_listen 127.0.0.1:${o.listenPort}`, `module_path ${MODULES}`, 'module_app account.so', ''].join('\n'));
  fs.writeFileSync(
    path.join(dir, 'accounts'),
    `<sip:${o.user}@${o.domain}>;auth_pass=${o.password};outbound="sip:127.0.0.1:${o.corePort}";regint=600\n`,
  );
  const child = spawn(BARESIP, ['-f', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  const waiters: Array<() => void> = [];
  const onData = (b: Buffer): void => {
    text += b.toString('utf8');
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => fs.rmSync(dir, { recursive: true, force: true }));
  return {
    child,
    output: () => text,
    waitFor(pattern, ms = 15000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`baresip never printed ${pattern}; it printed:\n${text}`)), ms);
        const check = (): void => {
          const m = pattern.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          } else waiters.push(check);
        };
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // The `q` command of its console would need a UI module; SIGTERM makes it stop its user agents (de-REGISTER) and quit.
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}
