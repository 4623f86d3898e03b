import assert from 'node:assert/strict';
import { countIn, countRejected, metricsText, provideGauge } from '../../../nodes/lib/metrics';

describe('metrics registry', () => {
  it('counts messages per node type and sums gauge providers with equal labels', async () => {
    countIn('moby-test-node', 3);
    countRejected('moby-test-node', 'malformed');
    const a = provideGauge('moby_test_things', 'things by state', ['state'], () => [
      { labels: { state: 'ok' }, value: 2 },
    ]);
    const b = provideGauge('moby_test_things', 'things by state', ['state'], () => [
      { labels: { state: 'ok' }, value: 5 },
    ]);
    let text = await metricsText();
    assert.match(text, /moby_messages_total\{node_type="moby-test-node",outcome="in"\} 3/);
    assert.match(text, /moby_rejects_total\{node_type="moby-test-node",code="malformed"\} 1/);
    assert.match(text, /moby_test_things\{state="ok"\} 7/);
    b();
    text = await metricsText();
    assert.match(text, /moby_test_things\{state="ok"\} 2/);
    a();
  });
});
