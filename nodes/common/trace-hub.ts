// Where the pack's SIP traces meet: every endpoint config node keeps its
// trace here (so a redeploy keeps the history of an endpoint that stays), the
// editor's ladder gets live batches over Node-RED's comms and the history
// from an admin endpoint, and trace nodes get every entry as it happens.
// One hub per process: Node-RED gives each node file its own RED object, but
// they all publish into the same runtime.
import { TraceBatcher, type TraceBatch } from '../../lib/trace/trace-batcher';
import { TraceBuffer } from '../../lib/trace/trace-buffer';
import type { TraceEntry } from '../../lib/trace/trace-entry';
import { realScheduler } from '../../lib/util/scheduler';

/** The comms topic of live batches: `{entries: TraceEntry[], dropped: number}`. */
export const TRACE_TOPIC = 'oma-sip/trace';
/** The admin endpoint with the history (relative to the admin root). */
export const TRACE_PATH = '/oma-sip/trace';
export const TRACE_PERMISSION = 'oma-sip.read';
/** Messages larger than this are cut in the trace (a big NOTIFY stays readable; memory stays bounded). */
export const MAX_RAW_CHARS = 64 * 1024;
/** The largest trace an endpoint keeps (entries). */
export const MAX_TRACE_SIZE = 100_000;

interface HttpRequest {
  query?: Record<string, unknown>;
}
interface HttpResponse {
  json(body: unknown): void;
}
type Handler = (req: HttpRequest, res: HttpResponse, next: (err?: unknown) => void) => void;

/** The parts of the runtime API the trace needs; absent parts (a test runtime) are skipped. */
export interface TraceRed {
  httpAdmin?: { get(path: string, ...handlers: Handler[]): unknown };
  auth?: { needsPermission(permission: string): Handler };
  comms?: { publish(topic: string, data: unknown, retain?: boolean): void };
}

export interface TracedEndpoint {
  readonly id: string;
  readonly name: string;
  readonly local: string;
  readonly buffer: TraceBuffer;
}

export type TraceListener = (e: TraceEntry) => void;

export interface EndpointView {
  id: string;
  name: string;
  local: string;
  size: number;
  maxEntries: number;
}

export interface TraceHistory {
  endpoints: EndpointView[];
  entries: TraceEntry[];
}

export class TraceHub {
  private readonly buffers = new Map<string, TraceBuffer>();
  private readonly endpoints = new Map<string, TracedEndpoint>();
  private readonly listeners = new Set<TraceListener>();
  private readonly wantChanged = new Set<() => void>();
  private readonly routed = new WeakSet<object>();
  private publish: ((batch: TraceBatch<TraceEntry>) => void) | undefined;
  private readonly batcher = new TraceBatcher<TraceEntry>(realScheduler, (b) => this.publish?.(b));
  private lastId = 0;

  /** Serves the history on this runtime's admin app (once per app) and publishes live batches through its comms. */
  bind(runtime: object): void {
    const RED = runtime as TraceRed;
    if (RED.comms) {
      const comms = RED.comms;
      this.publish = (b) => comms.publish(TRACE_TOPIC, b, false);
    }
    const app = RED.httpAdmin;
    if (!app || this.routed.has(app)) return;
    this.routed.add(app);
    const allowed: Handler = RED.auth ? RED.auth.needsPermission(TRACE_PERMISSION) : (_q, _s, next) => next();
    app.get(TRACE_PATH, allowed, (req, res) => {
      res.json(this.history(req.query ?? {}));
    });
  }

  nextId(): number {
    return ++this.lastId;
  }

  /**
   * The buffer of endpoint `id`: the one it had before a redeploy when its
   * size did not change, else a new one.
   */
  bufferFor(id: string, maxEntries: number): TraceBuffer {
    const old = this.buffers.get(id);
    if (old && old.maxEntries === maxEntries) return old;
    const b = new TraceBuffer({ maxEntries });
    this.buffers.set(id, b);
    return b;
  }

  add(ep: TracedEndpoint): void {
    this.endpoints.set(ep.id, ep);
  }

  /** The endpoint stops; `removed` (deleted from the flows) also drops its history. */
  remove(ep: TracedEndpoint, removed: boolean): void {
    if (this.endpoints.get(ep.id) === ep) this.endpoints.delete(ep.id);
    if (removed) this.buffers.delete(ep.id);
  }

  /** An entry of an endpoint that keeps a trace: to its buffer, the editor and the listeners. */
  record(ep: TracedEndpoint, e: TraceEntry): void {
    if (ep.buffer.enabled) {
      ep.buffer.push(e);
      this.batcher.add(e);
    }
    this.deliver(e);
  }

  /** An entry of an endpoint without a trace: only trace nodes see it. */
  deliver(e: TraceEntry): void {
    for (const l of this.listeners) l(e);
  }

  /** Whether anyone listens live (endpoints without a trace then still parse their messages). */
  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  listen(l: TraceListener): () => void {
    this.listeners.add(l);
    this.changed();
    return () => {
      this.listeners.delete(l);
      this.changed();
    };
  }

  /** `fn` runs when hasListeners may have changed. */
  onWantChanged(fn: () => void): () => void {
    this.wantChanged.add(fn);
    return () => this.wantChanged.delete(fn);
  }

  private changed(): void {
    for (const fn of this.wantChanged) fn();
  }

  /** Entries of every running endpoint (or one: `endpoint`), oldest first, after id `after`, at most `limit` (the newest). */
  history(query: Record<string, unknown> = {}): TraceHistory {
    const after = Number(query.after) || 0;
    const limit = Number(query.limit) > 0 ? Number(query.limit) : 20_000;
    const only = typeof query.endpoint === 'string' && query.endpoint ? query.endpoint : undefined;
    const endpoints: EndpointView[] = [];
    const entries: TraceEntry[] = [];
    for (const ep of this.endpoints.values()) {
      endpoints.push({ id: ep.id, name: ep.name, local: ep.local, size: ep.buffer.size, maxEntries: ep.buffer.maxEntries });
      if (!only || only === ep.id) entries.push(...ep.buffer.list(after));
    }
    entries.sort((a, b) => a.id - b.id);
    return { endpoints, entries: entries.slice(Math.max(0, entries.length - limit)) };
  }
}

export const traceHub = new TraceHub();
