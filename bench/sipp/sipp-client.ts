// SIPp as the client of the settings benchmarks (bench/sipp/publish*.xml):
// one run of `calls` calls, `concurrency` in flight, from a fixed local port
// (the one the server trusts as its core).
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { projectRoot } from '../../test/support/project-root';

/** PUBLISH requests per call of bench/sipp/publish.xml. */
export const PUBLISH_PER_CALL = 4;

export interface SippRun {
  ok: number;
  failed: number;
  /** From SIPp's first to its last message (its own clock), or the wall time of the process when it did not say. */
  seconds: number;
  /** Requests SIPp sent again because no answer came within 500 ms (each one is load the rate does not count). */
  retransmissions: number;
}

export function scenario(name: string): string {
  return path.join(projectRoot(), 'bench', 'sipp', name);
}

/** Runs SIPp as the client to `target`, from the fixed local port the server trusts. */
export async function sippClient(target: number, localPort: number, file: string, csv: string, calls: number, concurrency: number): Promise<SippRun> {
  const args = [
    `127.0.0.1:${target}`, '-sf', file, '-inf', csv, '-i', '127.0.0.1', '-p', String(localPort),
    '-m', String(calls), '-l', String(concurrency), '-r', '100000', '-t', 'u1',
    '-nostdin', '-timeout', '120', '-timeout_error', '-max_socket', '1',
  ];
  const t0 = process.hrtime.bigint();
  const child = spawn('sipp', args, { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ok = Number(/Successful call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? 0);
  const failed = Number(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(out)?.[1] ?? calls - ok);
  if (code !== 0 && ok === 0) throw new Error(`sipp exited ${code}:\n${out.slice(-2000)}`);
  // SIPp's own start and end, not the process's: starting SIPp (reading the
  // injection file, resolving) would otherwise count against the faster side more.
  const started = Number(/Start Time\s*\|.*?([\d.]+)\s*$/m.exec(out)?.[1]);
  const ended = Number([...out.matchAll(/Current Time\s*\|.*?([\d.]+)\s*$/gm)].pop()?.[1]);
  const own = ended - started;
  let retransmissions = 0;
  // The message table of the last screen SIPp printed (the final one).
  const last = out.slice(out.lastIndexOf('Messages  Retrans'));
  for (const m of last.matchAll(/^\s*[A-Z]+ -+>\s+\d+\s+(\d+)/gm)) retransmissions += Number(m[1]);
  return { ok, failed, seconds: Number.isFinite(own) && own > 0 ? own : seconds, retransmissions };
}
