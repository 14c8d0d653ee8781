import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { queries, type ClassFilters } from "../api/queries";
import { CLASS_SORT_VALUES, DATABASE_TYPES, oneOf, type ClassSort, type Schemas } from "../api/types";
import { useUrlFilters } from "../lib/useUrlFilters";
import { PageHead, PagedTable } from "./crud";
import { EmptyState } from "../components/States";
import { ChoiceFilter, ClassLink, DataTable, InlineField, severityColumn, SortHeader, type Column } from "../components/ui";
import { dbLabel, formatCount, formatMs, formatRatio } from "../lib/format";

const PER_PAGE = 25;

type ClassRow = Schemas["QueryClassView"];

/** pt-query-digest's report, live: one row per statement shape, ranked by the chosen column. */
export function Classes() {
  const { params, update, page, setPage, text, type } = useUrlFilters(["q"] as const);
  const sort = oneOf(params.get("sort"), CLASS_SORT_VALUES) ?? "total_time";
  const databaseType = oneOf(params.get("database_type"), DATABASE_TYPES);
  const query: ClassFilters = { sort, page, per_page: PER_PAGE, database_type: databaseType, q: params.get("q") || undefined };
  const list = useQuery(queries.classes.list(query));
  const set = (k: string, v: string | undefined) => update({ [k]: v });
  const sortColumn = (label: string, key: ClassSort, cell: (c: ClassRow) => ReactNode): Column<ClassRow> => ({
    th: <SortHeader label={label} numeric active={sort === key} onClick={() => set("sort", key === "total_time" ? undefined : key)} />,
    numeric: true,
    cell,
  });
  return (
    <div className="page">
      <PageHead
        title="Query classes"
        intro="Statements grouped by fingerprint, ranked like pt-query-digest. Click a column to rank by it."
      />
      <div className="filters">
        <ChoiceFilter label="Engine" value={databaseType} choices={DATABASE_TYPES} onChange={(v) => set("database_type", v)} />
        <InlineField label="Search" grow>
          <input type="search" value={text.q} placeholder="text in the fingerprint" onChange={(e) => type("q", e.target.value)} />
        </InlineField>
      </div>
      <PagedTable
        list={list}
        page={page}
        setPage={setPage}
        perPage={PER_PAGE}
        empty={<EmptyState title="No query classes">Classes appear as soon as an agent reports slow queries.</EmptyState>}
      >
        {(items) => (
          <DataTable
            rows={items}
            rowKey={(c) => `${c.database_type}-${c.query_id}`}
            stale={list.isPlaceholderData}
            columns={[
              {
                header: "Fingerprint",
                className: "sql-cell",
                cell: (c) => (
                  <>
                    <ClassLink c={c} />
                    <div className="muted small">
                      {dbLabel(c.database_type)} · {c.query_id}
                      {c.databases.length > 0 && <> · {c.databases.join(", ")}</>}
                    </div>
                  </>
                ),
              },
              sortColumn("Count", "count", (c) => formatCount(c.count)),
              sortColumn("Total", "total_time", (c) => formatMs(c.total_time_ms)),
              sortColumn("Avg", "avg_time", (c) => formatMs(c.avg_time_ms)),
              sortColumn("p95", "p95", (c) => formatMs(c.p95_time_ms)),
              sortColumn("Max", "max_time", (c) => formatMs(c.max_time_ms)),
              sortColumn("Rows ratio", "rows_ratio", (c) => formatRatio(c.rows_ratio)),
              severityColumn,
            ]}
          />
        )}
      </PagedTable>
    </div>
  );
}
