// Outputs each SIP message an endpoint (or every endpoint) sends and
// receives, for flows that log traffic or assert on it.
import { throttled } from './common/endpoint-user';
import { endpointConfig } from './common/endpoint-link';
import { translator } from './common/i18n';
import type { NodeDef, RedApi, RedNode } from './common/red';
import { failed, idle, up } from './common/status';
import { traceHub } from './common/trace-hub';
import { matches, traceFilter, tracePayload } from './common/trace-output';

export = function (RED: RedApi): void {
  traceHub.bind(RED);
  RED.nodes.registerType('oma-sip-trace', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'oma-sip-trace');
    const filter = traceFilter(def);
    if (filter.endpointId && !endpointConfig(RED, filter.endpointId)) {
      node.status(failed(t('oma-sip-trace.status.no-endpoint')));
      node.error(t('oma-sip-trace.errors.no-endpoint'));
      return;
    }
    let count = 0;
    const showStatus = (): void =>
      node.status(count === 0 ? idle(t('oma-sip-trace.status.waiting')) : up(t(count === 1 ? 'oma-sip-trace.status.one' : 'oma-sip-trace.status.many', { count })));
    // A load test sends thousands of messages a second; the status need not follow each.
    const status = throttled(showStatus, 500, () => false);
    showStatus();
    const stop = traceHub.listen((e) => {
      if (!matches(filter, e)) return;
      count++;
      status.now();
      node.send({ topic: e.summary, payload: tracePayload(e) });
    });
    node.on('close', (_removed, done) => {
      stop();
      status.cancel();
      done();
    });
  });
};
