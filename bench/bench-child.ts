// A benchmark's other side in a process of its own (as a client is on
// another host), so that the measured process's CPU and RSS are its own:
// forked with IPC; what it sends back is read in order, none lost between
// two reads.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export interface BenchChild {
  process: ChildProcess;
  /** The next message from the child; rejects when the child exits first. */
  next<T>(): Promise<T>;
  /** Sends to the child; nothing when it is gone (its exit is reported by next()). */
  send(message: unknown): void;
}

/** Forks `dist/bench/<file>` with `env` added to ours; the child dies with us. */
export function forkBenchChild(file: string, env: Record<string, string> = {}): BenchChild {
  const child = fork(path.join(__dirname, file), [], { env: { ...process.env, ...env } });
  process.on('exit', () => child.kill());
  const queued: unknown[] = [];
  const waiting: Array<{ resolve: (m: unknown) => void; reject: (e: Error) => void }> = [];
  let exited: Error | undefined;
  child.on('message', (m) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else queued.push(m);
  });
  child.on('exit', (code, signal) => {
    exited = new Error(`${file} exited (${signal ?? code}) before answering`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  return {
    process: child,
    next<T>(): Promise<T> {
      if (queued.length) return Promise.resolve(queued.shift() as T);
      if (exited) return Promise.reject(exited);
      return new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (m: unknown) => void, reject }));
    },
    send: (m) => {
      if (child.connected) child.send(m as never);
    },
  };
}
