// Node-RED's own MQTT nodes as flow JSON, for the node tests that put a real broker in front of MOBY's nodes
// as flows/pipeline.json does. Every field can be overridden.

/** A core `mqtt-broker` config node on 127.0.0.1 (MQTT 3.1.1, clean session, keepalive 60 s, id "b"). */
export function coreMqttBroker(port: number | string, opts: Record<string, unknown> = {}) {
  return {
    id: 'b',
    type: 'mqtt-broker',
    broker: '127.0.0.1',
    port,
    clientid: '',
    autoConnect: true,
    usetls: false,
    protocolVersion: 4,
    keepalive: 60,
    cleansession: true,
    ...opts,
  };
}

/** A core `mqtt in` node on broker "b": QoS 1, text payloads, no local-echo or retain flags. */
export function coreMqttIn(id: string, topic: string, wires: string[][], opts: Record<string, unknown> = {}) {
  return {
    id,
    type: 'mqtt in',
    topic,
    qos: '1',
    datatype: 'utf8',
    broker: 'b',
    nl: false,
    rap: false,
    inputs: 0,
    wires,
    ...opts,
  };
}
