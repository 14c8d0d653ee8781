import { useMutation, useQuery } from "@tanstack/react-query";
import { useEffect } from "react";
import { describeError } from "../api/errors";
import { fetchCompareCsv, PICKER_SIZE, queries, type CompareQuery } from "../api/queries";
import { CLASS_CHANGES, COMPARE_SORTS, DATABASE_TYPES, oneOf, SORT_ORDERS } from "../api/types";
import { EmptyState, Loaded } from "../components/States";
import { ChoiceFilter, FilterSelect, InlineField } from "../components/ui";
import { saveText } from "../lib/download";
import { formatDateTime } from "../lib/format";
import { instant, localInput, presetWindows, type Preset, type Windows } from "../lib/time";
import { useUrlFilters } from "../lib/useUrlFilters";
import { CompareResult } from "./CompareTable";
import { FormError } from "./common";
import { PageHead } from "./crud";

export const COMPARE_PER_PAGE = 50;

/** Around a marker: A is the day before it, B the day from it (the API resolves the windows). */
export const MARKER_SPAN_SECS = 24 * 3600;

const PRESETS: { value: Preset; label: string }[] = [
  { value: "hour", label: "Previous hour" },
  { value: "day", label: "Previous day" },
  { value: "week", label: "Previous week" },
];

const WINDOW_FIELDS: { key: keyof Windows; label: string }[] = [
  { key: "a_from", label: "A from" },
  { key: "a_to", label: "A to" },
  { key: "b_from", label: "B from" },
  { key: "b_to", label: "B to" },
];

/**
 * What changed between two windows, class by class: new, gone, regressed, improved. The windows (local
 * times, as the pickers show them), the preset or marker they came from, the filters and the page live in
 * the URL. Around a marker the API resolves the windows (`around_event`, `span_secs`); the pickers then
 * show the ones it answered with.
 */
export function Compare() {
  const { params, update, page, setPage } = useUrlFilters();
  const local = (k: keyof Windows) => params.get(k) ?? "";
  const preset = params.get("preset") ?? "";
  const markerId = params.get("marker") ?? "";
  const change = oneOf(params.get("change"), CLASS_CHANGES);
  const databaseType = oneOf(params.get("database_type"), DATABASE_TYPES);
  const sort = oneOf(params.get("sort"), COMPARE_SORTS);
  const order = oneOf(params.get("order"), SORT_ORDERS);
  const a_from = instant(local("a_from"));
  const a_to = instant(local("a_to"));
  const b_from = instant(local("b_from"));
  const b_to = instant(local("b_to"));
  const aroundEvent = preset === "marker" && /^[1-9][0-9]*$/.test(markerId) ? Number(markerId) : undefined;
  const ready = aroundEvent !== undefined || Boolean(a_from && a_to && b_from && b_to);
  const filters = { change, database_type: databaseType, sort, order, page, per_page: COMPARE_PER_PAGE };
  const query: CompareQuery =
    aroundEvent !== undefined
      ? { around_event: aroundEvent, span_secs: MARKER_SPAN_SECS, ...filters }
      : { a_from: a_from ?? "", a_to: a_to ?? "", b_from: b_from ?? "", b_to: b_to ?? "", ...filters };
  const result = useQuery({ ...queries.compare(query), enabled: ready });
  // Around a marker the pickers (and the URL) show the windows the API resolved.
  const resolved = aroundEvent !== undefined && result.data && !result.isPlaceholderData ? result.data : undefined;
  const resolvedKey = resolved ? [resolved.a_from, resolved.a_to, resolved.b_from, resolved.b_to].join(" ") : "";
  useEffect(() => {
    if (!resolved) return;
    const w: Windows = {
      a_from: localInput(resolved.a_from),
      a_to: localInput(resolved.a_to),
      b_from: localInput(resolved.b_from),
      b_to: localInput(resolved.b_to),
    };
    if (WINDOW_FIELDS.some((f) => local(f.key) !== w[f.key])) update({ ...w }, false);
    // `resolvedKey` stands for `resolved`; the URL is read as it is now.
  }, [resolvedKey]);
  const markers = useQuery(queries.events.list({ per_page: PICKER_SIZE }));
  const csv = useMutation({
    mutationFn: async () => {
      const text = await fetchCompareCsv(query);
      saveText(text, `dbpower-compare-${local("b_from").replace(/[^0-9T]/g, "")}.csv`);
    },
  });
  const setWindows = (w: Windows, from: { preset: string; marker?: string }) => update({ ...w, preset: from.preset, marker: from.marker });

  return (
    <div className="page">
      <PageHead title="Compare" intro="Two windows side by side, class by class: what is new, gone, slower or faster in B than in A.">
        <button type="button" className="btn" disabled={!ready || csv.isPending} onClick={() => csv.mutate()}>
          {csv.isPending ? "Preparing…" : "Download CSV"}
        </button>
      </PageHead>
      <div className="filters" aria-label="Windows" role="group">
        <div className="segmented" role="group" aria-label="Preset">
          {PRESETS.map((p) => (
            <button
              key={p.value}
              type="button"
              aria-pressed={preset === p.value}
              className={preset === p.value ? "active" : undefined}
              onClick={() => setWindows(presetWindows(p.value), { preset: p.value })}
            >
              {p.label}
            </button>
          ))}
        </div>
        <FilterSelect
          label="Around a marker"
          value={preset === "marker" ? markerId : ""}
          any={markers.data?.items.length ? "Choose a change…" : "No change markers"}
          choices={(markers.data?.items ?? []).map((m) => ({ value: m.id, label: `${formatDateTime(m.at)} · ${m.title}` }))}
          onChange={(v) => {
            const m = markers.data?.items.find((e) => String(e.id) === v);
            // The windows follow from the API's answer.
            if (m) {
              update({ a_from: undefined, a_to: undefined, b_from: undefined, b_to: undefined, preset: "marker", marker: String(m.id) });
            }
          }}
        />
        {WINDOW_FIELDS.map((f) => (
          <InlineField key={f.key} label={f.label}>
            <input
              type="datetime-local"
              value={local(f.key)}
              onChange={(e) => update({ [f.key]: e.target.value, preset: undefined, marker: undefined })}
            />
          </InlineField>
        ))}
      </div>
      <div className="filters" role="search" aria-label="Filter classes">
        <ChoiceFilter label="Change" value={change} choices={CLASS_CHANGES} onChange={(v) => update({ change: v })} />
        <ChoiceFilter label="Engine" value={databaseType} choices={DATABASE_TYPES} onChange={(v) => update({ database_type: v })} />
        <FilterSelect
          label="Sort by"
          value={sort ?? "total_time_delta"}
          choices={COMPARE_SORTS}
          onChange={(v) => update({ sort: v === "total_time_delta" ? undefined : v })}
        />
        <FilterSelect label="Order" value={order ?? "desc"} choices={SORT_ORDERS} onChange={(v) => update({ order: v === "desc" ? undefined : v })} />
      </div>
      <FormError message={csv.isError ? describeError(csv.error) : null} />
      {ready ? (
        <Loaded
          query={result}
          isEmpty={(d) => d.total === 0 && Object.values(d.summary).every((n) => n === 0)}
          empty={<EmptyState title="No classes ran in either window">Pick other windows, or a longer preset.</EmptyState>}
        >
          {(d) => <CompareResult data={d} page={page} setPage={setPage} stale={result.isPlaceholderData} />}
        </Loaded>
      ) : (
        <EmptyState title="Choose two windows">
          Pick a preset (B is the last period ending at the current hour, A the one before it), a change marker (the 24 hours
          before it and after it), or set both windows.
        </EmptyState>
      )}
    </div>
  );
}
