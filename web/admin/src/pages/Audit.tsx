import { useQuery } from "@tanstack/react-query";
import { queries, type AuditFilters } from "../api/queries";
import { PageHead, PagedTable } from "./crud";
import { EmptyState, Loaded } from "../components/States";
import { DataTable, FilterSelect, InlineField, Pill } from "../components/ui";
import { formatCount, formatDateTime } from "../lib/format";
import { useUrlFilters } from "../lib/useUrlFilters";
import { instant } from "../lib/time";
import { named, useOrgChoice } from "./common";

const PER_PAGE = 50;

/** The tamper-evident log: every change and login, hash-chained per organization. */
export function Audit() {
  const { isSuper, orgs } = useOrgChoice();
  const { params, update, page, setPage, text, type } = useUrlFilters(["action", "resource"] as const);
  // `from` and `to` are kept as the pickers' local times; the API gets them as instants.
  const from = params.get("from") ?? "";
  const to = params.get("to") ?? "";
  const org = params.get("organization_id") ?? "";
  const organization_id = isSuper && org ? Number(org) : undefined;
  const query: AuditFilters = {
    page,
    per_page: PER_PAGE,
    action: params.get("action") || undefined,
    resource: params.get("resource") || undefined,
    from: instant(from),
    to: instant(to),
    organization_id,
  };
  const list = useQuery(queries.audit.list(query));
  const verify = useQuery(queries.audit.verify(organization_id));
  return (
    <div className="page">
      <PageHead title="Audit log" intro="Every login and change, hash-chained so that an edited or deleted entry is detected.">
        <div className="verify" aria-live="polite">
          <Loaded
            query={verify}
            loading={<Pill tone="muted">Verifying chain…</Pill>}
            error={() => <Pill tone="warn">Chain not verified</Pill>}
          >
            {(v) =>
              v.valid ? (
                <Pill tone="ok">Chain verified · {formatCount(v.entries)} entries</Pill>
              ) : (
                <Pill tone="bad">Chain broken at entry #{v.first_invalid_id}</Pill>
              )
            }
          </Loaded>
          <button type="button" className="btn btn-small" onClick={() => void verify.refetch()} disabled={verify.isFetching}>
            Verify again
          </button>
        </div>
      </PageHead>
      <div className="filters">
        {isSuper && (
          <FilterSelect
            label="Organization"
            value={org}
            onChange={(v) => update({ organization_id: v })}
            any="Platform and all"
            choices={named(orgs)}
          />
        )}
        <InlineField label="Action">
          <input value={text.action} placeholder="e.g. auth.login" onChange={(e) => type("action", e.target.value)} size={14} />
        </InlineField>
        <InlineField label="Resource">
          <input value={text.resource} placeholder="e.g. user" onChange={(e) => type("resource", e.target.value)} size={10} />
        </InlineField>
        <InlineField label="From">
          <input type="datetime-local" value={from} onChange={(e) => update({ from: e.target.value })} />
        </InlineField>
        <InlineField label="To">
          <input type="datetime-local" value={to} onChange={(e) => update({ to: e.target.value })} />
        </InlineField>
      </div>
      <PagedTable list={list} page={page} setPage={setPage} perPage={PER_PAGE} empty={<EmptyState title="No entries match" />}>
        {(items) => (
          <DataTable
            rows={items}
            stale={list.isPlaceholderData}
            columns={[
              { header: "Time", className: "nowrap", cell: (e) => formatDateTime(e.created_at) },
              { header: "Actor", cell: (e) => e.actor_email ?? <span className="muted">system</span> },
              { header: "Action", className: "mono small", cell: (e) => e.action },
              {
                header: "Resource",
                cell: (e) => (
                  <>
                    {e.resource_type}
                    {e.resource_id && <span className="muted"> #{e.resource_id}</span>}
                  </>
                ),
              },
              { header: "Outcome", cell: (e) => <Pill tone={e.outcome === "success" ? "ok" : "warn"}>{e.outcome}</Pill> },
              { header: "IP", className: "mono small", cell: (e) => e.ip ?? "—" },
            ]}
          />
        )}
      </PagedTable>
    </div>
  );
}
