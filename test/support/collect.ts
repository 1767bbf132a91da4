// Waiting for node output in tests without sleeping. A `collect` node (a
// test-only node type) queues every message from the moment the flow starts,
// so nothing sent before the test looks is lost; a test takes the next
// message that matches.
import type { TestNode } from './test-helper-types';

export class Collector {
  private readonly queue: any[] = [];
  private readonly waiters: Array<{ match: (m: any) => boolean; resolve: (m: any) => void; timer: NodeJS.Timeout }> = [];

  push(msg: any): void {
    const i = this.waiters.findIndex((w) => w.match(msg));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      w!.resolve(msg);
    } else this.queue.push(msg);
  }

  get received(): any[] {
    return this.queue;
  }

  /** Resolves with the first message (queued or future) matching; rejects after `ms`. */
  next(match: (m: any) => boolean = () => true, ms = 10000, what = 'a message'): Promise<any> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const idx = this.waiters.findIndex((w) => w.resolve === resolve);
        if (idx >= 0) this.waiters.splice(idx, 1);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got: ${JSON.stringify(this.queue.map((m) => m.payload))}`));
      }, ms);
      this.waiters.push({ match, resolve, timer });
    });
  }

  event(name: string, ms?: number): Promise<any> {
    return this.next((m) => m?.payload?.event === name, ms, `event "${name}"`);
  }
}

const live = new Map<string, Collector>();

/** The collector of the `collect` node with this id in the flow loaded now. */
export function collected(id: string): Collector {
  const c = live.get(id);
  if (!c) throw new Error(`no collect node "${id}" in the loaded flow`);
  return c;
}

/** Node module of the test-only `collect` node type. */
export function collectNode(RED: { nodes: { createNode(n: object, d: object): void; registerType(t: string, c: unknown): void } }): void {
  RED.nodes.registerType('collect', function (this: { on(e: string, cb: (msg: any, send: unknown, done: () => void) => void): void }, def: { id: string }) {
    RED.nodes.createNode(this, def);
    const c = new Collector();
    live.set(def.id, c);
    this.on('input', (msg, _send, done) => {
      c.push(msg);
      done();
    });
  });
}

export interface StatusCall {
  fill?: string;
  shape?: string;
  text?: string;
}

/** Statuses the node has shown so far (the helper spies on every node's status calls). */
export function statusHistory(node: TestNode): StatusCall[] {
  const spy = node.status as { getCalls?: () => Array<{ thisValue: unknown; args: [StatusCall] }> };
  return (spy.getCalls?.() ?? []).filter((c) => c.thisValue === node).map((c) => c.args[0]);
}

/** Resolves with the first status of `node`, already shown or to come, that matches. */
export function statusOf(node: TestNode, match: (s: StatusCall) => boolean, ms = 10000, what = 'a status'): Promise<StatusCall> {
  const past = statusHistory(node).find(match);
  if (past) return Promise.resolve(past);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      node.removeListener('call:status', listener);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}; statuses: ${JSON.stringify(statusHistory(node))}`));
    }, ms);
    const listener = (call: { args: [StatusCall] }) => {
      if (match(call.args[0])) {
        clearTimeout(timer);
        node.removeListener('call:status', listener);
        resolve(call.args[0]);
      }
    };
    node.on('call:status', listener);
  });
}
