import assert from 'node:assert/strict';
import { lineShape, readRefusal, RefusalMemory } from '../../../../nodes/core/influx/refusals';

describe('influx refusals', () => {
  it('reads what InfluxDB 1.x answers (texts measured against influxd 1.6) and ignores what it does not name', () => {
    assert.deepEqual(
      readRefusal(
        'partial write: field type conflict: input field "motor_temperature" on measurement "telemetry" is type boolean, already exists as type float dropped=2'
      ),
      {
        refusal: { kind: 'field', key: 'motor_temperature', measurement: 'telemetry', type: 'boolean' },
        partial: true,
        dropped: 2,
        unparsable: [],
      }
    );
    assert.deepEqual(
      readRefusal(
        'partial write: invalid field name: input field "time" on measurement "telemetry" is invalid dropped=1'
      ).refusal,
      { kind: 'field', key: 'time', measurement: 'telemetry', type: '*' }
    );
    assert.deepEqual(
      readRefusal('partial write: invalid tag key: input tag "time" on measurement "telemetry" is invalid dropped=1')
        .refusal,
      { kind: 'tag', key: 'time', measurement: 'telemetry', type: '*' }
    );
    const parse = readRefusal(
      "partial write: unable to parse 'm,device_id=a v= 1': missing field value\nunable to parse 'm x': invalid field format dropped=0"
    );
    assert.deepEqual(parse, { refusal: null, partial: true, dropped: 0, unparsable: ['m,device_id=a v= 1', 'm x'] });
    assert.deepEqual(readRefusal('unauthorized'), { refusal: null, partial: false, unparsable: [] });
  });

  it('parses a line: escaped names, quoted strings with commas and spaces, every value type', () => {
    assert.deepEqual(lineShape('my\\ m\\,x,device_id=a\\ b,k\\=1=v s="a, b=\\"c\\" d",f=1.5,i=3i,u=4u,b=true,B=F 17'), {
      measurement: 'my m,x',
      tagKeys: ['device_id', 'k=1'],
      fields: [
        { key: 's', type: 'string' },
        { key: 'f', type: 'float' },
        { key: 'i', type: 'integer' },
        { key: 'u', type: 'unsigned' },
        { key: 'b', type: 'boolean' },
        { key: 'B', type: 'boolean' },
      ],
    });
    assert.equal(lineShape('m'), null);
    assert.equal(lineShape('m v="open'), null);
  });

  it('matches the refused field of the refused type on that measurement only, forgets after its time, stays bounded', () => {
    const mem = new RefusalMemory(1000, 2);
    const r = readRefusal(
      'partial write: field type conflict: input field "v" on measurement "m" is type boolean, already exists as type float dropped=1'
    ).refusal!;
    mem.remember(r, 400, 'conflict', 0);
    assert.ok(mem.match('m,device_id=a v=true 1', 10));
    assert.ok(mem.match('m,device_id=a x=1,v=F 1', 10));
    assert.equal(mem.match('m,device_id=a v=1 1', 10), undefined, 'a float is fine');
    assert.equal(mem.match('m,device_id=a vv=true 1', 10), undefined, 'another field');
    assert.equal(mem.match('n,device_id=a v=true 1', 10), undefined, 'another measurement');
    assert.equal(mem.match('m,v=true s="v=true" 1', 10), undefined, 'a tag or a string holding the text');
    assert.equal(mem.match('m,device_id=a v=true 1', 1000), undefined, 'forgotten after ttl');
    assert.equal(mem.size, 0);
    for (const k of ['a', 'b', 'c']) mem.remember({ kind: 'tag', measurement: 'm', key: k, type: '*' }, 400, k, 0);
    assert.equal(mem.size, 2, 'bounded: the oldest is forgotten');
    assert.equal(mem.match('m,a=1 v=1 1', 0), undefined);
    assert.equal(mem.match('m,c=1 v=1 1', 0)?.reason, 'c');
    // beyond a few refusals the line is parsed once and its keys looked up: same answers
    const many = new RefusalMemory(1000, 100);
    for (let i = 0; i < 20; i++) many.remember({ ...r, key: `k${i}` }, 400, `k${i}`, 0);
    many.remember({ kind: 'field', measurement: 'm', key: 'time', type: '*' }, 400, 'time', 0);
    many.remember({ kind: 'tag', measurement: 'm', key: 'time', type: '*' }, 400, 'tag time', 0);
    assert.equal(many.match('m,device_id=a x=1,k7=true 1', 10)?.reason, 'k7');
    assert.equal(many.match('m,device_id=a k7=1 1', 10), undefined, 'a float is fine');
    assert.equal(many.match('n,device_id=a k7=true 1', 10), undefined, 'another measurement');
    assert.equal(many.match('m time="x" 1', 10)?.reason, 'time', 'any type');
    assert.equal(many.match('m,time=x v=1 1', 10)?.reason, 'tag time');
    assert.equal(many.match('m,device_id=a k7=true 1', 1000), undefined, 'forgotten after ttl');
    const none = new RefusalMemory(0);
    none.remember(r, 400, 'x', 0);
    assert.equal(none.size, 0, 'ttl 0 keeps nothing');
  });
});
