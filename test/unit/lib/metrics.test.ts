import assert from 'node:assert/strict';
import { countIn, countRejected, metricsText, provideGauge, setBrokerRefusals } from '../../../nodes/lib/metrics';

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

  it("shows the embedded broker's refusal totals as a counter that never goes down, ignoring malformed entries", async () => {
    setBrokerRefusals({ queue_full: 12, connection_evicted: 1, qos2_forgotten: 2 });
    // a Node-RED restarted under the same broker, then garbage over the IPC channel
    setBrokerRefusals({ queue_full: 10, connection_evicted: 3 });
    setBrokerRefusals({ queue_full: -1, 'bad"kind': 5, wrong_password: 1.5, takeover_will: '7' });
    setBrokerRefusals(null);
    const text = await metricsText();
    assert.match(text, /moby_broker_refusals_total\{kind="queue_full"\} 12\n/);
    assert.match(text, /moby_broker_refusals_total\{kind="connection_evicted"\} 3\n/);
    assert.match(text, /moby_broker_refusals_total\{kind="qos2_forgotten"\} 2\n/);
    assert.doesNotMatch(text, /bad|wrong_password|takeover_will/);
  });
});
