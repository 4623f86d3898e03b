// Device health: the state machine (memory), message reading, and the shared Redis store.
export * from './table';
export * from './extract';
export * from './service';
export * from './trust';
export * from './sessions';
export * from './ingest-lag';
export * from './will-hold';
