// Batch mode's per-node wrapper (nodes/core/batch.ts): a node's ordinary per-message handler runs on every item;
// what the items send leaves as one batch per output; the batch completes only when every item has, and fails
// if any item fails.
import assert from 'node:assert/strict';
import { eachInBatch, isBatch } from '../../../nodes/core/batch';

type Msg = Record<string, unknown>;

function harness<H extends (msg: Msg, send: (m: unknown) => void, done: (e?: Error) => void) => void>(handler: H) {
  const sent: unknown[] = [];
  const dones: Array<Error | undefined> = [];
  const input = eachInBatch(handler);
  return {
    sent,
    dones,
    run: (msg: Msg) =>
      input(
        msg,
        (m: unknown) => sent.push(m),
        (e?: Error) => dones.push(e)
      ),
  };
}

describe('batch mode: eachInBatch', () => {
  it('passes a plain message straight to the handler', () => {
    const h = harness((msg, send, done) => {
      send(msg);
      done();
    });
    const m = { _msgid: 'a', payload: 1 };
    h.run(m);
    assert.equal(h.sent[0], m);
    assert.deepEqual(h.dones, [undefined]);
  });

  it('fails a plain message whose handler throws, as it fails such an item of a batch (before: left to the runtime, which logs a throw and never completes the message)', () => {
    const h = harness((msg) => {
      if (msg.payload === 'throw') throw new RangeError('Maximum call stack size exceeded');
      throw 'not an Error';
    });
    h.run({ _msgid: 'c1', payload: 'throw' });
    h.run({ _msgid: 'c2', payload: 'other' });
    assert.equal(h.dones.length, 2);
    assert.ok(h.dones[0] instanceof RangeError);
    assert.ok(h.dones[1] instanceof Error);
    assert.equal(h.dones[1]?.message, 'not an Error');
  });

  it('runs the handler per item and sends one batch per output, rejects keeping their code', () => {
    const seen: unknown[] = [];
    // a two-output node: even payloads pass, odd ones are rejected with a code
    const h = harness((msg, send, done) => {
      seen.push(msg._msgid);
      if ((msg.payload as number) % 2 === 0) send([{ ...msg, payload: (msg.payload as number) * 10 }, null]);
      else send([null, { ...msg, moby: { reject: { code: 'odd', reason: 'odd value' } } }]);
      done();
    });
    h.run({ _msgid: 'b1', topic: 't', batch: [{ payload: 0 }, { payload: 1 }, { payload: 2 }] });
    assert.deepEqual(seen, ['b1', 'b1', 'b1'], 'every item carries the batch id');
    assert.equal(h.sent.length, 1, 'one send for the whole batch');
    const [ok, rejected] = h.sent[0] as Array<{ _msgid: string; topic: string; batch: Msg[] }>;
    assert.equal(ok._msgid, 'b1');
    assert.equal(ok.topic, 't');
    assert.deepEqual(
      ok.batch.map((m) => m.payload),
      [0, 20]
    );
    assert.deepEqual(
      rejected.batch.map((m) => (m.moby as { reject: { code: string } }).reject.code),
      ['odd']
    );
    assert.ok(isBatch(ok) && isBatch(rejected));
    assert.deepEqual(h.dones, [undefined]);
  });

  it('sends the outputs named in ownSend in a send() of their own (Node-RED clones all but the first message of one send)', () => {
    const sent: unknown[] = [];
    const dones: Array<Error | undefined> = [];
    // verify's shape: output 1 the message, output 3 a view of it for another consumer
    const input = eachInBatch(
      (msg: Msg, send: (m: unknown) => void, done: (e?: Error) => void) => {
        send([msg, null]);
        send([null, null, { view: msg.payload }]);
        done();
      },
      { ownSend: [2] }
    );
    input(
      { _msgid: 'b9', batch: [{ payload: 1 }, { payload: 2 }] },
      (m: unknown) => sent.push(m),
      (e?: Error) => dones.push(e)
    );
    assert.equal(sent.length, 2, 'the batch of output 1, then the batch of output 3 on its own');
    const [first, second] = sent as Array<Array<{ _msgid: string; batch: Msg[] } | null>>;
    assert.ok(first[1] == null && first[2] == null, 'output 3 is not in the first send');
    assert.deepEqual(
      first[0]!.batch.map((m) => m.payload),
      [1, 2]
    );
    assert.deepEqual(second.slice(0, 2), [null, null]);
    assert.equal(second[2]!._msgid, 'b9', 'the view batch keeps the batch id (completion tracking)');
    assert.deepEqual(
      second[2]!.batch.map((m) => m.view),
      [1, 2]
    );
    assert.deepEqual(dones, [undefined]);
  });

  it('completes the batch only when the last item completes (asynchronously), with their later sends first', async () => {
    const later: Array<() => void> = [];
    const h = harness((msg, send, done) => {
      later.push(() => {
        send(msg);
        done();
      });
    });
    h.run({ _msgid: 'b2', batch: [{ payload: 'x' }, { payload: 'y' }, { payload: 'z' }] });
    assert.deepEqual(h.dones, [], 'nothing is complete yet');
    later[0]();
    later[1]();
    await Promise.resolve();
    assert.deepEqual(h.dones, [], 'one item is still open');
    assert.equal(h.sent.length, 1, 'the two sends of one turn leave in one batch');
    assert.deepEqual(
      (h.sent[0] as { batch: Msg[] }).batch.map((m) => m.payload),
      ['x', 'y']
    );
    later[2]();
    assert.equal(h.sent.length, 2, "the last item's send leaves before the batch completes");
    assert.deepEqual(
      (h.sent[1] as { batch: Msg[] }).batch.map((m) => m.payload),
      ['z']
    );
    assert.deepEqual(h.dones, [undefined]);
  });

  it('fails the batch when one item fails or throws, naming how many failed', () => {
    const h = harness((msg, _send, done) => {
      if (msg.payload === 'bad') return done(new Error('cannot store dev-7'));
      if (msg.payload === 'throw') throw new Error('boom');
      done();
    });
    h.run({ _msgid: 'b3', batch: [{ payload: 'ok' }, { payload: 'bad' }] });
    assert.equal(h.dones.length, 1);
    assert.match(String(h.dones[0]?.message), /cannot store dev-7/);
    h.run({ _msgid: 'b4', batch: [{ payload: 'bad' }, { payload: 'throw' }, { payload: 'ok' }] });
    assert.match(String(h.dones[1]?.message), /2 of 3 items of the batch failed; first: cannot store dev-7/);
  });

  it('counts a second done() of an item once, completes an empty batch, and wraps bare values', () => {
    const payloads: unknown[] = [];
    const h = harness((msg, _send, done) => {
      payloads.push(msg.payload);
      done();
      done();
    });
    h.run({ _msgid: 'b5', batch: [] });
    assert.deepEqual(h.dones, [undefined]);
    h.run({ _msgid: 'b6', batch: [5, 'text'] as unknown as Msg[] });
    assert.deepEqual(payloads, [5, 'text']);
    assert.deepEqual(h.dones, [undefined, undefined]);
    assert.equal(h.sent.length, 0, 'nothing sent, nothing emitted');
  });
});
