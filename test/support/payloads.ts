// The two example device payloads of the ingest issue (nested with units, and the flat seed format), shared
// by the hmac, normalize and ingest-flow tests and benchmarks.
export const PUMP = {
  device_id: 'pump-7',
  ts: '2025-11-17T10:30:00Z',
  hw: 'rev3',
  components: {
    motor: { temperature: { value: 71.2, unit: '°C' }, current: 3.4 },
    bearing: { vibration: { rms: 0.12 } },
  },
  accel: [0.01, 0.02, 9.81],
};
export const SENSOR = {
  device_id: 'sensor_001',
  temperature: 25.3,
  humidity: 60.5,
  vibration: 0.12,
  sound: 45.8,
  timestamp: '2025-11-17T10:30:00Z',
};

/** The exact texts a device would sign (JSON.stringify of the objects above). */
export const PUMP_BODY = JSON.stringify(PUMP);
export const SENSOR_BODY = JSON.stringify(SENSOR);
