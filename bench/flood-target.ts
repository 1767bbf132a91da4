// The endpoint under attack in bench/flood.ts, in its own process so that its
// RSS is its own. It answers OPTIONS at once and MESSAGE after a second (an
// application that is slow to answer, so that unanswered requests pile up),
// samples its RSS every 50 ms and reports to the parent over IPC.
import { SipEndpoint } from '../lib/sip/endpoint';

export interface TargetReport {
  rssPeakMb: number;
  rssNowMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  serverTransactions: number;
  bufferedBytes: number;
  shed: number;
  shedConnections: number;
  handled: number;
}

const MB = 1024 * 1024;

async function main(): Promise<void> {
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0 });
  let handled = 0;
  ep.addHandler((req) => {
    if (req.message.method === 'OPTIONS') {
      handled++;
      req.respond(200);
      return true;
    }
    if (req.message.method === 'MESSAGE') {
      handled++;
      setTimeout(() => req.respond(200), 1000);
      return true;
    }
    return false;
  });
  await ep.start();
  let peak = 0;
  const sample = () => (peak = Math.max(peak, process.memoryUsage.rss()));
  setInterval(sample, 50);
  const report = (): TargetReport => {
    sample();
    const load = ep.inputLoad;
    const mem = process.memoryUsage();
    return {
      rssPeakMb: Math.round(peak / MB),
      rssNowMb: Math.round(process.memoryUsage.rss() / MB),
      heapUsedMb: Math.round(mem.heapUsed / MB),
      heapTotalMb: Math.round(mem.heapTotal / MB),
      externalMb: Math.round(mem.external / MB),
      serverTransactions: load.serverTransactions,
      bufferedBytes: load.bufferedBytes,
      shed: load.shed,
      shedConnections: load.shedConnections,
      handled,
    };
  };
  process.on('message', (m: string) => {
    if (m === 'report') process.send!(report());
    else if (m === 'stop') void ep.close().then(() => process.exit(0));
  });
  // An orphaned child stops by itself.
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(0), 180_000).unref();
  process.send!({ port: ep.port, ...report() });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
