// What every SIP-speaking node does with its endpoint: find it (or say it is
// missing), follow its state, show its trouble in the node's own status, and
// let go on close. Status redraws are throttled for nodes that handle
// thousands of users at once.
import { endpointConfig, type EndpointConfig, type EndpointState } from './endpoint-link';
import type { Translate } from './i18n';
import type { NodeDef, RedApi, RedNode } from './red';
import { failed, short, working } from './status';

export interface EndpointUse {
  readonly config: EndpointConfig;
  /** Starts following the endpoint (binds it on first use); call once the node is set up. */
  attach(): void;
  /** Shows the endpoint's state if it is not listening, and says whether it did. */
  showTrouble(): boolean;
  detach(): void;
}

/**
 * The endpoint that `node`'s `endpoint` property names; undefined (with a red
 * status and an error) when none is configured. After attach(), `onState`
 * runs on every change of the endpoint's state.
 */
export function useEndpoint(RED: RedApi, node: RedNode, def: NodeDef, t: Translate, onState: () => void): EndpointUse | undefined {
  const config = endpointConfig(RED, def.endpoint);
  if (!config) {
    node.status(failed(t(`${def.type}.status.no-endpoint`)));
    node.error(t(`${def.type}.errors.no-endpoint`));
    return undefined;
  }
  let state: EndpointState = config.state;
  const link = {
    onEndpointState(s: EndpointState) {
      state = s;
      onState();
    },
  };
  const use: EndpointUse = {
    config,
    showTrouble() {
      if (state.kind === 'failed') {
        node.status(failed(short(t(`${def.type}.status.endpoint-failed`, { error: state.error }))));
        return true;
      }
      if (state.kind !== 'listening') {
        node.status(working(t(`${def.type}.status.starting`)));
        return true;
      }
      return false;
    },
    attach: () => config.attach(link),
    detach: () => config.detach(link),
  };
  return use;
}

/** Runs `fn` at most every `ms`; `now()` runs it at once when `immediate()` says so. */
export function throttled(fn: () => void, ms: number, immediate: () => boolean): { now(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    now() {
      if (immediate()) return fn();
      timer ??= setTimeout(() => {
        timer = undefined;
        fn();
      }, ms);
    },
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/**
 * On close (redeploy, shutdown): say goodbye on the wire while the endpoint
 * is still up (de-REGISTER, un-SUBSCRIBE; bounded by the caller), then
 * release everything and let the endpoint close.
 */
export function closeGracefully(node: RedNode, endpoint: EndpointUse, goodbye: () => Promise<void>, release: () => void): void {
  node.on('close', (_removed, done) => {
    const finish = (): void => {
      release();
      endpoint.detach();
      done();
    };
    if (endpoint.config.state.kind === 'listening') goodbye().then(finish, finish);
    else finish();
  });
}
