// Public API of the alert core (re-exported from the package entry point). Generic names are exported
// under alert-specific aliases so they cannot clash with other cores in nodes/index.ts.
export { AlertEngine, isSeverity as isAlertSeverity } from './engine';
export type {
  AlertSignal,
  AlertEngineOptions,
  AlertFilter,
  ActionResult,
  RepeatNotice,
  EngineSnapshot,
} from './engine';
export { signalsFromMessage, RULES as ALERT_RULES } from './inputs';
export type { InputOptions as AlertInputOptions } from './inputs';
export { DeliveryQueue, DeliveryError } from './delivery';
export type {
  DeliveryJob,
  DeliveryOptions,
  Sender as NotificationSender,
  Scheduler as DeliveryScheduler,
} from './delivery';
export {
  signWebhook,
  verifyWebhook,
  slackMessage,
  webhookBody,
  plainText as notificationText,
  subjectLine as notificationSubject,
  slackWebhookSender,
  slackBotSender,
  webhookSender,
  smtpSender,
} from './channels';
export type { Notification, NotificationKind } from './channels';
export { LlmSummarizer, templateSummary } from './summary';
export type { LlmOptions, SummaryResult } from './summary';
export { handleAlertApi, pageDevices as pageAlertApiDevices } from './api';
export type { ApiHost as AlertApiHost, ApiRequest as AlertApiRequest, ApiResponse as AlertApiResponse } from './api';
