// Config node: one SIP stack (sockets, transactions) shared by the nodes that use it.
import { SipEndpoint } from '../lib/sip/endpoint';
import { wireToText } from '../lib/sip/codec';
import type { WireEvent } from '../lib/sip/endpoint';
import type { EndpointConfig, EndpointState, EndpointUser } from './common/endpoint-link';
import { EndpointTrace } from './common/endpoint-trace';
import { translator, type Translate } from './common/i18n';
import { traceHub } from './common/trace-hub';
import { flag, integer, text, type NodeDef, type RedApi, type RedNode } from './common/red';

class EndpointAdapter implements EndpointConfig {
  readonly endpoint: SipEndpoint;
  readonly domain: string;
  readonly core: string;
  readonly trace: EndpointTrace;
  state: EndpointState = { kind: 'idle' };
  private readonly users = new Set<EndpointUser>();
  private readonly contactUsers = new Set<string>();
  private started: Promise<SipEndpoint> | undefined;

  constructor(
    node: RedNode,
    def: NodeDef,
    t: Translate,
  ) {
    const transport = text(def, 'transport', 'udp') === 'tcp' ? 'tcp' : 'udp';
    const address = text(def, 'address', '127.0.0.1') || '127.0.0.1';
    const port = integer(def, 'port', 0);
    const coreHost = text(def, 'coreHost');
    const corePort = integer(def, 'corePort', 5060);
    this.domain = text(def, 'domain', 'lab.test');
    this.core = coreHost ? `${coreHost}:${corePort}` : '';
    this.endpoint = new SipEndpoint({
      transport,
      address,
      port,
      outboundProxy: coreHost ? { host: coreHost, port: corePort, transport } : undefined,
      timers: { t1: integer(def, 't1', 500) },
    });
    if (flag(def, 'logMessages', false)) {
      this.endpoint.on('wire', (w: WireEvent) =>
        node.log(`${w.direction === 'in' ? '<<' : '>>'} ${w.peer.protocol} ${w.peer.address}:${w.peer.port}\n${wireToText(w.wire)}`),
      );
    }
    this.trace = new EndpointTrace(traceHub, node.id, def.name || undefined, this.endpoint, integer(def, 'traceSize', 500));
    this.endpoint.on('error', (err: Error) => node.warn(t('oma-sip-endpoint.errors.socket', { error: err.message })));
    this.node = node;
    this.t = t;
  }

  private readonly node: RedNode;
  private readonly t: Translate;

  /**
   * Binds on first use, so an endpoint whose only user is disabled (the lab
   * core, when a real core takes over its port) never holds the port.
   */
  private start(): Promise<SipEndpoint> {
    if (this.started) return this.started;
    const { node, t } = this;
    this.setState({ kind: 'starting' });
    this.started = this.endpoint.start().then(
      () => {
        this.setState({ kind: 'listening', hostPort: this.endpoint.hostPort, transport: this.endpoint.protocol });
        node.log(t('oma-sip-endpoint.log.listening', { transport: this.endpoint.protocol.toUpperCase(), hostPort: this.endpoint.hostPort }));
        return this.endpoint;
      },
      (err: Error) => {
        this.setState({ kind: 'failed', error: err.message });
        node.error(t('oma-sip-endpoint.errors.bind', { error: err.message }));
        throw err;
      },
    );
    // Users await ready(); an unobserved rejection here must not reach the runtime.
    this.started.catch(() => undefined);
    return this.started;
  }

  ready(): Promise<SipEndpoint> {
    return this.start();
  }

  private setState(state: EndpointState): void {
    this.state = state;
    for (const u of this.users) u.onEndpointState(state);
  }

  attach(user: EndpointUser): void {
    this.users.add(user);
    user.onEndpointState(this.state);
    void this.start().catch(() => undefined);
  }

  detach(user: EndpointUser): void {
    this.users.delete(user);
  }

  claimContactUser(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9\-_.!~*'()&=+$,;?/]/g, '') || 'user';
    let name = clean;
    for (let i = 2; this.contactUsers.has(name); i++) name = `${clean}-${i}`;
    this.contactUsers.add(name);
    return name;
  }

  releaseContactUser(user: string): void {
    this.contactUsers.delete(user);
  }

  /** Waits for the nodes using this endpoint to finish their goodbyes, then closes the sockets. */
  async close(removed = false): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.users.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    try {
      await this.endpoint.close();
    } finally {
      this.trace.close(removed);
    }
    this.setState({ kind: 'closed' });
  }
}

export = function (RED: RedApi): void {
  traceHub.bind(RED);
  RED.nodes.registerType('oma-sip-endpoint', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const adapter = new EndpointAdapter(this, def, translator(RED, 'oma-sip-endpoint'));
    (this as unknown as { omaEndpoint: EndpointConfig }).omaEndpoint = adapter;
    this.on('close', (removed, done) => {
      adapter.close(removed).then(done, (err: Error) => {
        this.warn(err.message);
        done();
      });
    });
  });
};
