/**
 * The API's types as the pages use them: aliases of the schemas `openapi-typescript` generates, and the
 * values of its enums for pickers and for checking what a URL says. Each list is a `Record` over the
 * schema's union, so a value added to the API is a TypeScript error here until the panel names it.
 */
import type { components, operations } from "./schema";

export type Schemas = components["schemas"];

export type Severity = Schemas["Severity"];
export type DatabaseType = Schemas["DatabaseType"];
export type AnalysisStatus = Schemas["AnalysisStatus"];
export type SlowQuerySort = Schemas["SlowQuerySort"];
export type ClassSort = Schemas["ClassSort"];
export type Role = Schemas["Role"];
export type ScrubLevel = Schemas["ScrubLevel"];
export type AiPolicy = Schemas["AiPolicy"];
export type AlertKind = Schemas["AlertKind"];
export type AlertStatus = Schemas["AlertStatus"];
export type ChannelKind = Schemas["ChannelKind"];
export type ClassChange = Schemas["ClassChange"];
export type ChangeKind = Schemas["ChangeKind"];
export type DropReason = Schemas["DropReason"];
export type ValidationStatus = Schemas["ValidationStatus"];
export type ValidationMethod = Schemas["ValidationMethod"];

/** The compare endpoint's sort keys and orders (validated by its handler: plain strings in the schema). */
export type CompareSort = "total_time_delta" | "b_total_time" | "a_total_time" | "mean_ratio" | "calls_delta";
export type SortOrder = "desc" | "asc";

/** The query-string parameters of one operation. */
export type QueryParams<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;

/** Most severe first, as the pickers list them. */
const SEVERITY_LABELS: Record<Severity, string> = {
  CRITICAL: "Critical",
  HIGH: "High",
  MEDIUM: "Medium",
  LOW: "Low",
};
const DATABASE_TYPE_LABELS: Record<DatabaseType, string> = {
  mysql: "MySQL / MariaDB",
  postgresql: "PostgreSQL",
};
const ANALYSIS_STATUS_LABELS: Record<AnalysisStatus, string> = {
  all: "All",
  analyzed: "Analyzed",
  unanalyzed: "Unanalyzed",
};
const SCRUB_LEVEL_LABELS: Record<ScrubLevel, string> = {
  strict: "Strict",
  pii_only: "PII only",
};
const AI_POLICY_LABELS: Record<AiPolicy, string> = {
  rules_only: "Rules only",
  allow_llm: "LLM allowed",
};
const ALERT_KIND_LABELS: Record<AlertKind, string> = {
  regression: "Regression",
  new_class: "New slow class",
  volume_spike: "Volume spike",
  severity_raised: "Severity raised",
  plan_changed: "Plan changed",
};
const ALERT_STATUS_LABELS: Record<AlertStatus, string> = {
  open: "Open",
  acknowledged: "Acknowledged",
  resolved: "Resolved",
};
const CHANNEL_KIND_LABELS: Record<ChannelKind, string> = {
  webhook: "Webhook",
  slack: "Slack",
  email: "E-mail",
  pagerduty: "PagerDuty",
};
const CLASS_CHANGE_LABELS: Record<ClassChange, string> = {
  new: "New",
  gone: "Gone",
  regressed: "Regressed",
  improved: "Improved",
  unchanged: "Unchanged",
};
const COMPARE_SORT_LABELS: Record<CompareSort, string> = {
  total_time_delta: "Time delta",
  b_total_time: "Total time in B",
  a_total_time: "Total time in A",
  mean_ratio: "Mean ratio",
  calls_delta: "Calls delta",
};
const SORT_ORDER_LABELS: Record<SortOrder, string> = { desc: "Descending", asc: "Ascending" };
const CHANGE_KIND_LABELS: Record<ChangeKind, string> = {
  deploy: "Deploy",
  schema: "Schema change",
  config: "Configuration change",
  note: "Note",
};
const DROP_REASON_LABELS: Record<DropReason, string> = {
  unused: "Unused",
  duplicate: "Duplicate",
  redundant_prefix: "Redundant prefix",
};
const VALIDATION_METHOD_LABELS: Record<ValidationMethod, string> = { hypopg: "hypopg", sandbox: "sandbox" };
const SLOW_QUERY_SORTS: Record<SlowQuerySort, true> = { observed_at: true, execution_time_ms: true };
const CLASS_SORTS: Record<ClassSort, true> = {
  total_time: true,
  count: true,
  avg_time: true,
  p95: true,
  max_time: true,
  rows_ratio: true,
};

export interface Choice<T extends string> {
  value: T;
  label: string;
}

function choices<T extends string>(labels: Record<T, string>): Choice<T>[] {
  return (Object.keys(labels) as T[]).map((value) => ({ value, label: labels[value] }));
}

export const SEVERITIES = choices(SEVERITY_LABELS);
export const DATABASE_TYPES = choices(DATABASE_TYPE_LABELS);
export const ANALYSIS_STATUSES = choices(ANALYSIS_STATUS_LABELS);
export const SCRUB_LEVELS = choices(SCRUB_LEVEL_LABELS);
export const AI_POLICIES = choices(AI_POLICY_LABELS);
export const ALERT_KINDS = choices(ALERT_KIND_LABELS);
export const ALERT_STATUSES = choices(ALERT_STATUS_LABELS);
export const CHANNEL_KINDS = choices(CHANNEL_KIND_LABELS);
export const CLASS_CHANGES = choices(CLASS_CHANGE_LABELS);
export const COMPARE_SORTS = choices(COMPARE_SORT_LABELS);
export const SORT_ORDERS = choices(SORT_ORDER_LABELS);
export const SLOW_QUERY_SORT_VALUES = Object.keys(SLOW_QUERY_SORTS) as SlowQuerySort[];
export const CLASS_SORT_VALUES = Object.keys(CLASS_SORTS) as ClassSort[];

export const scrubLevelLabel = (v: ScrubLevel): string => SCRUB_LEVEL_LABELS[v];
export const aiPolicyLabel = (v: AiPolicy): string => AI_POLICY_LABELS[v];
export const alertKindLabel = (v: AlertKind): string => ALERT_KIND_LABELS[v];
export const alertStatusLabel = (v: AlertStatus): string => ALERT_STATUS_LABELS[v];
export const classChangeLabel = (v: ClassChange): string => CLASS_CHANGE_LABELS[v];
export const changeKindLabel = (v: ChangeKind): string => CHANGE_KIND_LABELS[v];
export const dropReasonLabel = (v: DropReason): string => DROP_REASON_LABELS[v] ?? v;
export const validationMethodLabel = (v: ValidationMethod): string => VALIDATION_METHOD_LABELS[v] ?? v;
export const channelKindLabel = (v: ChannelKind): string => CHANNEL_KIND_LABELS[v];

/** `value` when it is one of `allowed`, else `undefined` (a hand-edited URL cannot send the API a stray value). */
export function oneOf<T extends string>(value: string | null | undefined, allowed: readonly (T | Choice<T>)[]): T | undefined {
  if (!value) return undefined;
  for (const a of allowed) {
    const v = typeof a === "string" ? a : a.value;
    if (v === value) return v;
  }
  return undefined;
}
