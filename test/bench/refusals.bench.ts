// What lines the database refuses cost it: write requests per batch of 100 lines with 0, 1, 5 and 10 field
// type conflicts (`motor_temperature=true` after floats), and 20 batches with one each (a device sending one
// bad field per message), against a real InfluxDB 1.x (Debian's influxd) and VictoriaMetrics.
//
// Baseline, same run: the same writer with the database's message hidden from it (it cannot tell which line
// was refused) and no bound on its bisection — what the writer did before it read the answers. Requests are
// counted at the writer (every send() is one HTTP request) and, for InfluxDB, by InfluxDB itself (httpd
// writeReq); both must agree.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InfluxWriter, type WriterOptions } from '../../nodes/core/influx/writer';
import { Spool } from '../../nodes/core/influx/spool';
import { createInfluxSend, type InfluxConnection } from '../../nodes/core/influx/transport';
import { startInfluxDb1 } from '../support/influxdb1';
import { startVictoria } from '../support/victoria';
import { which } from '../support/net';

const T = 1795307652000;
let run = 0;

/** baseline: message hidden, unbounded bisection; hidden: message hidden, default budget; moby: as shipped */
type Mode = 'baseline' | 'hidden' | 'moby';

interface Outcome {
  requests: number;
  written: number;
  rejected: number;
  diverted: number;
  unresolved: number;
}

async function scenario(conn: InfluxConnection, batches: number, badPerBatch: number, mode: Mode): Promise<Outcome> {
  const real = createInfluxSend(conn);
  const measurement = `bench_refusals_${process.pid}_${run++}`;
  let requests = 0;
  const send = async (body: string) => {
    requests++;
    try {
      await real(body);
    } catch (err) {
      // the baseline cannot read what the database refused
      const e = err as { json?: unknown; message?: string };
      if (mode !== 'moby' && e.json) {
        e.json = { error: 'refused (message hidden from the baseline)' };
        e.message = 'refused';
      }
      throw err;
    }
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moby-bench-refusals-'));
  const opts: WriterOptions = {
    send,
    spool: Spool.open({ dir, fsync: false }),
    batchSize: 100,
    flushIntervalMs: 60000,
  };
  if (mode === 'baseline') Object.assign(opts, { refusalTtlMs: 0, splitBudget: () => Infinity });
  const w = new InfluxWriter(opts);
  await real(`${measurement},device_id=x motor_temperature=1 ${T - 1}`); // the field is a float
  let t = T;
  for (let b = 0; b < batches; b++) {
    const bad = new Set(Array.from({ length: badPerBatch }, (_, k) => Math.floor(((k + 0.5) * 100) / badPerBatch)));
    const lines = Array.from({ length: 100 }, (_, i) =>
      bad.has(i)
        ? `${measurement},device_id=evil motor_temperature=true ${t++}`
        : `${measurement},device_id=d${i % 5} motor_temperature=${20 + i / 10} ${t++}`
    );
    await new Promise<void>((resolve) => w.add(lines, resolve));
  }
  const s = w.stats();
  await w.close(1000);
  fs.rmSync(dir, { recursive: true, force: true });
  return { requests, written: s.written, rejected: s.rejected, diverted: s.diverted, unresolved: s.unresolved };
}

const CASES: Array<[number, number]> = [
  [1, 0],
  [1, 1],
  [1, 5],
  [1, 10],
  [20, 1],
];

async function main(): Promise<void> {
  const influxd = which('influxd');
  const vmBin = which('victoria-metrics');
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`
  );
  if (influxd) {
    const db = await startInfluxDb1(influxd);
    try {
      await db.query('CREATE DATABASE bench');
      const conn: InfluxConnection = {
        url: db.url,
        api: 'v1',
        database: 'bench',
        org: '',
        bucket: '',
        precision: 'ms',
      };
      const writeReq = async () => {
        const [s] = await db.query(`SHOW STATS FOR 'httpd'`);
        return s.values[0][s.columns.indexOf('writeReq')] as number;
      };
      console.log('\nInfluxDB 1.x (influxd), batches of 100 lines: write requests');
      console.log(
        'batches × bad | baseline (unread, unbounded) | MOBY | MOBY written / rejected (diverted, unresolved) | unread message, budget only: requests, unresolved'
      );
      for (const [batches, bad] of CASES) {
        const counted: number[] = [];
        const outcomes: Outcome[] = [];
        for (const mode of ['baseline', 'moby', 'hidden'] as const) {
          const r0 = await writeReq();
          outcomes.push(await scenario(conn, batches, bad, mode));
          counted.push((await writeReq()) - r0 - 1); // each scenario also wrote its one float first
        }
        const [base, moby, hidden] = outcomes;
        if (counted.some((n, i) => n !== outcomes[i].requests))
          throw new Error(`influxd counted ${counted} write requests, the writer ${outcomes.map((o) => o.requests)}`);
        if (base.written !== moby.written || base.rejected !== moby.rejected)
          throw new Error(
            `baseline stored ${base.written}, refused ${base.rejected}; MOBY ${moby.written}, ${moby.rejected}`
          );
        console.log(
          `${batches} × ${bad}`.padEnd(14) +
            `| ${String(base.requests).padEnd(29)}| ${String(moby.requests).padEnd(5)}| ${`${moby.written} / ${moby.rejected} (${moby.diverted}, ${moby.unresolved})`.padEnd(47)}| ${hidden.requests}, ${hidden.unresolved}`
        );
      }
    } finally {
      await db.close();
    }
  } else console.log('influxd not installed: skipped');
  if (vmBin) {
    const vm = await startVictoria(vmBin);
    try {
      const conn: InfluxConnection = { url: vm.url, org: 'o', bucket: 'b', precision: 'ms' };
      console.log('\nVictoriaMetrics (/api/v2/write): it refuses nothing (a boolean is stored as 1)');
      for (const [batches, bad] of CASES) {
        const moby = await scenario(conn, batches, bad, 'moby');
        console.log(
          `${batches} × ${bad}`.padEnd(20) +
            `| requests ${moby.requests}, written ${moby.written}, rejected ${moby.rejected}`
        );
      }
    } finally {
      await vm.close();
    }
  } else console.log('victoria-metrics not installed: skipped');
  console.log(
    `load average at end: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
