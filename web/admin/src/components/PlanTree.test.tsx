import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import { PlanDiff, PlanTree } from "./PlanTree";
import { MARIADB, mariaLookup, PG_ANALYZE, pgLookup } from "../test/plans";

/** The `<li>` of the node whose title is `title` (a PostgreSQL node type, or a MySQL operation or table). */
function node(title: string, root: HTMLElement = document.body): HTMLElement {
  const el = within(root).getByText(title, { selector: "strong, code" });
  const li = el.closest("li");
  if (!li) throw new Error(`no node ${title}`);
  return li;
}
/** What a node itself says (its title line, share and facts), not its children. */
function own(li: HTMLElement): string {
  return [...li.children]
    .filter((c) => c.tagName !== "UL")
    .map((c) => c.textContent)
    .join(" | ");
}

describe("PlanTree: PostgreSQL EXPLAIN ANALYZE", () => {
  it("draws the nodes as nested lists, parents around their children", () => {
    render(<PlanTree plan={PG_ANALYZE} label="Plan tree" />);
    const tree = screen.getByRole("list", { name: "Plan tree" });
    const sort = node("Sort", tree);
    const join = node("Hash Join", sort);
    expect(node("Seq Scan", join)).toBeInTheDocument();
    expect(node("Index Scan", node("Hash", join))).toBeInTheDocument();
    expect(own(node("Seq Scan"))).toMatch(/Seq Scan on orders o/);
    expect(own(node("Index Scan"))).toMatch(/Index Scan on customers c using customers_pkey/);
    expect(own(join)).toMatch(/Hash Join Inner join/);
    expect(own(join)).toContain("Hash Cond: (o.customer_id = c.id)");
  });

  it("marks the one node whose estimate is 10x off, with both numbers", () => {
    render(<PlanTree plan={PG_ANALYZE} />);
    const marks = screen.getAllByText(/^misestimate/);
    expect(marks).toHaveLength(1);
    expect(marks[0]).toHaveTextContent("misestimate 98×");
    expect(marks[0]?.closest("li")).toBe(node("Seq Scan"));
    expect(own(node("Seq Scan"))).toMatch(/est\. rows 100 · actual rows 9,800/);
    // 10,000 estimated and 9,800 read is a good estimate.
    expect(own(node("Hash Join"))).toMatch(/est\. rows 10,000 · actual rows 9,800/);
    expect(own(node("Hash Join"))).not.toMatch(/misestimate/);
  });

  it("gives each node its share of the total time", () => {
    render(<PlanTree plan={PG_ANALYZE} />);
    expect(own(node("Sort"))).toContain("100% of time");
    expect(own(node("Hash Join"))).toContain("60% of time");
    expect(own(node("Seq Scan"))).toContain("40% of time");
    expect(own(node("Index Scan"))).toContain("6.0% of time");
  });

  it("marks the sort that spilled to disk, not the hash that fit in memory, and shows buffers", () => {
    render(<PlanTree plan={PG_ANALYZE} />);
    const spills = screen.getAllByText("spills to disk");
    expect(spills).toHaveLength(1);
    expect(spills[0]?.closest("li")).toBe(node("Sort"));
    expect(spills[0]).toHaveAttribute("title", expect.stringContaining("sort on disk (2,048 kB)"));
    expect(own(node("Sort"))).toContain("sort: external merge, 2,048 kB (Disk)");
    expect(own(node("Sort"))).toContain("buffers: hit 120, read 880");
    expect(own(node("Hash"))).toContain("hash batches 1");
    expect(own(node("Hash"))).not.toContain("spills to disk");
  });

  it("says nothing of time or misestimates for a plain EXPLAIN", () => {
    render(<PlanTree plan={pgLookup(null)} />);
    expect(own(node("Seq Scan"))).toContain("est. rows 1");
    expect(screen.queryByText(/of time/)).toBeNull();
    expect(screen.queryByText(/misestimate|actual rows/)).toBeNull();
  });
});

describe("PlanTree: MariaDB EXPLAIN FORMAT=JSON", () => {
  it("draws the query block's operations and tables, marking the full scan and the filesort", () => {
    render(<PlanTree plan={MARIADB} label="Plan tree" />);
    const tree = screen.getByRole("list", { name: "Plan tree" });
    const block = node("query block #1", tree);
    const filesort = node("filesort", block);
    const loop = node("nested loop", node("temporary table", filesort));
    const orders = node("orders", loop);
    const customers = node("customers", loop);

    const full = screen.getAllByText("full scan");
    expect(full).toHaveLength(1);
    expect(full[0]?.closest("li")).toBe(orders);
    expect(own(orders)).toContain("access ALL · est. rows 10,152 · filtered 100%");
    expect(own(customers)).toContain("access eq_ref · key PRIMARY · est. rows 1");
    expect(own(customers)).not.toContain("full scan");

    expect(own(filesort)).toMatch(/filesort.*filesort/); // the operation, flagged as one
    expect(own(filesort)).toContain("sort key: o.created_at desc");
    expect(screen.getAllByText("temporary table", { selector: ".pill" })).toHaveLength(1);
  });

  it("shows MariaDB's ANALYZE numbers when present", () => {
    const analyzed = structuredClone(mariaLookup(null)) as { query_block: { r_total_time_ms?: number; table: Record<string, unknown> } };
    Object.assign(analyzed.query_block.table, { r_loops: 1, r_rows: 10152, r_total_time_ms: 12.5, r_filtered: 0.01 });
    render(<PlanTree plan={analyzed} />);
    expect(own(node("orders"))).toContain("actual rows 10,152 · 12.5 ms · actual filtered 0.01%");
  });

  it("reads a MySQL plan's rows_examined_per_scan and ordering_operation", () => {
    const mysql = {
      query_block: {
        select_id: 1,
        cost_info: { query_cost: "1027.45" },
        ordering_operation: {
          using_filesort: true,
          table: {
            table_name: "orders",
            access_type: "ALL",
            rows_examined_per_scan: 10152,
            rows_produced_per_join: 1015,
            filtered: "10.00",
            cost_info: { read_cost: "925.93" },
            used_columns: ["id", "email"],
            attached_condition: "(`shop`.`orders`.`email` = ?)",
          },
        },
      },
    };
    render(<PlanTree plan={mysql} />);
    expect(own(node("query block #1"))).toContain("cost 1,027.45");
    expect(own(node("ordering"))).toContain("filesort");
    expect(own(node("orders"))).toContain("est. rows 10,152 · filtered 10%");
    expect(own(node("orders"))).toContain("full scan");
  });
});

describe("PlanTree: anything else", () => {
  it("shows a plan in no known format as raw JSON", () => {
    render(<PlanTree plan={{ plan: "opaque", steps: 3 }} label="Plan tree" />);
    expect(screen.queryByRole("list")).toBeNull();
    const pre = screen.getByRole("figure", { name: "Plan tree" }).querySelector("pre");
    expect(JSON.parse(pre?.textContent ?? "")).toEqual({ plan: "opaque", steps: 3 });
  });
});

describe("PlanDiff", () => {
  it("highlights exactly the node that went from a sequential scan to an index scan", () => {
    render(
      <PlanDiff
        before={{ plan: pgLookup(null), label: "Older: orders: Seq Scan" }}
        after={{ plan: pgLookup("orders_email_idx"), label: "Newer: orders: Index Scan using orders_email_idx" }}
      />,
    );
    const older = screen.getByRole("region", { name: "Older: orders: Seq Scan" });
    const newer = screen.getByRole("region", { name: "Newer: orders: Index Scan using orders_email_idx" });
    // Both trees, side by side.
    expect(within(older).getByRole("list", { name: "Older: orders: Seq Scan" })).toBeInTheDocument();
    const changedOlder = older.querySelectorAll(".plan-node-changed");
    const changedNewer = newer.querySelectorAll(".plan-node-changed");
    expect(changedOlder).toHaveLength(1);
    expect(changedNewer).toHaveLength(1);
    expect(changedOlder[0]).toBe(node("Seq Scan", older));
    expect(changedNewer[0]).toBe(node("Index Scan", newer));
    // The marker is visible and readable, and names what the node was paired with.
    const badge = within(newer).getByText("changed");
    expect(badge).toHaveAttribute("title", "In the other plan: Seq Scan on orders");
    expect(screen.getAllByText("changed")).toHaveLength(2);
    expect(node("Limit", newer)).not.toHaveClass("plan-node-changed");
    expect(screen.queryByText(/^(added|removed)$/)).toBeNull();
    expect(screen.getByText("1 node changed.")).toBeInTheDocument();
  });

  it("marks nodes with no counterpart as added or removed", () => {
    const older = [{ Plan: { "Node Type": "Limit", Plans: [{ "Node Type": "Sort", Plans: [pgLookup(null)[0]?.Plan.Plans[0]] }] } }];
    render(<PlanDiff before={{ plan: older, label: "Older" }} after={{ plan: pgLookup("orders_email_idx"), label: "Newer" }} />);
    const olderSide = screen.getByRole("region", { name: "Older" });
    const newerSide = screen.getByRole("region", { name: "Newer" });
    // Limit = Limit; Sort vs Index Scan changed; the Seq Scan has no counterpart.
    expect(node("Sort", olderSide)).toHaveClass("plan-node-changed");
    expect(node("Index Scan", newerSide)).toHaveClass("plan-node-changed");
    expect(node("Seq Scan", olderSide)).toHaveClass("plan-node-removed");
    expect(within(node("Seq Scan", olderSide)).getByText("removed")).toBeInTheDocument();
    expect(newerSide.querySelectorAll(".plan-node-added, .plan-node-removed")).toHaveLength(0);
    expect(screen.getByText("1 node changed, 1 removed.")).toBeInTheDocument();
  });

  it("highlights the table whose access went from a full scan to a key (MariaDB)", () => {
    render(<PlanDiff before={{ plan: mariaLookup(null), label: "Older" }} after={{ plan: mariaLookup("email_idx"), label: "Newer" }} />);
    const newerSide = screen.getByRole("region", { name: "Newer" });
    const changed = newerSide.querySelectorAll(".plan-node-changed");
    expect(changed).toHaveLength(1);
    expect(changed[0]).toBe(node("orders", newerSide));
    expect(own(node("orders", newerSide))).toContain("access ref · key email_idx");
    expect(node("query block #1", newerSide)).not.toHaveClass("plan-node-changed");
  });

  it("says when two plans visit the same nodes", () => {
    render(<PlanDiff before={{ plan: PG_ANALYZE, label: "Older" }} after={{ plan: structuredClone(PG_ANALYZE), label: "Newer" }} />);
    expect(screen.getByText("Both plans visit the same nodes.")).toBeInTheDocument();
    expect(document.querySelectorAll(".plan-node-changed, .plan-node-added, .plan-node-removed")).toHaveLength(0);
  });
});
