import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { describeError } from "../api/errors";
import { invalidate, PICKER_SIZE, queries } from "../api/queries";
import { alertKindLabel, type Schemas } from "../api/types";
import { EmptyState } from "../components/States";
import { DataTable } from "../components/ui";
import { formatCount, formatRatio } from "../lib/format";
import { RuleForm } from "./AlertRuleForm";
import { FormError, useOrgChoice } from "./common";
import { nameColumn, orgColumn, PageHead, PagedTable, RowActions, useConfirmedAction, useEditor, usePagedList } from "./crud";

type Rule = Schemas["RuleView"];
type Thresholds = Schemas["AlertThresholds"];

/** "ratio 2× · min calls 50", or "defaults" when the rule sets none. */
export function thresholdsSummary(t: Thresholds): string {
  const parts: string[] = [];
  if (t.ratio != null) parts.push(`ratio ${formatRatio(t.ratio)}×`);
  if (t.min_calls != null) parts.push(`min calls ${formatCount(t.min_calls)}`);
  if (t.min_baseline_calls != null) parts.push(`min baseline calls ${formatCount(t.min_baseline_calls)}`);
  if (t.min_z != null) parts.push(`min z ${t.min_z}`);
  if (t.min_share != null) parts.push(`min share ${(t.min_share * 100).toFixed(1)}%`);
  return parts.length > 0 ? parts.join(" · ") : "defaults";
}

/** 3600 → "1 h", 90 → "1.5 min". */
export function duration(secs: number): string {
  if (secs % 86_400 === 0) return `${secs / 86_400} d`;
  if (secs >= 3600) return `${+(secs / 3600).toFixed(1)} h`;
  return `${+(secs / 60).toFixed(1)} min`;
}

/** What to detect and whom to tell: each rule's kind, thresholds and channels, enabled or not. */
export function AlertRules() {
  const { isSuper, orgs } = useOrgChoice();
  const qc = useQueryClient();
  const paged = usePagedList(queries.rules.list);
  const channels = useQuery(queries.channels.list({ per_page: PICKER_SIZE }));
  const editor = useEditor((r: Rule | null, close) => <RuleForm rule={r} onClose={close} />);
  const remove = useConfirmedAction("rule-deleted", (r: Rule) =>
    call(() => api.DELETE("/api/v1/alert-rules/{id}", { params: { path: { id: r.id } } })),
  );
  const toggle = useMutation({
    mutationFn: (r: Rule) =>
      call(() => api.PATCH("/api/v1/alert-rules/{id}", { params: { path: { id: r.id } }, body: { enabled: !r.enabled } })),
    onSuccess: () => void invalidate(qc, "rule"),
  });
  const channelNames = (ids: number[] | null | undefined) =>
    ids == null
      ? "Every channel"
      : ids.length === 0
        ? "None"
        : ids.map((id) => channels.data?.items.find((c) => c.id === id)?.name ?? `#${id}`).join(", ");

  return (
    <div className="page">
      <PageHead
        title="Alert rules"
        intro={
          <>
            What opens an alert, and which channels hear of it (<Link to="/settings/alert-channels">Alert channels</Link>).
            Thresholds left empty take their kind's defaults.
          </>
        }
        action="New rule"
        onAction={editor.create}
      />
      <FormError message={toggle.isError ? describeError(toggle.error) : null} />
      <PagedTable {...paged} empty={<EmptyState title="No rules">Create one to be told about regressions and new slow queries.</EmptyState>}>
        {(items) => (
          <DataTable
            rows={items}
            columns={[
              nameColumn,
              { header: "Kind", cell: (r) => alertKindLabel(r.kind) },
              { header: "Thresholds", className: "small", cell: (r) => thresholdsSummary(r.thresholds) },
              { header: "Channels", cell: (r) => channelNames(r.channel_ids) },
              { header: "Resolves after", className: "nowrap", cell: (r) => duration(r.resolve_after_secs) },
              orgColumn(isSuper, orgs),
              {
                header: "Enabled",
                cell: (r) => (
                  <input
                    type="checkbox"
                    className="toggle"
                    checked={r.enabled}
                    aria-label={`${r.name} enabled`}
                    disabled={toggle.isPending && toggle.variables?.id === r.id}
                    onChange={() => toggle.mutate(r)}
                  />
                ),
              },
            ]}
            actions={(r) => <RowActions onEdit={() => editor.edit(r)} onDelete={() => remove.ask(r)} />}
          />
        )}
      </PagedTable>
      {editor.form}
      {remove.dialog("Delete rule", "Delete rule", (r) => (
        <>
          Delete <strong>{r.name}</strong>? Its alerts, open or resolved, are deleted with it.
        </>
      ))}
    </div>
  );
}
