// A port on 127.0.0.1 that is free for both UDP and TCP.
//
// SIP listens on the same port number over both transports, so a port free
// for one only is useless. The check binds both sockets and releases them;
// another process may still take the port before the caller binds it, which
// is why callers retry when their own bind fails.

import dgram from 'node:dgram';
import net from 'node:net';

const HOST = '127.0.0.1';

function bindTcp(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host: HOST, exclusive: true }, () => resolve(server));
  });
}

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind({ port, address: HOST, exclusive: true }, () => resolve(socket));
  });
}

function closeTcp(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function closeUdp(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** Tries one candidate: the TCP port the OS picks (0) or a given one, then UDP on the same number. */
async function tryPort(candidate: number): Promise<number | undefined> {
  let server: net.Server;
  try {
    server = await bindTcp(candidate);
  } catch {
    return undefined;
  }
  const port = (server.address() as net.AddressInfo).port;
  try {
    const socket = await bindUdp(port);
    await closeUdp(socket);
    return port;
  } catch {
    return undefined;
  } finally {
    await closeTcp(server);
  }
}

/**
 * Returns a port number free for UDP and TCP on 127.0.0.1.
 * The OS chooses the TCP port (ephemeral range); UDP is checked on the same number.
 */
export async function freePort(attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const port = await tryPort(0);
    if (port !== undefined) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${HOST} after ${attempts} attempts`);
}
