import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, call } from "../api/client";
import { useUrlFilters } from "../lib/useUrlFilters";
import { PagedTable } from "./crud";
import { EmptyState } from "../components/States";
import { SeverityBadge, SortHeader } from "../components/ui";
import { dbLabel, formatCount, formatMs, formatRatio } from "../lib/format";
import { useDebounced } from "../lib/useDebounced";

const PER_PAGE = 25;
type Sort = "total_time" | "count" | "avg_time" | "p95" | "max_time" | "rows_ratio";

/** pt-query-digest's report, live: one row per statement shape, ranked by the chosen column. */
export function Classes() {
  const { params, update } = useUrlFilters();
  const sort = (params.get("sort") ?? "total_time") as Sort;
  const page = Math.max(1, Number(params.get("page") ?? 1) || 1);
  const databaseType = (params.get("database_type") || undefined) as "mysql" | "postgresql" | undefined;
  const [text, setText] = useState(params.get("q") ?? "");
  const q = useDebounced(text);
  const query = { sort, page, per_page: PER_PAGE, database_type: databaseType, q: q || undefined };
  const list = useQuery({
    queryKey: ["classes", query],
    queryFn: () => call(() => api.GET("/api/v1/query-classes", { params: { query } })),
    placeholderData: keepPreviousData,
  });
  const set = (k: string, v: string | undefined) => update({ [k]: v });
  const header = (label: string, key: Sort) => (
    <SortHeader label={label} numeric active={sort === key} onClick={() => set("sort", key === "total_time" ? undefined : key)} />
  );
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Query classes</h1>
          <p className="muted">Statements grouped by fingerprint, ranked like pt-query-digest. Click a column to rank by it.</p>
        </div>
      </header>
      <div className="filters">
        <label className="inline-field">
          <span>Engine</span>
          <select value={databaseType ?? ""} onChange={(e) => set("database_type", e.target.value || undefined)}>
            <option value="">Any</option>
            <option value="mysql">MySQL / MariaDB</option>
            <option value="postgresql">PostgreSQL</option>
          </select>
        </label>
        <label className="inline-field grow">
          <span>Search</span>
          <input type="search" value={text} placeholder="text in the fingerprint" onChange={(e) => setText(e.target.value)} />
        </label>
      </div>
      <PagedTable
        list={list}
        page={page}
        setPage={(p) => set("page", p === 1 ? undefined : String(p))}
        perPage={PER_PAGE}
        empty={
          <EmptyState title="No query classes">Classes appear as soon as an agent reports slow queries.</EmptyState>
        }
      >
        {(items) => (
          <table className={`table${list.isPlaceholderData ? " stale" : ""}`}>
            <thead>
              <tr>
                <th>Fingerprint</th>
                {header("Count", "count")}
                {header("Total", "total_time")}
                {header("Avg", "avg_time")}
                {header("p95", "p95")}
                {header("Max", "max_time")}
                {header("Rows ratio", "rows_ratio")}
                <th>Severity</th>
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={`${c.database_type}-${c.query_id}`}>
                  <td className="sql-cell">
                    <Link to={`/queries?query_id=${encodeURIComponent(c.query_id)}`} title={c.fingerprint}>
                      {c.fingerprint}
                    </Link>
                    <div className="muted small">
                      {dbLabel(c.database_type)} · {c.query_id}
                      {c.databases.length > 0 && <> · {c.databases.join(", ")}</>}
                    </div>
                  </td>
                  <td className="num">{formatCount(c.count)}</td>
                  <td className="num">{formatMs(c.total_time_ms)}</td>
                  <td className="num">{formatMs(c.avg_time_ms)}</td>
                  <td className="num">{formatMs(c.p95_time_ms)}</td>
                  <td className="num">{formatMs(c.max_time_ms)}</td>
                  <td className="num">{formatRatio(c.rows_ratio)}</td>
                  <td>
                    <SeverityBadge severity={c.severity} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </PagedTable>
    </div>
  );
}
