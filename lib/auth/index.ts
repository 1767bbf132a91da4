/** SIP Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760): parsing, hashing, client and server. */
export * from './digest-params';
export * from './digest-hash';
export * from './digest-client';
export * from './digest-server';
