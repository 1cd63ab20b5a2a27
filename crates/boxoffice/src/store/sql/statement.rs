//! Statements built once for both backends, run on the pool or a transaction, and
//! rows read back into typed values: the plumbing every aggregate's store shares.
use super::constraints::{self, Op};
use super::{Backend, SqlStore};
use crate::store::{StoreError, StoreResult};
use anyhow::anyhow;
use boxoffice_domain::{Currency, Money, Timestamp};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Executor, Row};
use std::str::FromStr;

/// Rows per multi-row statement; keeps SQLite well under its bound-parameter limit.
pub(super) const CHUNK: usize = 256;

/// A driver error in store terms, for statements without a table of their own
/// (transactions, reads): see `Sql::err` for writes.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    constraints::store_error(e, Op::Other)
}

pub(super) fn bad_row(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow!("malformed row: {e}"))
}

/// A value bound to a `$n` parameter.
#[derive(Clone, Debug)]
pub(super) enum Arg {
    Text(String),
    Int(i64),
    NullInt,
    NullText,
}

pub(super) fn t(s: impl ToString) -> Arg {
    Arg::Text(s.to_string())
}
pub(super) fn i(v: impl Into<i64>) -> Arg {
    Arg::Int(v.into())
}
pub(super) fn ts(v: Timestamp) -> Arg {
    Arg::Int(v.millis())
}
/// A nullable text column.
pub(super) fn opt_text(v: Option<impl ToString>) -> Arg {
    v.map(t).unwrap_or(Arg::NullText)
}
pub(super) fn opt_ts(v: Option<Timestamp>) -> Arg {
    v.map(ts).unwrap_or(Arg::NullInt)
}

/// Builds a statement once for both backends: PostgreSQL gets numbered `$n`
/// parameters, SQLite anonymous `?` ones (SQLite resolves named parameters by a
/// linear scan, which made binding a 700-value batch insert quadratic).
pub(super) struct Sql {
    numbered: String,
    positional: String,
    args: Vec<Arg>,
    /// What the statement does to which table, to read constraint violations.
    op: Op,
}

impl Sql {
    pub(super) fn new(text: &str) -> Self {
        Self {
            numbered: text.to_owned(),
            positional: text.to_owned(),
            args: Vec::new(),
            op: Op::Other,
        }
    }
    /// `INSERT INTO table (columns) VALUES ` (the rows follow).
    pub(super) fn insert(table: &'static str, columns: &str) -> Self {
        Self {
            op: Op::Write(table),
            ..Self::new(&format!("INSERT INTO {table} ({columns}) VALUES "))
        }
    }
    /// `UPDATE table SET ` (the assignments follow).
    pub(super) fn update(table: &'static str) -> Self {
        Self {
            op: Op::Write(table),
            ..Self::new(&format!("UPDATE {table} SET "))
        }
    }
    /// `DELETE FROM table WHERE ` (the condition follows).
    pub(super) fn delete(table: &'static str) -> Self {
        Self {
            op: Op::Delete(table),
            ..Self::new(&format!("DELETE FROM {table} WHERE "))
        }
    }
    pub(super) fn push(&mut self, s: &str) -> &mut Self {
        self.numbered.push_str(s);
        self.positional.push_str(s);
        self
    }
    /// Appends another statement or fragment, its placeholders numbered after ours.
    pub(super) fn append(&mut self, other: Sql) -> &mut Self {
        self.join(other, "")
    }
    /// Statements joined into one multi-statement text (`a; b; c`), their arguments
    /// in order; the first one's table names the constraint errors.
    pub(super) fn script(statements: Vec<Sql>) -> Self {
        let mut script = Sql::new("");
        for (n, next) in statements.into_iter().enumerate() {
            if n > 0 {
                script.push("; ");
            }
            script.join(next, "");
        }
        script
    }
    /// How many values the statement binds.
    pub(super) fn arg_count(&self) -> usize {
        self.args.len()
    }
    /// Inserts (or other writes without RETURNING) as one PostgreSQL statement: all
    /// but the last become data-modifying CTEs (`WITH w0 AS (…) …`), which run
    /// atomically together.
    pub(super) fn with_all(statements: Vec<Sql>) -> Self {
        let last = statements.len().saturating_sub(1);
        let mut out = Sql::new("");
        for (n, s) in statements.into_iter().enumerate() {
            if n == last {
                out.push(if n == 0 { "" } else { " " });
                out.join(s, "");
            } else {
                out.push(if n == 0 { "WITH " } else { ", " });
                out.push(&format!("w{n} AS ("));
                out.join(s, ")");
            }
        }
        out
    }
    /// Appends `next` (its placeholders renumbered after ours), then `suffix`; a
    /// fragment that writes no table takes the table `next` writes, for errors.
    fn join(&mut self, next: Sql, suffix: &str) -> &mut Self {
        let offset = self.args.len();
        self.numbered.push_str(&renumber(&next.numbered, offset));
        self.positional.push_str(&next.positional);
        self.args.extend(next.args);
        if matches!(self.op, Op::Other) {
            self.op = next.op;
        }
        self.push(suffix)
    }
    /// Adds an argument and appends its placeholder.
    pub(super) fn arg(&mut self, a: Arg) -> &mut Self {
        self.args.push(a);
        self.numbered.push('$');
        self.numbered.push_str(&self.args.len().to_string());
        self.positional.push('?');
        self
    }
    pub(super) fn text(&mut self, s: impl ToString) -> &mut Self {
        self.arg(Arg::Text(s.to_string()))
    }
    pub(super) fn int(&mut self, i: i64) -> &mut Self {
        self.arg(Arg::Int(i))
    }
    /// `WITH v (a, b, …) AS (VALUES (CAST($ AS type), …), …) `: each value cast, so
    /// that PostgreSQL knows its type even when it is NULL; a set-based statement
    /// appends to it and joins `v`.
    pub(super) fn with_values(
        columns: &[(&str, &str)],
        rows: impl IntoIterator<Item = Vec<Arg>>,
    ) -> Self {
        let list = columns.iter().map(|c| c.0).collect::<Vec<_>>().join(", ");
        let mut sql = Sql::new(&format!("WITH v ({list}) AS (VALUES "));
        for (n, row) in rows.into_iter().enumerate() {
            sql.push(if n > 0 { ", (" } else { "(" });
            for (k, (value, (_, ty))) in row.into_iter().zip(columns).enumerate() {
                if k > 0 {
                    sql.push(", ");
                }
                sql.push("CAST(").arg(value).push(&format!(" AS {ty})"));
            }
            sql.push(")");
        }
        sql.push(") ");
        sql
    }
    /// Appends `(a, b, …)` with one placeholder per value.
    pub(super) fn tuple(&mut self, values: Vec<Arg>) -> &mut Self {
        self.push("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(v);
        }
        self.push(")")
    }
    fn query(&self, backend: Backend) -> sqlx::query::Query<'_, Any, AnyArguments<'_>> {
        let text = match backend {
            Backend::Sqlite => &self.positional,
            Backend::Postgres => &self.numbered,
        };
        let mut q = sqlx::query(text);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(i) => q.bind(*i),
                Arg::NullInt => q.bind(None::<i64>),
                Arg::NullText => q.bind(None::<String>),
            };
        }
        q
    }
    /// A driver error of this statement in store terms.
    fn err(&self, e: sqlx::Error) -> StoreError {
        constraints::store_error(e, self.op)
    }
    /// Runs on `ex` (a transaction); the rows affected.
    pub(super) async fn execute<'c>(
        &self,
        backend: Backend,
        ex: impl Executor<'c, Database = Any>,
    ) -> StoreResult<u64> {
        match self.query(backend).execute(ex).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) => Err(self.err(e)),
        }
    }
    /// Runs on `ex` (a transaction); the rows returned.
    pub(super) async fn fetch_all<'c>(
        &self,
        backend: Backend,
        ex: impl Executor<'c, Database = Any>,
    ) -> StoreResult<Vec<AnyRow>> {
        self.query(backend)
            .fetch_all(ex)
            .await
            .map_err(|e| self.err(e))
    }
}

/// `$n` placeholders shifted by `offset` (statement texts hold no other `$`).
fn renumber(text: &str, offset: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            n.push(*d);
            chars.next();
        }
        if let Ok(v) = n.parse::<usize>() {
            out.push_str(&(v + offset).to_string());
        }
    }
    out
}

/// Runs statements on the pool.
impl SqlStore {
    pub(super) async fn execute(&self, sql: &Sql) -> StoreResult<u64> {
        sql.execute(self.backend, &self.pool).await
    }
    /// Runs a statement that must touch a row; `NotFound` when it touched none.
    pub(super) async fn exec_one(&self, sql: &Sql) -> StoreResult<()> {
        match self.execute(sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }
    pub(super) async fn fetch_one(&self, sql: &Sql) -> StoreResult<AnyRow> {
        sql.query(self.backend)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| sql.err(e))
    }
    pub(super) async fn fetch_optional(&self, sql: &Sql) -> StoreResult<Option<AnyRow>> {
        sql.query(self.backend)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| sql.err(e))
    }
    pub(super) async fn fetch_all(&self, sql: &Sql) -> StoreResult<Vec<AnyRow>> {
        sql.fetch_all(self.backend, &self.pool).await
    }
    /// The one row of `sql`, decoded; `NotFound` when there is none.
    pub(super) async fn one<T>(&self, sql: &Sql, decode: Decoder<T>) -> StoreResult<T> {
        decode(&self.fetch_one(sql).await?)
    }
    /// Every row of `sql`, decoded.
    pub(super) async fn all<T>(&self, sql: &Sql, decode: Decoder<T>) -> StoreResult<Vec<T>> {
        self.fetch_all(sql).await?.iter().map(decode).collect()
    }
    /// The `n` column of a `SELECT COUNT(*) AS n …`.
    pub(super) async fn count(&self, sql: &Sql) -> StoreResult<i64> {
        get_i64(&self.fetch_one(sql).await?, "n")
    }
    pub(super) async fn insert_one(
        &self,
        table: &'static str,
        columns: &str,
        values: Vec<Arg>,
    ) -> StoreResult<()> {
        let mut sql = Sql::insert(table, columns);
        sql.tuple(values);
        self.execute(&sql).await.map(drop)
    }
    pub(super) async fn delete_by_id(&self, table: &'static str, id: String) -> StoreResult<()> {
        let mut sql = Sql::delete(table);
        sql.push("id = ").text(id);
        self.exec_one(&sql).await
    }
}

/// `INSERT INTO table (columns) VALUES (…), (…)`, one statement per chunk of rows.
/// A `LIKE … ESCAPE '\\'` pattern matching `text` anywhere, case-folded to lower
/// case, with the wildcards it contains taken literally.
pub(super) fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(super) fn insert_statements(
    table: &'static str,
    columns: &str,
    rows: Vec<Vec<Arg>>,
) -> Vec<Sql> {
    let mut rows = rows.into_iter().peekable();
    let mut statements = Vec::new();
    while rows.peek().is_some() {
        let mut sql = Sql::insert(table, columns);
        for (n, r) in rows.by_ref().take(CHUNK).enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.tuple(r);
        }
        statements.push(sql);
    }
    statements
}

/// `UPDATE table SET c1 = $, c2 = $ … WHERE id = $` from a row's column list and
/// values (the first column is the id; `created_at` is never rewritten).
pub(super) fn update_by_id(table: &'static str, columns: &str, mut values: Vec<Arg>) -> Sql {
    let cols: Vec<&str> = columns.split(", ").collect();
    let id = values.remove(0);
    let mut sql = Sql::update(table);
    let mut first = true;
    for (col, v) in cols.into_iter().skip(1).zip(values) {
        if col == "created_at" {
            continue;
        }
        if !first {
            sql.push(", ");
        }
        first = false;
        sql.push(col).push(" = ").arg(v);
    }
    sql.push(" WHERE id = ").arg(id);
    sql
}

/// Reads one row into a record.
pub(super) type Decoder<T> = fn(&AnyRow) -> StoreResult<T>;

pub(super) fn get_str(row: &AnyRow, col: &str) -> StoreResult<String> {
    row.try_get::<String, _>(col).map_err(bad_row)
}
pub(super) fn get_opt_str(row: &AnyRow, col: &str) -> StoreResult<Option<String>> {
    row.try_get::<Option<String>, _>(col).map_err(bad_row)
}
pub(super) fn get_i64(row: &AnyRow, col: &str) -> StoreResult<i64> {
    row.try_get::<i64, _>(col).map_err(bad_row)
}
pub(super) fn get_opt_i64(row: &AnyRow, col: &str) -> StoreResult<Option<i64>> {
    row.try_get::<Option<i64>, _>(col).map_err(bad_row)
}
pub(super) fn get_ts(row: &AnyRow, col: &str) -> StoreResult<Timestamp> {
    get_i64(row, col).map(Timestamp::from_millis)
}
pub(super) fn get_opt_ts(row: &AnyRow, col: &str) -> StoreResult<Option<Timestamp>> {
    get_opt_i64(row, col).map(|v| v.map(Timestamp::from_millis))
}
pub(super) fn get_u32(row: &AnyRow, col: &str) -> StoreResult<u32> {
    u32::try_from(get_i64(row, col)?).map_err(bad_row)
}
/// A text column parsed by its type's `FromStr` (ids).
pub(super) fn get_id<T: FromStr>(row: &AnyRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    get_str(row, col)?.parse().map_err(bad_row)
}
/// A text column parsed by a domain constructor (`Email::parse`, `Role::parse` …).
pub(super) fn get_parsed<T, E: std::fmt::Display>(
    row: &AnyRow,
    col: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StoreResult<T> {
    parse(&get_str(row, col)?).map_err(bad_row)
}
/// An amount in minor units from `amount_col` and the row's `currency` column.
pub(super) fn get_money(row: &AnyRow, amount_col: &str) -> StoreResult<Money> {
    Ok(Money {
        amount_minor: get_i64(row, amount_col)?,
        currency: get_parsed(row, "currency", Currency::parse)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_keep_arguments_in_order_for_both_placeholder_styles() {
        let mut a = Sql::insert("t", "x, y");
        a.tuple(vec![i(1), i(2)]);
        let mut b = Sql::update("t");
        b.push("x = ").int(3).push(" WHERE y = ").int(4);
        let s = Sql::script(vec![Sql::new("BEGIN"), a, b, Sql::new("COMMIT")]);
        assert_eq!(
            s.numbered,
            "BEGIN; INSERT INTO t (x, y) VALUES ($1, $2); UPDATE t SET x = $3 WHERE y = $4; COMMIT"
        );
        assert_eq!(
            s.positional,
            "BEGIN; INSERT INTO t (x, y) VALUES (?, ?); UPDATE t SET x = ? WHERE y = ?; COMMIT"
        );
        assert_eq!(s.args.len(), 4);
        assert!(matches!(s.op, Op::Write("t")));
        assert_eq!(renumber("a = $1 AND b = $12", 10), "a = $11 AND b = $22");

        let mut a = Sql::insert("t", "x");
        a.tuple(vec![i(1)]);
        let mut b = Sql::insert("u", "y");
        b.tuple(vec![i(2)]).push(", ").tuple(vec![i(3)]);
        let mut c = Sql::insert("v", "z");
        c.tuple(vec![i(4)]);
        let one = Sql::with_all(vec![a, b, c]);
        assert_eq!(
            one.numbered,
            "WITH w0 AS (INSERT INTO t (x) VALUES ($1)), w1 AS (INSERT INTO u (y) VALUES ($2), ($3)) INSERT INTO v (z) VALUES ($4)"
        );
        assert!(matches!(one.op, Op::Write("t")));
        let mut d = Sql::insert("t", "x");
        d.tuple(vec![i(5)]);
        assert_eq!(
            Sql::with_all(vec![d]).numbered,
            "INSERT INTO t (x) VALUES ($1)"
        );
    }
}
