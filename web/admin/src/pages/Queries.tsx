import { useQuery } from "@tanstack/react-query";
import { queries, type SlowQueryFilters } from "../api/queries";
import { ANALYSIS_STATUSES, DATABASE_TYPES, oneOf, SEVERITIES, SLOW_QUERY_SORT_VALUES } from "../api/types";
import { useUrlFilters } from "../lib/useUrlFilters";
import { PagedTable } from "./crud";
import { EmptyState } from "../components/States";
import { SeverityBadge, SortHeader } from "../components/ui";
import { dbLabel, formatCount, formatDateTime, formatMs } from "../lib/format";
import { QueryDetail } from "./QueryDetail";

const PER_PAGE = 25;
const RANGES: Record<string, { label: string; hours?: number }> = {
  "24h": { label: "Last 24 hours", hours: 24 },
  "7d": { label: "Last 7 days", hours: 24 * 7 },
  "30d": { label: "Last 30 days", hours: 24 * 30 },
  all: { label: "All time" },
};

/** Filters live in the URL, so a filtered view can be bookmarked, shared and reloaded. */
export function Queries() {
  const { params, update, clear, page, setPage, text, type } = useUrlFilters(["q", "database_name"] as const);
  const status = oneOf(params.get("status"), ANALYSIS_STATUSES) ?? "all";
  const severity = oneOf(params.get("severity"), SEVERITIES);
  const databaseType = oneOf(params.get("database_type"), DATABASE_TYPES);
  const databaseName = params.get("database_name") ?? "";
  const range = params.get("range") ?? "7d";
  const sort = oneOf(params.get("sort"), SLOW_QUERY_SORT_VALUES) ?? "observed_at";
  const queryId = params.get("query_id") || undefined;
  const selected = params.get("selected");

  // The range is rounded to the minute so the query key is stable between renders.
  const hours = RANGES[range]?.hours;
  const from = hours ? new Date(Math.floor(Date.now() / 60_000) * 60_000 - hours * 3_600_000).toISOString() : undefined;
  const query: SlowQueryFilters = {
    page,
    per_page: PER_PAGE,
    status,
    severity,
    database_type: databaseType,
    database_name: databaseName || undefined,
    q: params.get("q") || undefined,
    query_id: queryId,
    from,
    sort,
  };
  const list = useQuery(queries.slowQueries.list(query));

  const filtersActive =
    status !== "all" || severity || databaseType || databaseName || params.get("q") || queryId || range !== "7d";

  return (
    <div className={`page${selected ? " page-split" : ""}`}>
      <div className="split-main">
        <header className="page-head">
          <div>
            <h1>Queries</h1>
            <p className="muted">Every slow execution reported by your agents, scrubbed before it left your network.</p>
          </div>
        </header>
        <div className="filters" role="search" aria-label="Filter queries">
          <div className="segmented" role="group" aria-label="Analysis status">
            {ANALYSIS_STATUSES.map((s) => (
              <button
                key={s.value}
                type="button"
                aria-pressed={status === s.value}
                className={status === s.value ? "active" : undefined}
                onClick={() => update({ status: s.value === "all" ? undefined : s.value })}
              >
                {s.label}
              </button>
            ))}
          </div>
          <label className="inline-field">
            <span>Severity</span>
            <select value={severity ?? ""} onChange={(e) => update({ severity: e.target.value || undefined })}>
              <option value="">Any</option>
              {SEVERITIES.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </select>
          </label>
          <label className="inline-field">
            <span>Engine</span>
            <select value={databaseType ?? ""} onChange={(e) => update({ database_type: e.target.value || undefined })}>
              <option value="">Any</option>
              {DATABASE_TYPES.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </select>
          </label>
          <label className="inline-field">
            <span>Database</span>
            <input value={text.database_name} placeholder="any" onChange={(e) => type("database_name", e.target.value)} size={10} />
          </label>
          <label className="inline-field">
            <span>Time</span>
            <select value={range} onChange={(e) => update({ range: e.target.value === "7d" ? undefined : e.target.value })}>
              {Object.entries(RANGES).map(([k, r]) => (
                <option key={k} value={k}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
          <label className="inline-field grow">
            <span>Search</span>
            <input
              type="search"
              value={text.q}
              placeholder="text in the statement, e.g. orders"
              onChange={(e) => type("q", e.target.value)}
            />
          </label>
          {filtersActive && (
            <button
              type="button"
              className="btn btn-small btn-ghost"
              onClick={clear}
            >
              Clear filters
            </button>
          )}
        </div>
        {queryId && (
          <p className="notice">
            Showing one query class ({queryId}).{" "}
            <button type="button" className="link" onClick={() => update({ query_id: undefined })}>
              Show all
            </button>
          </p>
        )}
        <PagedTable
          list={list}
          page={page}
          setPage={setPage}
          perPage={PER_PAGE}
          empty={
            <EmptyState title={filtersActive ? "No queries match these filters" : "No slow queries yet"}>
            {filtersActive ? "Widen the time range or clear the filters." : "Connect an agent and slow queries appear here."}
          </EmptyState>
          }
        >
          {(items) => (
            <table className={`table table-hover${list.isPlaceholderData ? " stale" : ""}`} aria-busy={list.isFetching}>
              <thead>
                <tr>
                  <SortHeader label="Seen" active={sort === "observed_at"} onClick={() => update({ sort: undefined })} />
                  <th>Statement</th>
                  <th>Database</th>
                  <SortHeader
                    label="Time"
                    numeric
                    active={sort === "execution_time_ms"}
                    onClick={() => update({ sort: "execution_time_ms" })}
                  />
                  <th className="num">Rows examined</th>
                  <th>Severity</th>
                </tr>
              </thead>
              <tbody>
                {items.map((row) => (
                  <tr
                    key={row.id}
                    className={String(row.id) === selected ? "selected" : undefined}
                    onClick={() => update({ selected: String(row.id) }, false)}
                  >
                    <td className="nowrap">{formatDateTime(row.observed_at)}</td>
                    <td className="sql-cell">
                      <button
                        type="button"
                        className="row-link"
                        onClick={(e) => {
                          e.stopPropagation();
                          update({ selected: String(row.id) }, false);
                        }}
                        title={row.sql_text}
                      >
                        {row.sql_text}
                      </button>
                    </td>
                    <td className="nowrap">
                      <span className="muted small">{dbLabel(row.database_type)}</span> {row.database_name ?? ""}
                    </td>
                    <td className="num">{formatMs(row.execution_time_ms)}</td>
                    <td className="num">{formatCount(row.rows_examined)}</td>
                    <td>
                      <SeverityBadge severity={row.severity} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </PagedTable>
      </div>
      {selected && <QueryDetail id={Number(selected)} onClose={() => update({ selected: undefined }, false)} />}
    </div>
  );
}
