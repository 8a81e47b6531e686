/** Monitoring: the metrics collector, alert rules and their evaluation, the alert stream. */
export { createCollector, monitorQuerySubject, COLLECTOR_QUEUE } from "./Collector.js";
export { alertStateBucket, openAlertStateBucket } from "./AlertStateBucket.js";
export { loadAlertRules, parseAlertRules, compileRules, AlertRulesError, DEFAULT_RULE_WINDOW_MS } from "./AlertRules.js";
export { RuleEvaluator, compare, alertLabels, type RuleEvaluatorOptions } from "./RuleEvaluator.js";
export { MetricStore, type MetricStoreOptions, type IngestResult } from "./MetricStore.js";
export { InstanceDownTracker } from "./InstanceDownTracker.js";
export { histogramQuantile, histogramDelta, HistogramSum, type CumulativeHistogram } from "./histogram.js";
export { alertFingerprint } from "./fingerprint.js";
export { formatValue, renderTemplate } from "./templates.js";
export {
  ensureAlertStream,
  alertStreamName,
  alertMsgId,
  prefixName,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_ALERT_MAX_AGE_MS,
} from "./AlertStream.js";
export {
  BUILTIN_METRICS,
  ENDPOINT_METRICS,
  IDENTIFYING_LABELS,
  type AlertStreamOptions,
  type Collector,
  type CollectorOptions,
  type CollectorStats,
  type ComparisonOp,
  type CompiledRule,
  type RestoredAlert,
  type SeriesValue,
  type TrackedAlert,
} from "./types.js";
