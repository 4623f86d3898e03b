// Public API of the InfluxDB writer core (line protocol mapping, spool, batching writer, transport).
export * from './line-protocol';
export * from './spool';
export * from './writer';
export * from './transport';
