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

/**
 * Runs `fn` at most every `ms`: at once when it has not run for `ms` (or when
 * `immediate()` says so), else once at the end of that window, so a burst of
 * calls costs two redraws and the last state always shows.
 */
export function throttled(fn: () => void, ms: number, immediate: () => boolean): { now(): void; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let last = -Infinity;
  const run = (): void => {
    last = Date.now();
    fn();
  };
  return {
    now() {
      if (immediate()) return run();
      if (timer) return;
      const wait = last + ms - Date.now();
      if (wait <= 0) return run();
      timer = setTimeout(() => {
        timer = undefined;
        run();
      }, wait);
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
    if (endpoint.config.state.kind === 'listening') {
      const saying = goodbye();
      goodbyes.add(saying);
      lastGoodbyeAt = Date.now();
      const end = (): void => {
        goodbyes.delete(saying);
        lastGoodbyeAt = Date.now();
        finish();
      };
      saying.then(end, end);
    } else finish();
  });
}

// Goodbyes on the wire in this runtime now. Node-RED closes every node at
// once on redeploy, so a server must keep answering while clients de-register:
// the core tells it of each by a third-party REGISTER.
const goodbyes = new Set<Promise<void>>();
let lastGoodbyeAt = 0;

/**
 * Resolves once no goodbye is in progress and neither a goodbye nor the
 * caller's own traffic (`lastActivity`, ms) happened for `quietMs`: what the
 * core sends after a goodbye has arrived by then. At the latest after `maxMs`.
 */
export async function afterGoodbyes(lastActivity: () => number, quietMs = 500, maxMs = 4500): Promise<void> {
  const deadline = Date.now() + maxMs;
  // A tick first: the other nodes' close handlers run in the same loop as ours.
  await new Promise((r) => setTimeout(r, 20));
  while (Date.now() < deadline) {
    const quietSince = Math.max(lastGoodbyeAt, lastActivity());
    if (goodbyes.size === 0 && Date.now() - quietSince >= quietMs) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
