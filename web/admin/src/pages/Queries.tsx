import { useQuery } from "@tanstack/react-query";
import { queries, type SlowQueryFilters } from "../api/queries";
import { ANALYSIS_STATUSES, DATABASE_TYPES, oneOf, SEVERITIES, SLOW_QUERY_SORT_VALUES } from "../api/types";
import { useUrlFilters } from "../lib/useUrlFilters";
import { PageHead, PagedTable } from "./crud";
import { EmptyState } from "../components/States";
import { ChoiceFilter, DataTable, FilterSelect, InlineField, severityColumn, SortHeader } from "../components/ui";
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
        <PageHead title="Queries" intro="Every slow execution reported by your agents, scrubbed before it left your network." />
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
          <ChoiceFilter label="Severity" value={severity} choices={SEVERITIES} onChange={(v) => update({ severity: v })} />
          <ChoiceFilter label="Engine" value={databaseType} choices={DATABASE_TYPES} onChange={(v) => update({ database_type: v })} />
          <InlineField label="Database">
            <input value={text.database_name} placeholder="any" onChange={(e) => type("database_name", e.target.value)} size={10} />
          </InlineField>
          <FilterSelect
            label="Time"
            value={range}
            onChange={(v) => update({ range: v === "7d" ? undefined : v })}
            choices={Object.entries(RANGES).map(([k, r]) => ({ value: k, label: r.label }))}
          />
          <InlineField label="Search" grow>
            <input
              type="search"
              value={text.q}
              placeholder="text in the statement, e.g. orders"
              onChange={(e) => type("q", e.target.value)}
            />
          </InlineField>
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
            Showing one query class ({databaseType ? `${dbLabel(databaseType)} · ` : ""}
            {queryId}).{" "}
            <button type="button" className="link" onClick={() => update({ query_id: undefined, database_type: undefined })}>
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
            <DataTable
              rows={items}
              className="table table-hover"
              stale={list.isPlaceholderData}
              busy={list.isFetching}
              rowProps={(row) => ({
                className: String(row.id) === selected ? "selected" : undefined,
                onClick: () => update({ selected: String(row.id) }, false),
              })}
              columns={[
                {
                  th: <SortHeader label="Seen" active={sort === "observed_at"} onClick={() => update({ sort: undefined })} />,
                  className: "nowrap",
                  cell: (row) => formatDateTime(row.observed_at),
                },
                {
                  header: "Statement",
                  className: "sql-cell",
                  cell: (row) => (
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
                  ),
                },
                {
                  header: "Database",
                  className: "nowrap",
                  cell: (row) => (
                    <>
                      <span className="muted small">{dbLabel(row.database_type)}</span> {row.database_name ?? ""}
                    </>
                  ),
                },
                {
                  th: (
                    <SortHeader
                      label="Time"
                      numeric
                      active={sort === "execution_time_ms"}
                      onClick={() => update({ sort: "execution_time_ms" })}
                    />
                  ),
                  numeric: true,
                  cell: (row) => formatMs(row.execution_time_ms),
                },
                { header: "Rows examined", numeric: true, cell: (row) => formatCount(row.rows_examined) },
                severityColumn,
              ]}
            />
          )}
        </PagedTable>
      </div>
      {selected && <QueryDetail id={Number(selected)} onClose={() => update({ selected: undefined }, false)} />}
    </div>
  );
}
