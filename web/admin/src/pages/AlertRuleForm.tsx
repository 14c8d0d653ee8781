import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { PICKER_SIZE, queries } from "../api/queries";
import { ALERT_KINDS, alertKindLabel, type AlertKind, type Schemas } from "../api/types";
import { ChoiceField, Field } from "../components/ui";
import { OrgField, useOrgChoice } from "./common";
import { FormModal, useFormModal } from "./crud";

type Rule = Schemas["RuleView"];
type Thresholds = Schemas["AlertThresholds"];

/** The thresholds the form edits, with their defaults per kind (docs/ALERTS.md). */
const THRESHOLDS: { key: "ratio" | "min_calls" | "min_z" | "min_share"; label: string; hint: string; step: string }[] = [
  { key: "ratio", label: "Ratio", hint: "Regression: mean, median and p95 at least this times the baseline's (1.5). Volume spike: calls per hour (4).", step: "0.1" },
  { key: "min_calls", label: "Minimum calls", hint: "In the window: regression 20, new class 3, volume spike 100.", step: "1" },
  { key: "min_z", label: "Minimum z", hint: "Regression: the Mann-Whitney z of the window over the baseline (4).", step: "0.1" },
  { key: "min_share", label: "Minimum share", hint: "New class: its share of the organization's time in the window, 0 to 1 (0.01).", step: "0.01" },
];

type ThresholdText = Record<(typeof THRESHOLDS)[number]["key"], string>;

const text = (n: number | null | undefined) => (n === null || n === undefined ? "" : String(n));

/** The form's thresholds as the API takes them: empty fields left out (the kind's default), others kept. */
export function thresholdsOf(t: ThresholdText, keep: Thresholds = {}): Thresholds {
  const out: Thresholds = {};
  if (keep.min_baseline_calls != null) out.min_baseline_calls = keep.min_baseline_calls;
  for (const { key } of THRESHOLDS) {
    const v = t[key].trim();
    if (v !== "") out[key] = Number(v);
  }
  return out;
}

/** Create a rule or edit one (its kind stays). */
export function RuleForm({ rule, onClose }: { rule: Rule | null; onClose: () => void }) {
  const { isSuper, orgs } = useOrgChoice();
  const channels = useQuery(queries.channels.list({ per_page: PICKER_SIZE }));
  const [org, setOrg] = useState("");
  const [name, setName] = useState(rule?.name ?? "");
  const [kind, setKind] = useState<AlertKind>(rule?.kind ?? "regression");
  const [enabled, setEnabled] = useState(rule?.enabled ?? true);
  const [resolveAfter, setResolveAfter] = useState(rule ? String(rule.resolve_after_secs) : "");
  const [thresholds, setThresholds] = useState<ThresholdText>({
    ratio: text(rule?.thresholds.ratio),
    min_calls: text(rule?.thresholds.min_calls),
    min_z: text(rule?.thresholds.min_z),
    min_share: text(rule?.thresholds.min_share),
  });
  const [picked, setPicked] = useState<number[]>(rule?.channel_ids ?? []);
  const ownerOrg = rule ? rule.organization_id : isSuper && org ? Number(org) : undefined;
  const choosable = (channels.data?.items ?? []).filter((c) => ownerOrg === undefined || c.organization_id === ownerOrg);

  const { fieldError, modal } = useFormModal(
    () => {
      const common = {
        name,
        enabled,
        thresholds: thresholdsOf(thresholds, rule?.thresholds),
        resolve_after_secs: resolveAfter.trim() ? Number(resolveAfter) : undefined,
        // None picked: every channel of the organization.
        channel_ids: picked.length > 0 ? picked : null,
      };
      return rule
        ? call(() => api.PATCH("/api/v1/alert-rules/{id}", { params: { path: { id: rule.id } }, body: common }))
        : call(() =>
            api.POST("/api/v1/alert-rules", {
              body: { ...common, kind, organization_id: isSuper && org ? Number(org) : undefined },
            }),
          );
    },
    "rule",
    onClose,
  );
  const fields = ["name", "kind", "enabled", "resolve_after_secs", "channel_ids", "organization_id", "thresholds", ...THRESHOLDS.map((t) => `thresholds.${t.key}`)];

  return (
    <FormModal
      {...modal}
      title={rule ? `Edit ${rule.name}` : "New alert rule"}
      id="rule-form"
      submitLabel={rule ? "Save" : "Create rule"}
      busyLabel={rule ? "Saving…" : "Creating…"}
      fields={fields}
      onClose={onClose}
    >
      {isSuper && !rule && <OrgField orgs={orgs} value={org} onChange={setOrg} error={fieldError("organization_id")} />}
      {rule ? (
        <p className="muted small">Kind: {alertKindLabel(rule.kind)}</p>
      ) : (
        <ChoiceField label="Kind" error={fieldError("kind")} value={kind} choices={ALERT_KINDS} onChange={setKind} />
      )}
      <Field label="Name" error={fieldError("name")}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <fieldset className="fieldset">
        <legend>Thresholds (optional)</legend>
        <div className="row-2">
          {THRESHOLDS.map((t) => (
            <Field key={t.key} label={t.label} error={fieldError(`thresholds.${t.key}`)} hint={t.hint}>
              {(p) => (
                <input
                  {...p}
                  type="number"
                  min={0}
                  step={t.step}
                  placeholder="default"
                  value={thresholds[t.key]}
                  onChange={(e) => setThresholds((s) => ({ ...s, [t.key]: e.target.value }))}
                />
              )}
            </Field>
          ))}
        </div>
      </fieldset>
      <Field label="Resolve after (seconds)" error={fieldError("resolve_after_secs")} hint="How long the condition stays clear before the alert resolves itself: 60 to 2,592,000 (default 3,600).">
        {(p) => <input {...p} type="number" min={60} placeholder="3600" value={resolveAfter} onChange={(e) => setResolveAfter(e.target.value)} />}
      </Field>
      <fieldset className="fieldset">
        <legend>Channels</legend>
        {choosable.length === 0 ? (
          <p className="muted small">No channels yet: the rule notifies every channel created later.</p>
        ) : (
          choosable.map((c) => (
            <label key={c.id} className="check">
              <input
                type="checkbox"
                checked={picked.includes(c.id)}
                onChange={(e) => setPicked((p) => (e.target.checked ? [...p, c.id] : p.filter((id) => id !== c.id)))}
              />{" "}
              {c.name}
            </label>
          ))
        )}
        {fieldError("channel_ids") ? (
          <span className="field-error">{fieldError("channel_ids")}</span>
        ) : (
          <span className="field-hint">None checked: every channel of the organization.</span>
        )}
      </fieldset>
      <label className="check">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
      </label>
    </FormModal>
  );
}
