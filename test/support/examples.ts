// Example flows as the test helper loads them: credentials pulled out of the
// nodes into the helper's credentials map, and every debug node's output
// tapped by a helper node so tests can read what a user would see.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './free-port';
import { projectRoot } from './project-root';

export interface LoadedExample {
  flow: Record<string, unknown>[];
  credentials: Record<string, Record<string, string>>;
  /** debug node id -> id of the helper node that receives the same messages */
  taps: Record<string, string>;
}

export function exampleFiles(): string[] {
  const dir = path.join(projectRoot(), 'examples');
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

export function loadExample(file: string): LoadedExample {
  const nodes = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>[];
  const credentials: Record<string, Record<string, string>> = {};
  const taps: Record<string, string> = {};
  const flow: Record<string, unknown>[] = [];
  for (const n of nodes) {
    const { credentials: cred, ...rest } = n as { credentials?: Record<string, string> };
    if (cred) credentials[String(n.id)] = cred;
    flow.push(rest);
  }
  // Imported nodes land on the tab the user is looking at.
  const tab = 'example-tab';
  for (const n of flow) if ('x' in n) n.z = tab;
  for (const n of [...flow]) {
    if (n.type !== 'debug') continue;
    const tap = `${n.id}-tap`;
    taps[String(n.id)] = tap;
    flow.push({ id: tap, type: 'collect', z: tab });
  }
  flow.unshift({ id: tab, type: 'tab', label: 'example' });
  // Whatever feeds a debug node feeds its tap too.
  for (const n of flow) {
    const wires = n.wires as string[][] | undefined;
    if (!wires) continue;
    n.wires = wires.map((port) => port.flatMap((id) => (taps[id] ? [id, taps[id]!] : [id])));
  }
  return { flow, credentials, taps };
}

/** The fixed ports the examples use: 5060 for the lab core, 5070 for the server. */
export const EXAMPLE_PORTS = ['5060', '5070'] as const;

/**
 * Moves an example to other ports, as a user would in the editor: every port
 * field (`port`, `corePort`, `appServerPort`...) that holds one of the
 * example's ports gets its replacement, so tests never touch 5060 or 5070.
 */
export function movePorts(flow: Record<string, unknown>[], ports: Record<string, number>): void {
  for (const n of flow) {
    for (const [k, v] of Object.entries(n)) {
      if (!/port$/i.test(k)) continue;
      const to = ports[String(v)];
      if (to !== undefined) n[k] = typeof v === 'number' ? to : String(to);
    }
  }
}

/** A distinct free port for each of the examples' fixed ports, for movePorts. */
export async function freeExamplePorts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const taken = new Set<number>();
  for (const p of EXAMPLE_PORTS) {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    out[p] = port;
  }
  return out;
}
