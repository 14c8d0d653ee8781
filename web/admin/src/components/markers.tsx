/**
 * Change markers (deploys, schema and configuration changes, notes) on the panel's time charts: a dashed
 * `ReferenceLine` at the bucket a marker falls in, labelled with its title.
 */
import { useQuery } from "@tanstack/react-query";
import { ReferenceLine } from "recharts";
import { PICKER_SIZE, queries } from "../api/queries";
import type { Schemas } from "../api/types";
import { HOUR_MS } from "../lib/time";

/** The markers from `from` (an instant) on, newest first; nothing until `from` is known. */
export function useChangeMarkers(from: string | undefined) {
  const q = useQuery({ ...queries.events.list({ from, per_page: PICKER_SIZE }), enabled: Boolean(from) });
  return q.data?.items ?? [];
}

/**
 * The markers as reference lines of a chart with a category x axis: `bucketOf` names the category a
 * marker's time falls in, or `undefined` when the chart does not show it.
 */
export function markerLines(markers: readonly Schemas["EventView"][], bucketOf: (at: number) => string | undefined) {
  return markers.flatMap((m) => {
    const x = bucketOf(new Date(m.at).getTime());
    if (x === undefined) return [];
    return [
      <ReferenceLine
        key={`marker-${m.id}`}
        x={x}
        stroke="#d97706"
        strokeDasharray="4 3"
        label={{ value: m.title, position: "insideTopLeft", fontSize: 11, fill: "#92400e" }}
      />,
    ];
  });
}

/** The UTC day (`YYYY-MM-DD`) of an instant. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/**
 * The hourly bucket (an element of `hours`, RFC 3339 hour starts in ascending order) a time falls in; a
 * time in an hour without a bucket goes to the next bucket (the change came before everything in it).
 * Times outside the series are not shown.
 */
export function hourBucket(hours: readonly string[], at: number): string | undefined {
  const first = hours[0];
  const last = hours[hours.length - 1];
  if (first === undefined || last === undefined) return undefined;
  if (at < new Date(first).getTime() || at >= new Date(last).getTime() + HOUR_MS) return undefined;
  return hours.find((h) => new Date(h).getTime() + HOUR_MS > at);
}
