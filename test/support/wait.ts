// Polls a condition that an asynchronous event (a datagram, a handler) will make true.

export async function waitFor(cond: () => boolean, what = 'condition', ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
