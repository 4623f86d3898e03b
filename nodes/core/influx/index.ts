// Public API of the InfluxDB writer core (line protocol mapping, spool, batching writer, transport, outage log lines).
export * from './line-protocol';
export * from './spool';
export * from './writer';
export * from './transport';
export * from './outage-notice';
