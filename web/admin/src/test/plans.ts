/** Realistic EXPLAIN output for the plan tests. */

/**
 * PostgreSQL `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of
 * `SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'paid'
 *  ORDER BY o.created_at DESC`: a sort that spilled to disk over a hash join of a sequential scan of
 * `orders` (estimated 100 rows, 9,800 read) and an index scan of `customers`.
 */
export const PG_ANALYZE = [
  {
    Plan: {
      "Node Type": "Sort",
      "Parallel Aware": false,
      "Async Capable": false,
      "Startup Cost": 4390.31,
      "Total Cost": 4415.31,
      "Plan Rows": 10000,
      "Plan Width": 72,
      "Actual Startup Time": 140.112,
      "Actual Total Time": 150.0,
      "Actual Rows": 9800,
      "Actual Loops": 1,
      "Sort Key": ["o.created_at DESC"],
      "Sort Method": "external merge",
      "Sort Space Used": 2048,
      "Sort Space Type": "Disk",
      "Shared Hit Blocks": 120,
      "Shared Read Blocks": 880,
      "Temp Read Blocks": 256,
      "Temp Written Blocks": 257,
      Plans: [
        {
          "Node Type": "Hash Join",
          "Parent Relationship": "Outer",
          "Parallel Aware": false,
          "Async Capable": false,
          "Join Type": "Inner",
          "Startup Cost": 23.25,
          "Total Cost": 1890.4,
          "Plan Rows": 10000,
          "Plan Width": 72,
          "Actual Startup Time": 2.301,
          "Actual Total Time": 90.0,
          "Actual Rows": 9800,
          "Actual Loops": 1,
          "Inner Unique": true,
          "Hash Cond": "(o.customer_id = c.id)",
          "Shared Hit Blocks": 120,
          "Shared Read Blocks": 880,
          Plans: [
            {
              "Node Type": "Seq Scan",
              "Parent Relationship": "Outer",
              "Parallel Aware": false,
              "Async Capable": false,
              "Relation Name": "orders",
              "Alias": "o",
              "Startup Cost": 0.0,
              "Total Cost": 1834.0,
              "Plan Rows": 100,
              "Plan Width": 64,
              "Actual Startup Time": 0.012,
              "Actual Total Time": 60.0,
              "Actual Rows": 9800,
              "Actual Loops": 1,
              "Filter": "(status = $1)",
              "Rows Removed by Filter": 200,
              "Shared Hit Blocks": 100,
              "Shared Read Blocks": 834,
            },
            {
              "Node Type": "Hash",
              "Parent Relationship": "Inner",
              "Parallel Aware": false,
              "Async Capable": false,
              "Startup Cost": 17.0,
              "Total Cost": 17.0,
              "Plan Rows": 500,
              "Plan Width": 12,
              "Actual Startup Time": 10.0,
              "Actual Total Time": 10.0,
              "Actual Rows": 500,
              "Actual Loops": 1,
              "Hash Buckets": 1024,
              "Original Hash Buckets": 1024,
              "Hash Batches": 1,
              "Original Hash Batches": 1,
              "Peak Memory Usage": 30,
              "Shared Hit Blocks": 20,
              "Shared Read Blocks": 46,
              Plans: [
                {
                  "Node Type": "Index Scan",
                  "Parent Relationship": "Outer",
                  "Parallel Aware": false,
                  "Async Capable": false,
                  "Scan Direction": "Forward",
                  "Index Name": "customers_pkey",
                  "Relation Name": "customers",
                  "Alias": "c",
                  "Startup Cost": 0.28,
                  "Total Cost": 15.7,
                  "Plan Rows": 500,
                  "Plan Width": 12,
                  "Actual Startup Time": 0.02,
                  "Actual Total Time": 9.0,
                  "Actual Rows": 500,
                  "Actual Loops": 1,
                  "Index Cond": "(id > $2)",
                  "Shared Hit Blocks": 20,
                  "Shared Read Blocks": 46,
                },
              ],
            },
          ],
        },
      ],
    },
    Planning: { "Shared Hit Blocks": 12, "Shared Read Blocks": 0 },
    "Planning Time": 0.512,
    Triggers: [],
    "Execution Time": 151.204,
  },
];

/**
 * MariaDB `EXPLAIN FORMAT=JSON` of the same statement: `orders` read whole (access type ALL), then
 * `customers` by its primary key, sorted through a temporary table (a filesort).
 */
export const MARIADB = {
  query_block: {
    select_id: 1,
    filesort: {
      sort_key: "o.created_at desc",
      temporary_table: {
        nested_loop: [
          {
            table: {
              table_name: "orders",
              access_type: "ALL",
              possible_keys: ["customer_id"],
              rows: 10152,
              filtered: 100,
              attached_condition: "o.`status` = ?",
            },
          },
          {
            table: {
              table_name: "customers",
              access_type: "eq_ref",
              possible_keys: ["PRIMARY"],
              key: "PRIMARY",
              key_length: "4",
              used_key_parts: ["id"],
              ref: ["shop.o.customer_id"],
              rows: 1,
              filtered: 100,
            },
          },
        ],
      },
    },
  },
};

/** A one-table PostgreSQL plan: `Limit` over a sequential scan, or over an index scan, of `orders`. */
export function pgLookup(index: string | null) {
  const scan = index
    ? { "Node Type": "Index Scan", "Scan Direction": "Forward", "Index Name": index, "Relation Name": "orders", Alias: "orders" }
    : { "Node Type": "Seq Scan", "Relation Name": "orders", Alias: "orders", Filter: "((email)::text = $1)" };
  return [
    {
      Plan: {
        "Node Type": "Limit",
        "Startup Cost": 0,
        "Total Cost": index ? 8.3 : 1834,
        "Plan Rows": 1,
        "Plan Width": 64,
        Plans: [
          { ...scan, "Parent Relationship": "Outer", "Startup Cost": 0, "Total Cost": index ? 8.3 : 1834, "Plan Rows": 1, "Plan Width": 64 },
        ],
      },
    },
  ];
}

/** A one-table MariaDB plan: `orders` read whole, or by a key. */
export function mariaLookup(key: string | null) {
  return {
    query_block: {
      select_id: 1,
      table: key
        ? { table_name: "orders", access_type: "ref", possible_keys: [key], key, key_length: "767", ref: ["const"], rows: 1, filtered: 100 }
        : { table_name: "orders", access_type: "ALL", rows: 10152, filtered: 100, attached_condition: "orders.email = ?" },
    },
  };
}
