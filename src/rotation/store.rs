//! SQL over the places that hold keyring-sealed values. Table and column
//! names come from the fixed list in [`super::PLACES`], never from input, so
//! building the statements from them is safe.
//!
//! The key id a value was sealed with is read from its header in SQL
//! (`substring(value from 3 for id_len)`, see [`crate::crypto`]), so counting
//! and finding old values needs neither a key nor a scan in Rust.

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Bytea, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Place;

/// One row of a place: its primary key and associated-data inputs as text,
/// and its sealed values (`second` is NULL where the place has one column).
#[derive(Debug, QueryableByName)]
pub struct SealedRow {
    #[diesel(sql_type = Text)]
    pub pk: String,
    #[diesel(sql_type = Text)]
    pub context: String,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub extra: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub first: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Bytea>)]
    pub second: Option<Vec<u8>>,
}

impl SealedRow {
    /// The sealed values, one per column of the place.
    pub fn values(&self) -> [Option<&[u8]>; 2] {
        [self.first.as_deref(), self.second.as_deref()]
    }
}

/// Values for a place's sealed columns (the second is unused where it has one).
pub type Values = [Option<Vec<u8>>; 2];

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = Nullable<Text>)]
    key_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The key id in a sealed column's header, NULL when the value is too short
/// to have one (`escape` encoding cannot fail, whatever the bytes).
fn key_id_of(column: &str) -> String {
    format!(
        "CASE WHEN length({column}) >= 2 THEN encode(substring({column} from 3 for get_byte({column}, 1)), 'escape') END"
    )
}

/// How many values each key id seals in the place, column by column added
/// up; `None` counts values whose header names no key.
pub async fn count_by_key(
    conn: &mut AsyncPgConnection,
    place: &Place,
) -> diesel::QueryResult<Vec<(Option<String>, i64)>> {
    let parts: Vec<String> = place
        .columns
        .iter()
        .map(|column| format!("SELECT {} AS key_id FROM {} WHERE {column} IS NOT NULL", key_id_of(column), place.table))
        .collect();
    let sql = format!(
        "SELECT key_id, count(*) AS count FROM ({}) AS sealed GROUP BY key_id ORDER BY key_id",
        parts.join(" UNION ALL ")
    );
    let counts: Vec<KeyCount> = diesel::sql_query(sql).load(conn).await?;
    Ok(counts.into_iter().map(|c| (c.key_id, c.count)).collect())
}

/// Up to `limit` rows after `after` (primary key order) with a value not
/// sealed under `current`.
pub async fn stale_rows(
    conn: &mut AsyncPgConnection,
    place: &Place,
    current: &str,
    after: Option<&str>,
    limit: i64,
) -> diesel::QueryResult<Vec<SealedRow>> {
    let stale: Vec<String> = place
        .columns
        .iter()
        .map(|column| format!("({column} IS NOT NULL AND {} IS DISTINCT FROM $1)", key_id_of(column)))
        .collect();
    let second = place.columns.get(1).copied().unwrap_or("NULL::bytea");
    let after_clause =
        if after.is_some() { format!("AND {} > CAST($2 AS {})", place.pk, place.pk_type) } else { String::new() };
    let sql = format!(
        "SELECT {pk}::text AS pk, {context}::text AS context, {extra} AS extra, {first} AS first, {second} AS second \
         FROM {table} WHERE ({stale}) {after_clause} ORDER BY {pk} LIMIT {limit}",
        pk = place.pk,
        context = place.context,
        extra = place.extra.unwrap_or("NULL::bytea"),
        first = place.columns[0],
        table = place.table,
        stale = stale.join(" OR "),
    );
    let query = diesel::sql_query(sql).into_boxed::<Pg>().bind::<Text, _>(current.to_owned());
    let query = match after {
        Some(after) => query.bind::<Text, _>(after.to_owned()),
        None => query,
    };
    query.load(conn).await
}

/// Replaces the row's sealed values with `new` (and its key id column, if
/// any, with `key_id`) only if they still are `old`: a server that re-wrote
/// them meanwhile (a refreshed provider token) keeps its value. Returns
/// whether the row was changed.
pub async fn replace_if_unchanged(
    conn: &mut AsyncPgConnection,
    place: &Place,
    row: &SealedRow,
    new: Values,
    key_id: &str,
) -> diesel::QueryResult<bool> {
    let n = place.columns.len();
    let mut set: Vec<String> = place.columns.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
    if let Some(column) = place.key_id_column {
        set.push(format!("{column} = ${}", n + 1));
    }
    let unchanged: Vec<String> =
        place.columns.iter().enumerate().map(|(i, c)| format!("{c} IS NOT DISTINCT FROM ${}", n + 3 + i)).collect();
    let sql = format!(
        "UPDATE {table} SET {set} WHERE {pk} = CAST(${pk_param} AS {pk_type}) AND {unchanged}",
        table = place.table,
        set = set.join(", "),
        pk = place.pk,
        pk_param = n + 2,
        pk_type = place.pk_type,
        unchanged = unchanged.join(" AND "),
    );
    let mut query = diesel::sql_query(sql).into_boxed::<Pg>();
    for value in new.into_iter().take(n) {
        query = query.bind::<Nullable<Bytea>, _>(value);
    }
    query = query.bind::<Text, _>(key_id.to_owned()).bind::<Text, _>(row.pk.clone());
    for value in row.values().into_iter().take(n) {
        query = query.bind::<Nullable<Bytea>, _>(value.map(<[u8]>::to_vec));
    }
    Ok(query.execute(conn).await? == 1)
}

/// Live long-lived API tokens per key they are derived from (spec §4.3).
pub async fn long_lived_tokens_by_key(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<(Option<String>, i64)>> {
    let sql = "SELECT derivation_key_id AS key_id, count(*) AS count FROM api_tokens \
               WHERE kind = 'long_lived' AND revoked_at IS NULL GROUP BY derivation_key_id ORDER BY derivation_key_id";
    let counts: Vec<KeyCount> = diesel::sql_query(sql).load(conn).await?;
    Ok(counts.into_iter().map(|c| (c.key_id, c.count)).collect())
}
