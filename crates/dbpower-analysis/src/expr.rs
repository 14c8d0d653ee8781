//! Small questions about sqlparser expressions that the rules ask again and again: is this a column,
//! does it mention one, is it a constant, a function or arithmetic on a column, an aggregate call, a
//! literal pattern; and the comparisons inside a condition.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectName, Query, UnaryOperator, Value, Visit, Visitor, visit_expressions,
};

/// Words that parse as identifiers but are values, not columns.
const VALUE_WORDS: &[&str] = &[
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "sysdate",
    "now",
    "true",
    "false",
    "null",
    "current_user",
    "session_user",
];

const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "group_concat",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "json_arrayagg",
    "json_objectagg",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "bit_xor",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "std",
    "variance",
    "var_pop",
    "var_samp",
    "percentile_cont",
    "percentile_disc",
    "mode",
];

/// A column reference: `(qualifier, column)`, both lower-cased.
pub(crate) type ColRef = (Option<String>, String);

/// The last part of an object name, lower-cased.
pub(crate) fn last_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .unwrap_or_default()
}

/// The part before the last, lower-cased (the schema of `schema.table`).
pub(crate) fn qualifier_name(name: &ObjectName) -> Option<String> {
    let n = name.0.len();
    (n >= 2)
        .then(|| name.0[n - 2].as_ident().map(|i| i.value.to_lowercase()))
        .flatten()
}

pub(crate) fn function_name(f: &Function) -> String {
    last_name(&f.name)
}

/// The expression itself is a bare column (possibly parenthesized).
pub(crate) fn column_of(e: &Expr) -> Option<ColRef> {
    match e {
        Expr::Identifier(i) if !VALUE_WORDS.contains(&i.value.to_lowercase().as_str()) => {
            Some((None, i.value.to_lowercase()))
        }
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let n = parts.len();
            Some((
                Some(parts[n - 2].value.to_lowercase()),
                parts[n - 1].value.to_lowercase(),
            ))
        }
        Expr::Nested(inner) => column_of(inner),
        _ => None,
    }
}

/// Every column referenced anywhere inside `e` (subqueries included).
pub(crate) fn columns_in(e: &Expr) -> Vec<ColRef> {
    let mut out = Vec::new();
    let _ = visit_expressions(e, |x| {
        if matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            && let Some(c) = column_of(x)
        {
            out.push(c);
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The columns `e` itself computes with: those inside a subquery (`EXISTS (...)`, `(SELECT ...)`,
/// `IN (SELECT ...)`) belong to that subquery's own block and are not counted.
pub(crate) fn columns_outside_subqueries(e: &Expr) -> Vec<ColRef> {
    struct Outside {
        depth: usize,
        out: Vec<ColRef>,
    }
    impl Visitor for Outside {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.depth = self.depth.saturating_add(1);
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.depth = self.depth.saturating_sub(1);
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, x: &Expr) -> ControlFlow<()> {
            if self.depth == 0
                && matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                && let Some(c) = column_of(x)
            {
                self.out.push(c);
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Outside {
        depth: 0,
        out: Vec::new(),
    };
    let _ = e.visit(&mut v);
    v.out
}

fn has_subquery(e: &Expr) -> bool {
    visit_expressions(e, |x| {
        if matches!(
            x,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// No column and no subquery: a literal, a placeholder, `NOW() - INTERVAL 1 DAY`.
pub(crate) fn is_constant(e: &Expr) -> bool {
    columns_in(e).is_empty() && !has_subquery(e)
}

pub(crate) fn is_aggregate(f: &Function) -> bool {
    AGGREGATES.contains(&function_name(f).as_str())
}

pub(crate) fn contains_aggregate(e: &Expr) -> bool {
    visit_expressions(e, |x| match x {
        Expr::Function(f) if is_aggregate(f) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// A function (not an aggregate), cast or similar wrapper computed from a column of its own block.
/// Columns only inside a subquery argument (`COALESCE(EXISTS (...), 1)`) do not count: nothing of
/// this block's rows is wrapped. A PostgreSQL relabel cast is decided by the caller
/// ([`relabeled_column`]), which knows the dialect and the column's type.
pub(crate) fn is_function_on_column(e: &Expr) -> bool {
    let wraps = match e {
        Expr::Nested(inner) => return is_function_on_column(inner),
        Expr::Function(f) => !is_aggregate(f) && f.over.is_none(),
        Expr::Cast { .. }
        | Expr::Convert { .. }
        | Expr::Extract { .. }
        | Expr::Substring { .. }
        | Expr::Trim { .. }
        | Expr::Ceil { .. }
        | Expr::Floor { .. }
        | Expr::AtTimeZone { .. }
        | Expr::Collate { .. }
        | Expr::JsonAccess { .. } => true,
        // A JSON field read out of a column (`data->>'email'`, `doc #> '{a,b}'`).
        Expr::BinaryOp { op, .. } => matches!(
            op,
            BinaryOperator::Arrow
                | BinaryOperator::LongArrow
                | BinaryOperator::HashArrow
                | BinaryOperator::HashLongArrow
        ),
        _ => false,
    };
    wraps && !columns_outside_subqueries(e).is_empty()
}

/// The column of a cast to `text` or to an unbounded `varchar` of a bare column (`name::text`,
/// `CAST(name AS varchar)`). On PostgreSQL, varchar and text share one representation, so such a cast
/// of a varchar or text column is a relabel that the planner sees through when it matches an index
/// (ORMs emit `"t"."name"::text LIKE ...` and create a `varchar_pattern_ops` index for it). A bounded
/// `varchar(n)` calls a length coercion and `char(n)` is trimmed, so neither is a relabel.
pub(crate) fn relabeled_column(e: &Expr) -> Option<ColRef> {
    match e {
        Expr::Nested(inner) => relabeled_column(inner),
        Expr::Cast {
            expr,
            data_type: DataType::Text | DataType::Varchar(None) | DataType::CharacterVarying(None),
            array: false,
            format: None,
            ..
        } => column_of(expr),
        _ => None,
    }
}

/// `col COLLATE x` of a bare column: a choice of comparison and sort order, not a computed value.
pub(crate) fn is_collated_column(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_collated_column(inner),
        Expr::Collate { expr, .. } => column_of(expr).is_some() || relabeled_column(expr).is_some(),
        _ => false,
    }
}

/// `COUNT(*)`, `COUNT(1)`, `COUNT(col)` or `COUNT(DISTINCT col)`, with no FILTER and no window: the
/// number of rows (or values) as stored. A computed argument (`COUNT(CASE WHEN ... END)`) or a FILTER
/// makes it a conditional count.
pub(crate) fn is_plain_count(f: &Function) -> bool {
    function_name(f) == "count"
        && f.filter.is_none()
        && f.over.is_none()
        && match &f.args {
            FunctionArguments::List(list) => list.args.iter().all(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => true,
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                    column_of(e).is_some() || number(e).is_some()
                }
                _ => false,
            }),
            _ => false,
        }
}

pub(crate) fn is_arithmetic(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo
            | BinaryOperator::MyIntegerDivide
    )
}

pub(crate) fn is_arithmetic_on_column(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_arithmetic_on_column(inner),
        Expr::BinaryOp { op, .. } => is_arithmetic(op) && !columns_outside_subqueries(e).is_empty(),
        _ => false,
    }
}

pub(crate) fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::Gt
            | BinaryOperator::LtEq
            | BinaryOperator::GtEq
            | BinaryOperator::Spaceship
    )
}

/// A numeric literal (possibly negated).
pub(crate) fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => number(expr).map(|n| -n),
        Expr::Nested(inner) => number(inner),
        _ => None,
    }
}

pub(crate) fn is_placeholder(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, Value::Placeholder(_)),
        Expr::Nested(inner) => is_placeholder(inner),
        _ => false,
    }
}

pub(crate) fn is_null(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Null))
}

pub(crate) fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s) => Some(s),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

/// The first piece of a pattern built by concatenation (`CONCAT('%', x)`, `'%' || x`), or the pattern.
pub(crate) fn leading_piece(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => leading_piece(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::StringConcat,
            ..
        } => leading_piece(left),
        Expr::Function(f) if function_name(f) == "concat" => {
            match function_args(f).into_iter().next() {
                Some(first) => leading_piece(first),
                None => e,
            }
        }
        _ => e,
    }
}

pub(crate) fn function_args(f: &Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One comparison found in a condition: the two sides (an IN list or BETWEEN has several right sides).
pub(crate) struct Cmp<'a> {
    /// The whole comparison.
    pub node: &'a Expr,
    pub left: &'a Expr,
    pub rights: Vec<&'a Expr>,
    pub op: CmpOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Range,
    NotEq,
    In,
    NotIn,
    Like { negated: bool },
    Between,
    IsNull,
}

/// The comparisons in a condition, through AND / OR / NOT / parentheses (not into subqueries).
pub(crate) fn comparisons<'a>(e: &'a Expr, out: &mut Vec<Cmp<'a>>) {
    match e {
        Expr::Nested(inner) => comparisons(inner, out),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => comparisons(expr, out),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor => {
                comparisons(left, out);
                comparisons(right, out);
            }
            op if is_comparison(op) => out.push(Cmp {
                node: e,
                left,
                rights: vec![right],
                op: match op {
                    BinaryOperator::Eq | BinaryOperator::Spaceship => CmpOp::Eq,
                    BinaryOperator::NotEq => CmpOp::NotEq,
                    _ => CmpOp::Range,
                },
            }),
            _ => {}
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => out.push(Cmp {
            node: e,
            left: expr,
            rights: list.iter().collect(),
            op: if *negated { CmpOp::NotIn } else { CmpOp::In },
        }),
        Expr::Between {
            expr, low, high, ..
        } => out.push(Cmp {
            node: e,
            left: expr,
            rights: vec![low, high],
            op: CmpOp::Between,
        }),
        Expr::Like {
            negated,
            expr,
            pattern,
            ..
        }
        | Expr::ILike {
            negated,
            expr,
            pattern,
            ..
        } => out.push(Cmp {
            node: e,
            left: expr,
            rights: vec![pattern],
            op: CmpOp::Like { negated: *negated },
        }),
        Expr::IsNull(expr) => out.push(Cmp {
            node: e,
            left: expr,
            rights: Vec::new(),
            op: CmpOp::IsNull,
        }),
        _ => {}
    }
}

/// The AND-ed parts of a condition.
pub(crate) fn conjuncts<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Nested(inner) => conjuncts(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        _ => out.push(e),
    }
}

/// The OR-ed parts of a disjunction.
pub(crate) fn disjuncts<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Nested(inner) => disjuncts(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => {
            disjuncts(left, out);
            disjuncts(right, out);
        }
        _ => out.push(e),
    }
}

/// Shortens an expression's text for evidence.
pub(crate) fn snippet(e: &impl std::fmt::Display) -> String {
    let s = e.to_string();
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s
    }
}
