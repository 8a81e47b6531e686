/** Mail notifications of alerts: routing, grouping, the notifier, mail formatting. */
export { createMailNotifier } from "./MailNotifier.js";
export { AlertGrouper, transitionKey, type AlertGrouperOptions, type Acknowledgement, type HeldTransition, type Notification, type SuppressedTransition } from "./AlertGrouper.js";
export { AlertRouter, parseRecipients, type ResolvedRoute } from "./AlertRouter.js";
export { composeMail, escapeHtml, headerSafe, type ComposedMail, type MailContext } from "./MailFormat.js";
export { smtpSettingsFromEnv, recipientsFromEnv, createSmtpTransport, senderDomain, parseSender, type Sender } from "./smtp.js";
export { NotifierState, type ActiveRecord } from "./NotifierState.js";
export { backoffDelay } from "./backoff.js";
export type { GroupTimings, MailNotifier, MailNotifierOptions, NotifierStats, RouteConfig, SentMail, SmtpSettings } from "./types.js";
export { parseMatcher, formatMatcher, compileMatcher, matchesAll, labelValue, MatcherError, type CompiledMatcher } from "./LabelMatchers.js";
export { Silences } from "./Silences.js";
export { SilenceStore, silenceBucket, SILENCE_RETENTION_MS, MAX_SILENCE_MS } from "./SilenceStore.js";
export { Inhibitor, type InhibitionCandidate } from "./Inhibitor.js";
export { Suppressor, type Suppression } from "./Suppressor.js";
export { listedAlert } from "./AlertListResponder.js";
