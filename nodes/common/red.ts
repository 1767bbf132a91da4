// The slice of the Node-RED runtime API that our nodes use. Kept here rather
// than pulling in community typings: it is small and pins what we rely on.

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
  [key: string]: unknown;
}

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type SendFn = (msg: NodeMessage | Array<NodeMessage | null> | null) => void;
export type DoneFn = (err?: Error) => void;

export interface RedNode {
  id: string;
  type: string;
  name?: string;
  credentials?: Record<string, string | undefined>;
  status(status: NodeStatus): void;
  send(msg: NodeMessage | Array<NodeMessage | null> | null): void;
  log(msg: unknown): void;
  warn(msg: unknown): void;
  error(err: unknown, msg?: NodeMessage): void;
  debug(msg: unknown): void;
  trace(msg: unknown): void;
  on(event: 'input', handler: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
}

export interface CredentialSpec {
  type: 'text' | 'password';
}

export interface RedApi {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(
      type: string,
      constructor: (this: RedNode, def: NodeDef) => void,
      opts?: { credentials?: Record<string, CredentialSpec> },
    ): void;
    getNode(id: string): unknown;
    /** Every node and config node of the deployed flows, as configured. */
    eachNode?(cb: (def: NodeDef) => void): void;
    getCredentials?(id: string): Record<string, string | undefined> | undefined;
  };
  _(key: string, substitutions?: Record<string, string | number>): string;
  /** Runtime settings; `userDir` is where Node-RED keeps its files (absent in some test runtimes). */
  settings?: { userDir?: string };
}

/** Reads a string property of a node definition, trimmed, with a default. */
export function text(def: NodeDef, key: string, fallback = ''): string {
  const v = def[key];
  return typeof v === 'string' ? v.trim() : v === undefined || v === null ? fallback : String(v).trim();
}

/** Reads an integer property; the editor stores numbers as strings. */
export function integer(def: NodeDef, key: string, fallback: number): number {
  const v = Number.parseInt(String(def[key] ?? ''), 10);
  return Number.isFinite(v) ? v : fallback;
}

export function flag(def: NodeDef, key: string, fallback: boolean): boolean {
  const v = def[key];
  if (v === undefined || v === null || v === '') return fallback;
  return v === true || v === 'true';
}

/** A copy without the keys whose value is undefined: debug output stays readable. */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * The message that answers `input`: the input with the output's fields, so
 * properties a flow set (a correlation id, `msg.topic`) come back with the
 * answer; without an input, the output as it is.
 */
export function answerTo(input: NodeMessage | undefined, out: NodeMessage): NodeMessage {
  if (!input) return out;
  return { ...input, ...out, topic: input.topic ?? out.topic };
}
