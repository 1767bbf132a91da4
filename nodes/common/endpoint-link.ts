// How nodes reach the SIP stack of their `oma-sip-endpoint` config node, and
// how it tells them about its state (the Node-RED core's MQTT broker pattern:
// users register, the config node fans its state out to them).
import type { SipEndpoint } from '../../lib/sip/endpoint';
import type { RedApi } from './red';

export type EndpointState =
  | { kind: 'idle' }
  | { kind: 'starting' }
  | { kind: 'listening'; hostPort: string; transport: string }
  | { kind: 'failed'; error: string }
  | { kind: 'closed' };

export interface EndpointUser {
  onEndpointState(state: EndpointState): void;
}

export interface EndpointConfig {
  readonly endpoint: SipEndpoint;
  /** Home domain of users of this endpoint. */
  readonly domain: string;
  /** The SIP/IP core, as `host:port`, or '' when none is configured. */
  readonly core: string;
  readonly state: EndpointState;
  /** Resolves once listening; rejects with a clear error when binding failed. */
  ready(): Promise<SipEndpoint>;
  attach(user: EndpointUser): void;
  detach(user: EndpointUser): void;
  /** A Contact user part unique on this endpoint, based on `base`. */
  claimContactUser(base: string): string;
  releaseContactUser(user: string): void;
}

export function endpointConfig(RED: RedApi, id: unknown): EndpointConfig | undefined {
  if (typeof id !== 'string' || !id) return undefined;
  const n = RED.nodes.getNode(id) as { omaEndpoint?: EndpointConfig } | null;
  return n?.omaEndpoint;
}
