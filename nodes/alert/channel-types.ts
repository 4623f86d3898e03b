// Shapes the alert node reads from the channel and LLM config nodes (kept apart from the node files,
// which use `export =`).
import type { Notification } from '../core/alert/channels';
import type { Sender } from '../core/alert/delivery';
import type { LlmSummarizer } from '../core/alert/summary';
import type { AnyNode } from '../lib/red';

/** What the alert node reads from a channel config node. */
export interface ChannelConfigNode extends AnyNode {
  /** null when the config is unusable; `problem` says why */
  sender: Sender<Notification> | null;
  problem?: string;
  label: string;
  /** users (alert nodes) of a config that holds a connection; absent on stateless HTTP channels */
  register?: (userId: string) => void;
  deregister?: (userId: string) => void;
}

export interface LlmConfigNode extends AnyNode {
  summarizer: LlmSummarizer | null;
  problem?: string;
}
