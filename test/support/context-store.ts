// A localfilesystem context store for node tests that restart Node-RED's flows and read state back: the
// test helper initialises but does not open context stores, so such a test restarts its flows on it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** node-red-node-test-helper, as far as the store needs it. */
interface TestHelper {
  settings(s: Record<string, unknown>): void;
  _redNodes: {
    stopFlows(): Promise<void>;
    startFlows(): Promise<void>;
    loadContextsPlugin(): Promise<void>;
    closeContextsPlugin(): Promise<void>;
  };
}

export interface FileContextStore {
  /** the store's directory (set from the describe block's `before` on) */
  dir(): string;
  /** every file under it */
  files(): string[];
  /** after helper.load: the flows stopped and started again on the store (the helper does not open it) */
  startFlowsOnStore(): Promise<void>;
  /** a restart: the flows stopped (closing nodes persist), then started on a fresh store instance, which
   * reads only what reached the disk */
  restartFlows(): Promise<void>;
}

/**
 * For a describe block: a localfilesystem store in a fresh directory is the default context store from its
 * `before` on; `after` closes it, unsets it and removes the directory.
 */
export function useFileContextStore(helper: TestHelper, prefix: string, flushInterval: number): FileContextStore {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    helper.settings({
      contextStorage: { default: { module: 'localfilesystem', config: { dir, flushInterval } } },
    });
  });
  after(async () => {
    await helper._redNodes.closeContextsPlugin();
    helper.settings({ contextStorage: undefined });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const red = helper._redNodes;
  return {
    dir: () => dir,
    async startFlowsOnStore() {
      await red.stopFlows();
      await red.loadContextsPlugin();
      await red.startFlows();
    },
    async restartFlows() {
      await red.stopFlows();
      await red.closeContextsPlugin();
      await red.loadContextsPlugin();
      await red.startFlows();
    },
    files() {
      const out: string[] = [];
      const walk = (d: string): void => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(d, e.name));
          else out.push(path.join(d, e.name));
        }
      };
      walk(dir);
      return out;
    },
  };
}
