// MSRP (RFC 4975) with the RFC 6135 connection model: framing, chunking,
// reassembly, sessions and the listener that hands connections to them.
export * from './fields';
export * from './frame';
export * from './chunker';
export * from './reassembly';
export * from './uri';
export * from './session';
export * from './listener';
export * from './lazy-listener';
