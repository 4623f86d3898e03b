// The demo simulator's arguments (scripts/lib/demo-sim.js), shared by `npm start` and `npm run start:cluster`:
// the warm-up must cover the calibration the pipeline is told to use, or the demo's faults start before the
// models are fitted and the promised alerts come late.
import assert from 'node:assert/strict';

const { demoSimArgs } = require('../../../scripts/lib/demo-sim.js') as {
  demoSimArgs(o: { devices: number; trainPoints: unknown; warmupIntervalMs: number }): string;
};

const parse = (args: string) => {
  const words = args.split(/\s+/);
  const value = (flag: string) => words[words.indexOf(flag) + 1];
  return {
    devices: value('--devices'),
    faults: value('--faults'),
    warmup: value('--warmup'),
    interval: value('--warmup-interval'),
  };
};

describe('scripts/lib/demo-sim', () => {
  it('warms up for the calibration plus 10 points, at the given interval', () => {
    assert.deepEqual(parse(demoSimArgs({ devices: 20, trainPoints: '600', warmupIntervalMs: 50 })), {
      devices: '20',
      faults: 'demo',
      warmup: '610',
      interval: '50',
    });
    assert.deepEqual(parse(demoSimArgs({ devices: 60, trainPoints: 900, warmupIntervalMs: 100 })), {
      devices: '60',
      faults: 'demo',
      warmup: '910',
      interval: '100',
    });
  });

  it('reads a calibration length from the environment as a whole number, and none as no calibration', () => {
    assert.equal(parse(demoSimArgs({ devices: 20, trainPoints: '600.4', warmupIntervalMs: 50 })).warmup, '610');
    assert.equal(parse(demoSimArgs({ devices: 20, trainPoints: 'lots', warmupIntervalMs: 50 })).warmup, '10');
    assert.equal(parse(demoSimArgs({ devices: 20, trainPoints: '-5', warmupIntervalMs: 50 })).warmup, '10');
  });
});
