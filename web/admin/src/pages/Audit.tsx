import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, call } from "../api/client";
import { PagedTable } from "./crud";
import { EmptyState } from "../components/States";
import { Pill } from "../components/ui";
import { formatCount, formatDateTime } from "../lib/format";
import { useDebounced } from "../lib/useDebounced";
import { useOrgChoice } from "./common";

const PER_PAGE = 50;

/** The tamper-evident log: every change and login, hash-chained per organization. */
export function Audit() {
  const { isSuper, orgs } = useOrgChoice();
  const [page, setPage] = useState(1);
  const [action, setAction] = useState("");
  const [resource, setResource] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [org, setOrg] = useState("");
  const a = useDebounced(action.trim());
  const r = useDebounced(resource.trim());
  const organization_id = isSuper && org ? Number(org) : undefined;
  const query = {
    page,
    per_page: PER_PAGE,
    action: a || undefined,
    resource: r || undefined,
    from: from ? new Date(from).toISOString() : undefined,
    to: to ? new Date(to).toISOString() : undefined,
    organization_id,
  };
  const list = useQuery({
    queryKey: ["audit", query],
    queryFn: () => call(() => api.GET("/api/v1/audit-logs", { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const verify = useQuery({
    queryKey: ["audit-verify", organization_id ?? null],
    queryFn: () => call(() => api.GET("/api/v1/audit-logs/verify", { params: { query: { organization_id } } })),
  });
  const resetPage = <T,>(set: (v: T) => void) => (v: T) => {
    set(v);
    setPage(1);
  };
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Audit log</h1>
          <p className="muted">Every login and change, hash-chained so that an edited or deleted entry is detected.</p>
        </div>
        <div className="verify" aria-live="polite">
          {verify.isLoading ? (
            <Pill tone="muted">Verifying chain…</Pill>
          ) : verify.isError ? (
            <Pill tone="warn">Chain not verified</Pill>
          ) : verify.data?.valid ? (
            <Pill tone="ok">Chain verified · {formatCount(verify.data.entries)} entries</Pill>
          ) : verify.data ? (
            <Pill tone="bad">Chain broken at entry #{verify.data.first_invalid_id}</Pill>
          ) : null}
          <button type="button" className="btn btn-small" onClick={() => void verify.refetch()} disabled={verify.isFetching}>
            Verify again
          </button>
        </div>
      </header>
      <div className="filters">
        {isSuper && (
          <label className="inline-field">
            <span>Organization</span>
            <select value={org} onChange={(e) => resetPage(setOrg)(e.target.value)}>
              <option value="">Platform and all</option>
              {orgs.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <label className="inline-field">
          <span>Action</span>
          <input value={action} placeholder="e.g. auth.login" onChange={(e) => resetPage(setAction)(e.target.value)} size={14} />
        </label>
        <label className="inline-field">
          <span>Resource</span>
          <input value={resource} placeholder="e.g. user" onChange={(e) => resetPage(setResource)(e.target.value)} size={10} />
        </label>
        <label className="inline-field">
          <span>From</span>
          <input type="datetime-local" value={from} onChange={(e) => resetPage(setFrom)(e.target.value)} />
        </label>
        <label className="inline-field">
          <span>To</span>
          <input type="datetime-local" value={to} onChange={(e) => resetPage(setTo)(e.target.value)} />
        </label>
      </div>
      <PagedTable
        list={list}
        page={page}
        setPage={setPage}
        perPage={PER_PAGE}
        empty={
          <EmptyState title="No entries match" />
        }
      >
        {(items) => (
          <table className={`table${list.isPlaceholderData ? " stale" : ""}`}>
            <thead>
              <tr>
                <th>Time</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Resource</th>
                <th>Outcome</th>
                <th>IP</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id}>
                  <td className="nowrap">{formatDateTime(e.created_at)}</td>
                  <td>{e.actor_email ?? <span className="muted">system</span>}</td>
                  <td className="mono small">{e.action}</td>
                  <td>
                    {e.resource_type}
                    {e.resource_id && <span className="muted"> #{e.resource_id}</span>}
                  </td>
                  <td>
                    <Pill tone={e.outcome === "success" ? "ok" : "warn"}>{e.outcome}</Pill>
                  </td>
                  <td className="mono small">{e.ip ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </PagedTable>
    </div>
  );
}
