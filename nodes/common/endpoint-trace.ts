// An endpoint config node's trace: turns the stack's `wire` events into trace
// entries while the endpoint keeps a trace or a trace node listens, and
// nothing at all otherwise (parsing every message costs a load test).
import { wireToText } from '../../lib/sip/codec';
import type { SipEndpoint, WireEvent } from '../../lib/sip/endpoint';
import { TraceBuffer } from '../../lib/trace/trace-buffer';
import { traceEntry } from '../../lib/trace/trace-entry';
import { MAX_RAW_CHARS, MAX_TRACE_SIZE, type TracedEndpoint, type TraceHub } from './trace-hub';

export class EndpointTrace implements TracedEndpoint {
  readonly buffer: TraceBuffer;
  private listening = false;
  private readonly stopWatching: () => void;
  private readonly onWire = (w: WireEvent): void => this.trace(w);

  constructor(
    private readonly hub: TraceHub,
    readonly id: string,
    private readonly label: string | undefined,
    private readonly endpoint: SipEndpoint,
    size: number,
  ) {
    // The editor refuses more; a hand-edited flow must not allocate a huge ring.
    this.buffer = hub.bufferFor(id, Math.min(MAX_TRACE_SIZE, Math.max(0, size)));
    hub.add(this);
    this.stopWatching = hub.onWantChanged(() => this.refresh());
    this.refresh();
  }

  /** The name lanes show: the node's name, else its transport and address. */
  get name(): string {
    return this.label || `${this.endpoint.protocol.toUpperCase()} ${this.local}`;
  }

  get local(): string {
    return this.endpoint.hostPort;
  }

  private refresh(): void {
    const want = this.buffer.enabled || this.hub.hasListeners;
    if (want === this.listening) return;
    this.listening = want;
    if (want) this.endpoint.on('wire', this.onWire);
    else this.endpoint.off('wire', this.onWire);
  }

  private trace(w: WireEvent): void {
    const e = traceEntry(
      this.hub.nextId(),
      Date.now(),
      { endpointId: this.id, endpoint: this.name, local: this.local },
      { direction: w.direction, peer: w.peer, text: wireToText(w.wire) },
      MAX_RAW_CHARS,
    );
    this.hub.record(this, e);
  }

  close(removed: boolean): void {
    this.stopWatching();
    this.endpoint.off('wire', this.onWire);
    this.listening = false;
    this.hub.remove(this, removed);
  }
}
