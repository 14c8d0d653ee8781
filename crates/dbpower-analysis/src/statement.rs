//! The statement rules, on sqlparser's AST. One visitor walks the statement: every query block
//! (top level, UNION branch, CTE, subquery) is checked with its context (top level? body of EXISTS?
//! its query's LIMIT and ORDER BY), every expression is checked wherever it is, and each block's
//! filters are recorded as facts (equality, range, join and function-wrapped columns per table) for
//! the index advisor.

use std::collections::HashSet;
use std::ops::ControlFlow;

use dbpower_sql::Dialect;
use dbpower_types::{SchemaSnapshot, Severity, TableSchema};
use sqlparser::ast::{
    BinaryOperator, Distinct, Expr, FromTable, GroupByExpr, JoinConstraint, JoinOperator,
    LimitClause, OrderByKind, Query, Select, SelectItem, SetExpr, SetOperator, SetQuantifier,
    Statement, TableFactor, TableWithJoins, UpdateTableFromKind, Visit, Visitor,
};

use crate::expr::{self, ColRef, snippet};

/// A rule that fired, with what triggered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub evidence: String,
    /// Set when the finding is weaker or stronger than the rule's default.
    pub severity: Option<Severity>,
    /// The table it is about, when it names one (`missing_index`): what a plan that shows the table's
    /// full scan is right can drop it by.
    pub table: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRef {
    pub schema: Option<String>,
    pub name: String,
    pub alias: Option<String>,
    /// A named table (not a derived table or table function).
    pub base: bool,
    /// Which comma-separated FROM item it belongs to.
    pub(crate) group: usize,
}

/// The filters of one query block, per table (indexes into `tables`).
#[derive(Debug, Clone, Default)]
pub struct Block {
    pub tables: Vec<TableRef>,
    pub eq: Vec<(usize, String)>,
    pub range: Vec<(usize, String)>,
    /// Equality between columns of two tables.
    pub joins: Vec<((usize, String), (usize, String))>,
    /// Columns compared for equality with a column of an enclosing block (a correlated subquery's key:
    /// one value per outer row).
    pub correlated: Vec<(usize, String)>,
    /// The columns the select list and GROUP BY read (empty unless every item is a column or an
    /// aggregate of columns).
    pub output: Vec<(usize, String)>,
    /// The columns of an OR whose branches each compare one column of one table with constants.
    pub or_columns: Vec<Vec<(usize, String)>>,
    /// Function-wrapped columns compared with constants: (table, column, expression text).
    pub funcs: Vec<(usize, String, String)>,
    /// ORDER BY columns, when they are all plain columns of one table.
    pub order: Vec<(usize, String)>,
    pub has_limit: bool,
    /// The statement's outermost SELECT aggregates (an aggregate in its select list, or GROUP BY): it
    /// returns groups, not the rows it reads.
    pub aggregate: bool,
}

pub struct Facts {
    pub findings: Vec<Finding>,
    pub blocks: Vec<Block>,
}

/// Walks one parsed statement.
pub fn check(stmt: &Statement, dialect: Dialect, schema: Option<&SchemaSnapshot>) -> Facts {
    let mut w = Walker {
        dialect,
        schema,
        stack: Vec::new(),
        exists_bodies: HashSet::new(),
        top_is_query: matches!(stmt, Statement::Query(_)),
        ddl: matches!(
            stmt,
            Statement::CreateIndex(_)
                | Statement::CreateTable(_)
                | Statement::AlterTable(_)
                | Statement::CreateDomain(_)
        ),
        ctes: Vec::new(),
        scopes: Vec::new(),
        findings: Vec::new(),
        blocks: Vec::new(),
    };
    let _ = stmt.visit(&mut w);
    Facts {
        findings: w.findings,
        blocks: w.blocks,
    }
}

/// What the rules need to know of a CTE where its name is used.
struct CteFacts {
    name: String,
    /// Every SELECT of its body lists its columns.
    listed: bool,
    /// Its body filters or limits its rows.
    bounded: bool,
}

struct QueryCtx {
    top: bool,
    has_limit: bool,
    exists_body: bool,
    order: Vec<ColRef>,
    /// How many CTE names were visible before this query's WITH.
    ctes_before: usize,
}

pub(crate) struct Walker<'s> {
    pub(crate) dialect: Dialect,
    pub(crate) schema: Option<&'s SchemaSnapshot>,
    stack: Vec<QueryCtx>,
    /// Addresses of the queries that are the body of an EXISTS.
    pub(crate) exists_bodies: HashSet<usize>,
    pub(crate) top_is_query: bool,
    /// The statement defines a table, an index or a domain: its expressions (a partial index's predicate,
    /// a generated column, a CHECK) are stored, not searched. A query inside it (CREATE TABLE ... AS
    /// SELECT) still is a search.
    ddl: bool,
    /// The CTEs in scope, innermost last.
    ctes: Vec<CteFacts>,
    /// The tables of the enclosing query blocks, innermost last (for correlated references).
    pub(crate) scopes: Vec<Vec<TableRef>>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) blocks: Vec<Block>,
}

fn addr(q: &Query) -> usize {
    q as *const Query as usize
}

impl Walker<'_> {
    pub(crate) fn push(&mut self, rule: &'static str, evidence: String) {
        self.push_with(rule, evidence, None);
    }

    pub(crate) fn push_with(
        &mut self,
        rule: &'static str,
        evidence: String,
        severity: Option<Severity>,
    ) {
        if !self.findings.iter().any(|f| f.rule == rule) {
            self.findings.push(Finding {
                rule,
                evidence,
                severity,
                table: None,
            });
        }
    }

    /// The FROM starts with a derived table or CTE that filters or limits its rows and joins everything
    /// else to it: the ORM wrapper `SELECT ... FROM (SELECT ... WHERE ... LIMIT 10) AS "User" LEFT JOIN
    /// "Posts" ON ...` reads the joined tables only for those rows.
    fn driven_by_bounded(&self, s: &Select) -> bool {
        let [twj] = s.from.as_slice() else {
            return false;
        };
        let driver = match &twj.relation {
            TableFactor::Derived { subquery, .. } => bounded(subquery),
            TableFactor::Table {
                name, args: None, ..
            } if name.0.len() == 1 => self.cte(&expr::last_name(name)).is_some_and(|c| c.bounded),
            _ => false,
        };
        driver
            && twj.joins.iter().all(|j| {
                !matches!(
                    j.join_operator,
                    JoinOperator::CrossJoin(_)
                        | JoinOperator::CrossApply
                        | JoinOperator::OuterApply
                )
            })
    }

    fn cte_in_scope(&self, name: &sqlparser::ast::ObjectName) -> bool {
        let n = expr::last_name(name);
        self.ctes.iter().any(|c| c.name == n)
    }

    /// `name` is a CTE in scope whose body lists its columns.
    pub(crate) fn cte_listed(&self, name: &str) -> bool {
        self.cte(name).is_some_and(|c| c.listed)
    }

    fn cte(&self, name: &str) -> Option<&CteFacts> {
        self.ctes.iter().rev().find(|c| c.name == name)
    }

    pub(crate) fn schema_table(&self, t: &TableRef) -> Option<&TableSchema> {
        self.schema
            .and_then(|s| s.table(t.schema.as_deref(), &t.name))
    }

    /// The columns a block's rows are read for (its select list and GROUP BY), when every select item
    /// is a column or an aggregate of columns: what an index must hold to answer it alone.
    fn output_columns(
        &self,
        items: &[&Expr],
        projected: usize,
        group: &[Expr],
        tables: &[TableRef],
    ) -> Vec<(usize, String)> {
        let plain = items.len() == projected
            && items
                .iter()
                .all(|e| expr::column_of(e).is_some() || expr::contains_aggregate(e));
        let mut out: Vec<(usize, String)> = Vec::new();
        if !plain {
            return out;
        }
        for e in items.iter().copied().chain(group) {
            for col in expr::columns_outside_subqueries(e) {
                match self.resolve(tables, &col) {
                    Some(t) if !out.contains(&(t, col.1.clone())) => out.push((t, col.1)),
                    Some(_) => {}
                    None => return Vec::new(),
                }
            }
        }
        out
    }

    /// Which table of the block a column belongs to.
    pub(crate) fn resolve(&self, tables: &[TableRef], col: &ColRef) -> Option<usize> {
        match &col.0 {
            Some(q) => tables.iter().position(|t| {
                t.alias.as_deref() == Some(q.as_str()) || (t.alias.is_none() && &t.name == q)
            }),
            None => {
                if tables.len() == 1 {
                    return Some(0);
                }
                let owners: Vec<usize> = tables
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| {
                        self.schema_table(t)
                            .is_some_and(|s| s.column(&col.1).is_some())
                    })
                    .map(|(i, _)| i)
                    .collect();
                (owners.len() == 1).then(|| owners[0])
            }
        }
    }

    /// The table a column belongs to: this block's, or (qualified only) an enclosing block's.
    pub(crate) fn lookup(&self, tables: &[TableRef], col: &ColRef) -> Option<TableRef> {
        if let Some(t) = self.resolve(tables, col) {
            return Some(tables[t].clone());
        }
        col.0.as_ref()?;
        self.scopes
            .iter()
            .rev()
            .find_map(|outer| self.resolve(outer, col).map(|t| outer[t].clone()))
    }

    pub(crate) fn column_type(&self, tables: &[TableRef], col: &ColRef) -> Option<String> {
        let t = self.lookup(tables, col)?;
        self.schema_table(&t)?
            .column(&col.1)
            .map(|c| c.data_type.clone())
    }

    fn query_rules(&mut self, q: &Query) {
        if let Some(order) = &q.order_by
            && let OrderByKind::Expressions(items) = &order.kind
        {
            for item in items {
                match &item.expr {
                    Expr::Function(f)
                        if matches!(expr::function_name(f).as_str(), "rand" | "random") =>
                    {
                        self.push("order_by_rand", format!("ORDER BY {}", snippet(&item.expr)));
                    }
                    e if self.computed_key(e, &[]) || matches!(e, Expr::Function(_)) => {
                        self.push(
                            "expression_in_group_order",
                            format!("ORDER BY {}", snippet(e)),
                        );
                    }
                    _ => {}
                }
            }
        }
        let offset = match &q.limit_clause {
            Some(LimitClause::LimitOffset {
                offset: Some(o), ..
            }) => Some(&o.value),
            Some(LimitClause::OffsetCommaLimit { offset, .. }) => Some(offset),
            _ => None,
        };
        if let Some(o) = offset {
            if let Some(n) = expr::number(o).filter(|n| *n >= 1000.0) {
                self.push("large_offset", format!("OFFSET {n}"));
            } else if expr::is_placeholder(o) {
                self.push_with(
                    "large_offset",
                    format!(
                        "OFFSET {o} (the value is a parameter: every page reads all rows before it)"
                    ),
                    Some(Severity::Low),
                );
            }
        }
        if let Some(lock) = q.locks.first() {
            self.push("select_for_update", format!("FOR {}", lock.lock_type));
        }
        self.set_rules(&q.body);
    }

    fn set_rules(&mut self, body: &SetExpr) {
        if let SetExpr::SetOperation {
            left,
            op,
            set_quantifier,
            right,
        } = body
        {
            if *op == SetOperator::Union
                && !matches!(
                    set_quantifier,
                    SetQuantifier::All | SetQuantifier::AllByName
                )
            {
                self.push("union_without_all", "UNION".into());
            }
            self.set_rules(left);
            self.set_rules(right);
        }
    }

    /// Tables of a FROM item, in order; ON conditions and join problems on the way.
    fn walk_from_item<'a>(
        &mut self,
        twj: &'a TableWithJoins,
        group: usize,
        tables: &mut Vec<TableRef>,
        on: &mut Vec<&'a Expr>,
    ) {
        self.factor(&twj.relation, group, tables, on);
        for join in &twj.joins {
            let left_base = tables.iter().any(|t| t.base && t.group == group);
            let before = tables.len();
            self.factor(&join.relation, group, tables, on);
            let right_base = tables.get(before).is_some_and(|t| t.base);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::CrossJoin(_) => None,
                _ => continue,
            };
            match constraint {
                Some(JoinConstraint::On(e)) => on.push(e),
                Some(JoinConstraint::Using(_) | JoinConstraint::Natural) => {}
                Some(JoinConstraint::None) | None => {
                    if left_base && right_base {
                        let name = tables
                            .get(before)
                            .map(|t| t.name.clone())
                            .unwrap_or_default();
                        let how = if constraint.is_none() {
                            "CROSS JOIN"
                        } else {
                            "JOIN without ON"
                        };
                        self.push("cartesian_join", format!("{how} {name}"));
                    }
                }
            }
        }
    }

    fn factor<'a>(
        &mut self,
        tf: &'a TableFactor,
        group: usize,
        tables: &mut Vec<TableRef>,
        on: &mut Vec<&'a Expr>,
    ) {
        match tf {
            TableFactor::Table {
                name, alias, args, ..
            } => tables.push(TableRef {
                schema: expr::qualifier_name(name),
                name: expr::last_name(name),
                alias: alias.as_ref().map(|a| a.name.value.to_lowercase()),
                // A CTE's name is the CTE's rows, not a stored table.
                base: args.is_none() && !(name.0.len() == 1 && self.cte_in_scope(name)),
                group,
            }),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.walk_from_item(table_with_joins, group, tables, on),
            TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::Function { alias, .. }
            | TableFactor::UNNEST { alias, .. } => tables.push(TableRef {
                name: alias
                    .as_ref()
                    .map(|a| a.name.value.to_lowercase())
                    .unwrap_or_default(),
                alias: alias.as_ref().map(|a| a.name.value.to_lowercase()),
                base: false,
                group,
                ..TableRef::default()
            }),
            _ => tables.push(TableRef {
                group,
                ..TableRef::default()
            }),
        }
    }

    fn block(&mut self, s: &Select) {
        let (top, has_limit, exists_body, order) = match self.stack.last() {
            Some(c) => (
                c.top && self.stack.len() == 1,
                c.has_limit,
                c.exists_body,
                c.order.clone(),
            ),
            None => (false, false, false, Vec::new()),
        };
        let mut tables = Vec::new();
        let mut on = Vec::new();
        for (group, twj) in s.from.iter().enumerate() {
            self.walk_from_item(twj, group, &mut tables, &mut on);
        }
        let base_count = tables.iter().filter(|t| t.base).count();
        let joined = tables.len() > 1;

        let star = s.projection.iter().find(|p| !self.item_lists_columns(s, p));
        if let Some(p) = star
            && !exists_body
        {
            self.push("select_star", format!("SELECT {p}"));
        }
        // DISTINCT ON keeps one chosen row per key (the newest order of each user): a deliberate pick, not
        // duplicates that a join made.
        if matches!(s.distinct, Some(Distinct::Distinct)) && joined {
            self.push("distinct_with_join", "SELECT DISTINCT over a join".into());
        }
        if base_count > 8 {
            self.push("too_many_joins", format!("{base_count} tables in one FROM"));
        }
        let group_exprs: &[Expr] = match &s.group_by {
            GroupByExpr::Expressions(exprs, _) => exprs,
            GroupByExpr::All(_) => &[],
        };
        if let Some(g) = group_exprs.iter().find(|g| self.computed_key(g, &tables)) {
            self.push(
                "expression_in_group_order",
                format!("GROUP BY {}", snippet(g)),
            );
        }
        if let Some(h) = &s.having
            && !expr::contains_aggregate(h)
        {
            self.push("having_without_aggregate", format!("HAVING {}", snippet(h)));
        }
        let items: Vec<&Expr> = s
            .projection
            .iter()
            .filter_map(|p| match p {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                _ => None,
            })
            .collect();
        let aggregate_only = !items.is_empty()
            && items.len() == s.projection.len()
            && items.iter().all(|e| expr::contains_aggregate(e));
        let small = |w: &Self| {
            w.schema.is_some()
                && tables.iter().filter(|t| t.base).all(|t| {
                    w.schema_table(t)
                        .and_then(|x| x.rows)
                        .is_some_and(|r| r < 10_000)
                })
        };
        if top && base_count > 0 && s.selection.is_none() && group_exprs.is_empty() {
            if !has_limit && !aggregate_only && !small(self) && !self.driven_by_bounded(s) {
                let names: Vec<&str> = tables
                    .iter()
                    .filter(|t| t.base)
                    .map(|t| t.name.as_str())
                    .collect();
                self.push(
                    "select_without_where",
                    format!("FROM {} without WHERE or LIMIT", names.join(", ")),
                );
            }
            let count_only = items.len() == 1
                && s.projection.len() == 1
                && matches!(items[0], Expr::Function(f) if expr::is_plain_count(f));
            if count_only && tables.len() == 1 && base_count == 1 && !small(self) {
                self.push(
                    "count_full_table",
                    format!("SELECT {} FROM {}", items[0], tables[0].name),
                );
            }
        }
        self.correlated(&items, &tables);

        let mut block = Block {
            has_limit,
            aggregate: top
                && (!group_exprs.is_empty() || items.iter().any(|e| expr::contains_aggregate(e))),
            output: self.output_columns(&items, s.projection.len(), group_exprs, &tables),
            ..Block::default()
        };
        for cond in on.iter().copied().chain(s.selection.as_ref()) {
            self.condition(cond, &tables, &mut block);
        }
        if let Some(w) = &s.selection {
            self.or_across_columns(w, &tables);
        }
        self.cartesian(s, &tables);
        let resolved: Vec<(usize, String)> = order
            .iter()
            .filter_map(|c| self.resolve(&tables, c).map(|t| (t, c.1.clone())))
            .collect();
        if !resolved.is_empty()
            && resolved.len() == order.len()
            && resolved.iter().all(|(t, _)| *t == resolved[0].0)
        {
            block.order = resolved;
        }
        self.scopes.push(tables.clone());
        block.tables = tables;
        self.blocks.push(block);
    }

    fn dml(
        &mut self,
        verb: &str,
        targets: Vec<&TableWithJoins>,
        selection: Option<&Expr>,
        single_table: bool,
    ) {
        // MySQL before 8.0.21 and MariaDB before 11.1 cannot make a semi-join of the IN (subquery) of a
        // single-table UPDATE or DELETE: it runs as a dependent subquery for every row of the table
        // (measured with EXPLAIN on MariaDB 10.11). A multi-table statement is optimized like a SELECT.
        if self.dialect == Dialect::Mysql
            && single_table
            && let Some(e) = selection.and_then(in_subquery_of_condition)
        {
            self.push(
                "in_subquery_mysql",
                format!("{verb} ... WHERE {} IN (SELECT ...)", snippet(e)),
            );
        }
        let mut tables = Vec::new();
        let mut on = Vec::new();
        for (group, twj) in targets.into_iter().enumerate() {
            self.walk_from_item(twj, group, &mut tables, &mut on);
        }
        let name = tables.first().map(|t| t.name.clone()).unwrap_or_default();
        let mut block = Block::default();
        match selection {
            None => self.push("dml_without_where", format!("{verb} {name} (no WHERE)")),
            Some(w) => {
                self.or_across_columns(w, &tables);
            }
        }
        for cond in on.iter().copied().chain(selection) {
            self.condition(cond, &tables, &mut block);
        }
        block.tables = tables;
        self.blocks.push(block);
    }
}

impl Visitor for Walker<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        match s {
            Statement::Update(u) => {
                let mut targets = vec![&u.table];
                if let Some(UpdateTableFromKind::AfterSet(f) | UpdateTableFromKind::BeforeSet(f)) =
                    &u.from
                {
                    targets.extend(f.iter());
                }
                let single = u.table.joins.is_empty() && u.from.is_none();
                self.dml("UPDATE", targets, u.selection.as_ref(), single);
            }
            Statement::Delete(d) => {
                let mut targets: Vec<&TableWithJoins> = match &d.from {
                    FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => {
                        f.iter().collect()
                    }
                };
                if let Some(using) = &d.using {
                    targets.extend(using.iter());
                }
                // `DELETE t FROM t ...` names its targets before FROM: the multi-table form.
                let single = d.tables.is_empty()
                    && d.using.is_none()
                    && targets.len() == 1
                    && targets.iter().all(|t| t.joins.is_empty());
                self.dml("DELETE FROM", targets, d.selection.as_ref(), single);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let order = match (&*q.body, &q.order_by) {
            (SetExpr::Select(_), Some(o)) => match &o.kind {
                OrderByKind::Expressions(items) => items
                    .iter()
                    .map(|i| expr::column_of(&i.expr))
                    .collect::<Option<Vec<_>>>()
                    .unwrap_or_default(),
                OrderByKind::All(_) => Vec::new(),
            },
            _ => Vec::new(),
        };
        let has_limit = has_limit(q);
        let ctes_before = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let facts = CteFacts {
                    name: cte.alias.name.value.to_lowercase(),
                    listed: self.lists_columns(&cte.query),
                    bounded: bounded(&cte.query),
                };
                self.ctes.push(facts);
            }
        }
        let ctx = QueryCtx {
            top: self.stack.is_empty() && self.top_is_query,
            has_limit,
            exists_body: self.exists_bodies.contains(&addr(q)),
            order,
            ctes_before,
        };
        self.query_rules(q);
        self.stack.push(ctx);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        if let Some(ctx) = self.stack.pop() {
            self.ctes.truncate(ctx.ctes_before);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        self.block(s);
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _s: &Select) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        match e {
            Expr::Exists { subquery, .. } => {
                self.exists_bodies.insert(addr(subquery));
            }
            Expr::InSubquery { negated: true, .. } => {
                self.push("not_in_subquery", "NOT IN (SELECT ...)".into());
            }
            // A UNION is never made a semi-join: MySQL and MariaDB test it once per outer row.
            Expr::InSubquery {
                negated: false,
                expr,
                subquery,
            } if self.dialect == Dialect::Mysql
                && matches!(*subquery.body, SetExpr::SetOperation { .. }) =>
            {
                self.push(
                    "in_subquery_mysql",
                    format!("{} IN (SELECT ... UNION ...)", snippet(expr)),
                );
            }
            // In a definition (partial index, generated column, CHECK) a list or pattern is stored,
            // not searched.
            Expr::InList { .. } | Expr::Like { .. } | Expr::ILike { .. }
                if self.ddl && self.stack.is_empty() => {}
            Expr::InList { list, .. } if list.len() > 100 => {
                self.push("huge_in_list", format!("IN list of {} values", list.len()));
            }
            Expr::Like { pattern, .. } | Expr::ILike { pattern, .. } => {
                if let Some(p) = expr::string_literal(expr::leading_piece(pattern))
                    && p.starts_with(['%', '_'])
                {
                    self.push(
                        "leading_wildcard_like",
                        format!("LIKE {}", snippet(pattern)),
                    );
                }
            }
            Expr::BinaryOp { left, op, right } => {
                if matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
                    && (expr::is_null(left) || expr::is_null(right))
                {
                    self.push("null_comparison", snippet(e));
                }
                if expr::is_comparison(op) {
                    for (a, b) in [(left, right), (right, left)] {
                        if let Expr::Subquery(q) = &**a
                            && matches!(expr::number(b), Some(n) if n == 0.0 || n == 1.0)
                            && count_only(q)
                        {
                            self.push(
                                "count_for_existence",
                                format!("(SELECT COUNT(...) ...) {op} {b}"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// A query whose only output is one COUNT(...).
fn count_only(q: &Query) -> bool {
    match &*q.body {
        SetExpr::Select(s) => {
            s.projection.len() == 1
                && matches!(&s.projection[0], SelectItem::UnnamedExpr(Expr::Function(f)) | SelectItem::ExprWithAlias { expr: Expr::Function(f), .. } if expr::function_name(f) == "count")
        }
        _ => false,
    }
}

/// The first `IN (subquery)` of a condition, through AND / OR / NOT / parentheses (not into subqueries).
fn in_subquery_of_condition(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Nested(inner)
        | Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Not,
            expr: inner,
        } => in_subquery_of_condition(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And | BinaryOperator::Or,
            right,
        } => in_subquery_of_condition(left).or_else(|| in_subquery_of_condition(right)),
        Expr::InSubquery {
            negated: false,
            expr,
            ..
        } => Some(expr),
        _ => None,
    }
}

/// The query filters or limits its rows (a WHERE in its SELECT, a LIMIT or FETCH).
fn bounded(q: &Query) -> bool {
    has_limit(q) || matches!(&*q.body, SetExpr::Select(inner) if inner.selection.is_some())
}

/// The query returns at most a given number of rows (LIMIT or FETCH).
fn has_limit(q: &Query) -> bool {
    q.fetch.is_some()
        || matches!(
            &q.limit_clause,
            Some(LimitClause::LimitOffset { limit: Some(_), .. })
                | Some(LimitClause::OffsetCommaLimit { .. })
        )
}
