// Runtime side of the SIP ladder editor plugin: makes sure the trace history
// is served even before any endpoint node exists. The editor side is the
// .html beside this file.
import { traceHub } from '../common/trace-hub';

interface PluginRed {
  plugins?: { registerPlugin(id: string, definition: object): void };
}

export = function (RED: PluginRed): void {
  traceHub.bind(RED);
  RED.plugins?.registerPlugin('oma-sip-ladder', { type: 'oma-sip-ladder' });
};
