/** What the index advice and a class's recommendations share: an index recommendation's validation. */
import { validationMethodLabel, type Schemas, type ValidationStatus } from "../api/types";
import { formatCost, formatDateTime, formatMs, formatSpeedup } from "../lib/format";
import { Pill } from "./ui";

export type Validation = Schemas["IndexValidation"];

const TONES: Record<ValidationStatus, "ok" | "warn" | "bad" | "muted"> = {
  validated: "ok",
  pending: "muted",
  unavailable: "warn",
  rejected: "bad",
};

/** Whether a validation rejected its recommendation (then it is not advice: shown only on request). */
export function isRejected(v: Validation | null | undefined): boolean {
  return v?.status === "rejected";
}

/** `cost 35,000 → 8.1 (4,321× cheaper)`, `time 1.20 s → 10 ms`: what the validation measured. */
export function validationMeasures(v: Validation): string[] {
  const out: string[] = [];
  if (v.cost_before != null && v.cost_after != null) {
    const speedup = formatSpeedup(v.cost_before, v.cost_after);
    out.push(`cost ${formatCost(v.cost_before)} → ${formatCost(v.cost_after)}${speedup ? ` (${speedup} cheaper)` : ""}`);
  }
  if (v.time_before_ms != null && v.time_after_ms != null) {
    out.push(`time ${formatMs(v.time_before_ms)} → ${formatMs(v.time_after_ms)}`);
  }
  return out;
}

/** The sentence a validation reads as. */
export function validationText(v: Validation): string {
  const method = v.method ? ` (${validationMethodLabel(v.method)})` : "";
  const measures = validationMeasures(v).join(", ");
  switch (v.status) {
    case "validated":
      return `Validated${method}${measures ? `: ${measures}` : ""}`;
    case "pending":
      return "Validation pending";
    case "unavailable":
      return `Not validated${v.reason ? `: ${v.reason}` : ""}`;
    case "rejected":
      return `Rejected${method}: ${v.reason ?? (v.uses_index === false ? "the plan does not read the index" : "no improvement")}`;
    default:
      return String(v.status);
  }
}

/**
 * An index recommendation's validation as a badge: validated (what it measured), pending (waiting for an
 * agent that can try the index), not validated (why), or rejected (why).
 */
export function ValidationBadge({ validation, testId }: { validation: Validation; testId?: string }) {
  const v = validation;
  return (
    <span
      className="validation"
      data-testid={testId}
      data-status={v.status}
      title={v.checked_at ? `Checked ${formatDateTime(v.checked_at)}` : undefined}
    >
      <Pill tone={TONES[v.status] ?? "muted"}>{validationText(v)}</Pill>
      {v.status === "pending" && <span className="muted small"> waiting for an agent with whatif</span>}
    </span>
  );
}
