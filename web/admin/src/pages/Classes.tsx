import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { queries, type ClassFilters } from "../api/queries";
import { CLASS_SORT_VALUES, DATABASE_TYPES, oneOf, type ClassSort } from "../api/types";
import { useUrlFilters } from "../lib/useUrlFilters";
import { PagedTable } from "./crud";
import { EmptyState } from "../components/States";
import { SeverityBadge, SortHeader } from "../components/ui";
import { dbLabel, formatCount, formatMs, formatRatio } from "../lib/format";

const PER_PAGE = 25;

/** pt-query-digest's report, live: one row per statement shape, ranked by the chosen column. */
export function Classes() {
  const { params, update, page, setPage, text, type } = useUrlFilters(["q"] as const);
  const sort = oneOf(params.get("sort"), CLASS_SORT_VALUES) ?? "total_time";
  const databaseType = oneOf(params.get("database_type"), DATABASE_TYPES);
  const query: ClassFilters = { sort, page, per_page: PER_PAGE, database_type: databaseType, q: params.get("q") || undefined };
  const list = useQuery(queries.classes.list(query));
  const set = (k: string, v: string | undefined) => update({ [k]: v });
  const header = (label: string, key: ClassSort) => (
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
            {DATABASE_TYPES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label className="inline-field grow">
          <span>Search</span>
          <input type="search" value={text.q} placeholder="text in the fingerprint" onChange={(e) => type("q", e.target.value)} />
        </label>
      </div>
      <PagedTable
        list={list}
        page={page}
        setPage={setPage}
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
