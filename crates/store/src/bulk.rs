//! Many rows per statement: for generated data (`fanz demo --scale`) and for writes made a set
//! at a time (the payment intake's groups, the audit events of one transaction), where one
//! `INSERT` per row would spend its time in round trips.
//!
//! Rows are bound as parameters (never spliced into SQL), a statement at a time of as many
//! rows as both engines take (SQLite allows 32,766 parameters, PostgreSQL 65,535), the rest in
//! statements of a power of two rows ([`pieces`]); `IN` lists are padded the same way
//! ([`padded`]). So each statement has a handful of texts, which the driver prepares once.
//! [`Rows::flush_ids`] returns the ids the database gave, in the rows' order.
//!
//! For bulk loads, ids can instead be given by the caller ([`next_id`] says where to start) so related rows can be written
//! without reading ids back; [`sync_id_sequence`] then moves PostgreSQL's sequence past them
//! (SQLite's `AUTOINCREMENT` follows the largest id by itself). Callers hold the table's lock
//! ([`lock_for_ids`]) from `next_id` to the sequence sync, so a concurrent insert cannot take
//! an id they chose.

use crate::{backend_of, Backend, Db, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

/// At most this many parameters per statement on PostgreSQL (it takes 65,535).
const MAX_PARAMS: usize = 30_000;
/// On SQLite, fewer: binding a parameter looks its name up among all of the statement's
/// (`sqlite3_bind_parameter_name`, from the driver), so a statement's binding time grows with
/// the square of its parameters; 16,000 parameters per statement spent three quarters of a
/// bulk load there.
const MAX_PARAMS_SQLITE: usize = 500;
/// At most this many rows per statement.
const MAX_ROWS: usize = 1_000;

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::OptInt(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::OptText(v)
    }
}

/// Rows for one table, written with [`Rows::flush`] (call it whenever convenient: it writes
/// everything pushed so far).
#[derive(Debug)]
pub struct Rows {
    table: &'static str,
    columns: &'static [&'static str],
    values: Vec<Value>,
    written: u64,
}

impl Rows {
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> Self {
        assert!(!columns.is_empty() && columns.len() <= MAX_PARAMS_SQLITE);
        Rows {
            table,
            columns,
            values: Vec::new(),
            written: 0,
        }
    }

    /// Add one row; `row` has one value per column, in the columns' order.
    pub fn push(&mut self, row: impl IntoIterator<Item = Value>) {
        let before = self.values.len();
        self.values.extend(row);
        assert_eq!(
            self.values.len() - before,
            self.columns.len(),
            "a row of {} needs {} values",
            self.table,
            self.columns.len()
        );
    }

    /// Rows pushed and not written yet.
    pub fn pending(&self) -> usize {
        self.values.len() / self.columns.len()
    }

    /// Rows written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Write every pending row.
    pub async fn flush(&mut self, db: &mut Db) -> Result<u64, StoreError> {
        let before = self.written;
        self.write(db, "", false).await?;
        Ok(self.written - before)
    }

    /// Write every pending row with `tail` after each statement's rows (an `ON CONFLICT`
    /// clause, a `RETURNING` list) and return what the statements returned, in statement
    /// order.
    pub async fn flush_returning(
        &mut self,
        db: &mut Db,
        tail: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        self.write(db, tail, true).await
    }

    /// Write every pending row of a table whose `id` the database gives, and return the new
    /// ids in the order the rows were pushed. Both engines give a statement's new ids in the
    /// order its rows are listed (SQLite the next rowid per row, PostgreSQL the sequence's next
    /// value per row, both increasing) and the statements run in order, so sorted they match
    /// the rows.
    pub async fn flush_ids(&mut self, db: &mut Db) -> Result<Vec<i64>, StoreError> {
        let rows = self.pending();
        let mut ids = Vec::with_capacity(rows);
        for r in self.write(db, "RETURNING id", true).await? {
            ids.push(r.try_get::<i64, _>(0)?);
        }
        ids.sort_unstable();
        if ids.len() != rows {
            return Err(StoreError::Database(sqlx::Error::Protocol(format!(
                "{rows} rows written to {}, {} ids returned",
                self.table,
                ids.len()
            ))));
        }
        Ok(ids)
    }

    async fn write(
        &mut self,
        db: &mut Db,
        tail: &str,
        returning: bool,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let width = self.columns.len();
        let max_params = match backend_of(db) {
            Backend::Sqlite => MAX_PARAMS_SQLITE,
            Backend::Postgres => MAX_PARAMS,
        };
        let per_statement = (max_params / width).clamp(1, MAX_ROWS);
        let mut full_sql = None;
        let values = std::mem::take(&mut self.values);
        let mut out = Vec::new();
        for rows in pieces(values.len() / width, per_statement) {
            let n = rows.len();
            let sql = if n == per_statement {
                full_sql
                    .get_or_insert_with(|| insert_sql(self.table, self.columns, n, tail))
                    .clone()
            } else {
                insert_sql(self.table, self.columns, n, tail)
            };
            let mut q = sqlx::query(&sql);
            for v in &values[rows.start * width..rows.end * width] {
                q = match v {
                    Value::Int(i) => q.bind(*i),
                    Value::OptInt(i) => q.bind(*i),
                    Value::Text(s) => q.bind(s.as_str()),
                    Value::OptText(s) => q.bind(s.as_deref()),
                };
            }
            if returning {
                out.extend(q.fetch_all(&mut *db).await?);
            } else {
                q.execute(&mut *db).await?;
            }
            self.written += n as u64;
        }
        Ok(out)
    }
}

/// `len` items cut into runs for one statement each: full ones of `max`, then the rest in
/// runs of a power of two, largest first. A statement over many rows then has a handful of
/// texts whatever their number (the driver caches each text it prepares, and a cache holding
/// one text per row count would crowd out the others).
pub fn pieces(len: usize, max: usize) -> Vec<std::ops::Range<usize>> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let rest = len - start;
        let take = if rest >= max { max } else { 1 << rest.ilog2() };
        out.push(start..start + take);
        start += take;
    }
    out
}

/// `$first, $first + 1, …`: `n` parameters for an `IN` list.
pub fn params(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `items` padded to a power of two by repeating the last: an `IN` list over them then has a
/// handful of statement texts whatever their number. Empty stays empty.
pub fn padded<T: Clone>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    if let Some(last) = items.last() {
        out.resize(items.len().next_power_of_two(), last.clone());
    }
    out
}

/// A PostgreSQL array literal of integers (`{1,2,NULL}`), bound as one text parameter and cast
/// in SQL (`$1::bigint[]`): a whole column of a batch in one parameter, so the statement
/// (`unnest`, `= ANY`) is one text for any number of rows and is parsed and planned as a
/// handful of parameters rather than thousands. `None` is NULL.
pub fn pg_int_array(items: impl IntoIterator<Item = Option<i64>>) -> String {
    pg_array(items, |out, v| {
        use std::fmt::Write;
        write!(out, "{v}").expect("writing to a String cannot fail");
    })
}

/// A PostgreSQL array literal of texts (`{"a","b \"quoted\"",NULL}`), for `$1::text[]`: every
/// element double-quoted, with `"` and `\` escaped by a backslash, so any text (commas,
/// braces, the word NULL) is read back as itself. `None` is NULL.
pub fn pg_text_array<'a>(items: impl IntoIterator<Item = Option<&'a str>>) -> String {
    pg_array(items, |out, v| {
        out.push('"');
        for c in v.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    })
}

/// `{a,b,NULL}`: each element written by `element`, `None` as NULL.
fn pg_array<T>(
    items: impl IntoIterator<Item = Option<T>>,
    element: impl Fn(&mut String, T),
) -> String {
    let mut out = String::from("{");
    for (i, v) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Some(v) => element(&mut out, v),
            None => out.push_str("NULL"),
        }
    }
    out.push('}');
    out
}

fn insert_sql(table: &str, columns: &[&str], rows: usize, tail: &str) -> String {
    let width = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(r * width + c + 1).to_string());
        }
        sql.push(')');
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

/// Keep other writers from inserting into `table` until the transaction ends (PostgreSQL;
/// SQLite's write transaction already excludes them).
pub async fn lock_for_ids(db: &mut Db, table: &'static str) -> Result<(), StoreError> {
    if backend_of(db) == Backend::Postgres {
        sqlx::query(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// The first id above every id in `table` (its `id` column).
pub async fn next_id(db: &mut Db, table: &'static str) -> Result<i64, StoreError> {
    let max: Option<i64> = sqlx::query(&format!("SELECT MAX(id) FROM {table}"))
        .fetch_one(&mut *db)
        .await?
        .try_get(0)?;
    Ok(max.unwrap_or(0) + 1)
}

/// After ids were given by hand: the next id the database gives is above them.
pub async fn sync_id_sequence(db: &mut Db, table: &'static str) -> Result<(), StoreError> {
    if backend_of(db) == Backend::Postgres {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             (SELECT COALESCE(MAX(id), 1) FROM {table}))"
        ))
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Refresh the planner's statistics after a bulk load (both engines choose indexes by them).
pub async fn analyze(db: &mut Db) -> Result<(), StoreError> {
    sqlx::query("ANALYZE").execute(&mut *db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_full_then_powers_of_two() {
        let lens = |len, max| -> Vec<usize> { pieces(len, max).iter().map(|r| r.len()).collect() };
        assert_eq!(lens(45, 16), [16, 16, 8, 4, 1]);
        assert_eq!(lens(64, 55), [55, 8, 1]);
        assert_eq!(lens(7, 100), [4, 2, 1]);
        assert!(pieces(0, 16).is_empty());
        let all: Vec<usize> = pieces(45, 16).into_iter().flatten().collect();
        assert_eq!(all, (0..45).collect::<Vec<_>>());
    }

    #[test]
    fn lists_padded_to_a_power_of_two() {
        assert_eq!(padded(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4]), [1, 2, 3, 4]);
        assert_eq!(padded(&[7]), [7]);
        assert!(padded::<i32>(&[]).is_empty());
        assert_eq!(params(2, 3), "$2, $3, $4");
    }

    #[test]
    fn array_literals_quote_every_text() {
        assert_eq!(pg_int_array([Some(1), None, Some(-3)]), "{1,NULL,-3}");
        assert_eq!(pg_int_array([]), "{}");
        assert_eq!(
            pg_text_array([Some("a,b"), None, Some("NULL"), Some(r#"say "hi" \ {x}"#)]),
            r#"{"a,b",NULL,"NULL","say \"hi\" \\ {x}"}"#
        );
    }
}
