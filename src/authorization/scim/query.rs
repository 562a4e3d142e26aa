//! SCIM filters as SQL: each supported attribute names a column expression
//! and a type, each comparison becomes one predicate with bound values, and
//! `and`/`or`/`not` combine them, so PostgreSQL does the filtering (and
//! `userName eq "…"` uses the unique index on `lower(email)`). Unknown
//! attributes and comparisons the type does not allow are refused rather
//! than matched (DSG matched everything).

use chrono::{DateTime, Utc};
use diesel::BoolExpressionMethods as _;
use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Bool, Text, Timestamptz};

use super::filter::{Filter, FilterError, Op, Value};

/// A filter on the rows of table `T`.
pub type Predicate<T> = Box<dyn BoxableExpression<T, Pg, SqlType = Bool>>;

/// How an attribute compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text compared case-insensitively (`lower()` on both sides).
    TextCi,
    /// Text compared as stored.
    Text,
    /// A boolean: `eq`, `ne` and `pr` only.
    Bool,
    /// An integer.
    Int,
    /// A timestamp, compared with RFC 3339 strings.
    Time,
    /// A SCIM id (a UUID column, compared as its lower-case text).
    Id,
}

/// A filterable attribute of one resource type.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// The SQL expression (trusted text; values are always bound).
    pub sql: &'static str,
    pub kind: Kind,
    /// Whether the expression can be NULL (an absent attribute).
    pub nullable: bool,
    /// For a multi-valued attribute: `EXISTS (… AND` before, `)` after the comparison.
    pub within: Option<&'static str>,
}

const fn attr(sql: &'static str, kind: Kind, nullable: bool) -> Attr {
    Attr { sql, kind, nullable, within: None }
}

/// Core schema URNs a filter may qualify attribute names with.
const CORE_PREFIXES: &[&str] = &[
    "urn:ietf:params:scim:schemas:core:2.0:user:",
    "urn:ietf:params:scim:schemas:core:2.0:group:",
    "urn:ietf:params:scim:schemas:neuroglancer:2.0:dataset:",
];

fn unqualified(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    CORE_PREFIXES.iter().find_map(|p| lower.strip_prefix(p).map(str::to_owned)).unwrap_or(lower)
}

const USER_PUBLIC_NAME: &str =
    "COALESCE(NULLIF(users.display_name, ''), NULLIF(users.name, ''), split_part(users.email, '@', 1))";

/// The filterable attributes of Users (spec §3.7).
pub fn user_attr(name: &str) -> Option<Attr> {
    Some(match unqualified(name).as_str() {
        "id" => attr("users.scim_id", Kind::Id, false),
        "externalid" => attr("users.external_id", Kind::Text, true),
        "username" | "emails" | "emails.value" => attr("users.email", Kind::TextCi, false),
        "displayname" | "name.formatted" => attr(USER_PUBLIC_NAME, Kind::TextCi, false),
        "name.givenname" => attr("users.name", Kind::Text, false),
        "active" => attr("users.is_active", Kind::Bool, false),
        "meta.created" => attr("users.created_at", Kind::Time, false),
        "meta.lastmodified" => attr("users.updated_at", Kind::Time, false),
        _ => return None,
    })
}

/// The filterable attributes of Groups.
pub fn group_attr(name: &str) -> Option<Attr> {
    Some(match unqualified(name).as_str() {
        "id" => attr("groups.scim_id", Kind::Id, false),
        "externalid" => attr("groups.external_id", Kind::Text, true),
        "displayname" => attr("groups.name", Kind::TextCi, false),
        "members" | "members.value" => Attr {
            sql: "scim_member.scim_id",
            kind: Kind::Id,
            nullable: false,
            within: Some(
                "EXISTS (SELECT 1 FROM group_memberships scim_gm JOIN users scim_member \
                 ON scim_member.id = scim_gm.user_id WHERE scim_gm.group_id = groups.id AND ",
            ),
        },
        "meta.created" => attr("groups.created_at", Kind::Time, false),
        "meta.lastmodified" => attr("groups.updated_at", Kind::Time, false),
        _ => return None,
    })
}

/// The filterable attributes of Datasets.
pub fn dataset_attr(name: &str) -> Option<Attr> {
    Some(match unqualified(name).as_str() {
        "id" => attr("datasets.scim_id", Kind::Id, false),
        "externalid" => attr("datasets.external_id", Kind::Text, true),
        "name" => attr("datasets.name", Kind::Text, false),
        "description" => attr("datasets.description", Kind::Text, false),
        "tosid" => attr("datasets.tos_document_id", Kind::Int, true),
        "meta.created" => attr("datasets.created_at", Kind::Time, false),
        "meta.lastmodified" => attr("datasets.updated_at", Kind::Time, false),
        _ => return None,
    })
}

/// One value to bind.
enum Bind {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

fn literal<T>(text: String) -> Predicate<T> {
    Box::new(sql::<Bool>(&text))
}

fn bound<T>(before: String, value: Bind, after: String) -> Predicate<T> {
    match value {
        Bind::Text(v) => Box::new(sql::<Bool>(&before).bind::<Text, _>(v).sql(&after)),
        Bind::Int(v) => Box::new(sql::<Bool>(&before).bind::<BigInt, _>(v).sql(&after)),
        Bind::Time(v) => Box::new(sql::<Bool>(&before).bind::<Timestamptz, _>(v).sql(&after)),
    }
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "<>",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
        // LIKE, built by the caller.
        Op::Co | Op::Sw | Op::Ew => "LIKE",
    }
}

/// `%`, `_` and `\` taken literally in a LIKE pattern (backslash is PostgreSQL's default escape).
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The predicate for `filter` over a table whose attributes `attrs` knows.
pub fn predicate<T>(filter: &Filter, attrs: fn(&str) -> Option<Attr>) -> Result<Predicate<T>, FilterError>
where
    T: 'static,
{
    Ok(match filter {
        Filter::And(a, b) => Box::new(predicate::<T>(a, attrs)?.and(predicate::<T>(b, attrs)?)),
        Filter::Or(a, b) => Box::new(predicate::<T>(a, attrs)?.or(predicate::<T>(b, attrs)?)),
        Filter::Not(a) => Box::new(diesel::dsl::not(predicate::<T>(a, attrs)?)),
        Filter::Present(name) => {
            let a = attrs(name).ok_or_else(|| unknown(name))?;
            let test = match (a.kind, a.nullable) {
                (Kind::Text | Kind::TextCi, true) => format!("({0} IS NOT NULL AND {0} <> '')", a.sql),
                (Kind::Text | Kind::TextCi, false) => format!("({} <> '')", a.sql),
                (_, true) => format!("({} IS NOT NULL)", a.sql),
                (_, false) => "TRUE".to_owned(),
            };
            literal(wrap(a, test))
        }
        Filter::Compare { attr, op, value } => {
            let a = attrs(attr).ok_or_else(|| unknown(attr))?;
            compare::<T>(attr, a, *op, value)?
        }
    })
}

fn unknown(name: &str) -> FilterError {
    FilterError(format!("unknown or unfilterable attribute '{name}'"))
}

fn wrap(a: Attr, test: String) -> String {
    match a.within {
        Some(before) => format!("{before}{test})"),
        None => test,
    }
}

fn compare<T: 'static>(name: &str, a: Attr, op: Op, value: &Value) -> Result<Predicate<T>, FilterError> {
    let refuse = |why: &str| Err(FilterError(format!("'{name}' {why}")));
    if *value == Value::Null {
        let test = match (op, a.nullable) {
            (Op::Eq, true) => format!("({} IS NULL)", a.sql),
            (Op::Ne, true) => format!("({} IS NOT NULL)", a.sql),
            (Op::Eq, false) => "FALSE".to_owned(),
            (Op::Ne, false) => "TRUE".to_owned(),
            _ => return refuse("compares with null only by eq and ne"),
        };
        return Ok(literal(wrap(a, test)));
    }
    // An absent value matches `ne` and nothing else.
    let absent = if a.nullable { if op == Op::Ne { "true" } else { "false" } } else { "" };
    let finish = |test: String| if absent.is_empty() { test } else { format!("COALESCE({test}, {absent})") };
    let (before, bind, after) = match a.kind {
        Kind::Bool => {
            let Value::Bool(b) = value else { return refuse("is a boolean: compare it with true or false") };
            if !matches!(op, Op::Eq | Op::Ne) {
                return refuse("is a boolean: only eq, ne and pr apply");
            }
            let test = finish(format!("({} {} {})", a.sql, sql_op(op), b));
            return Ok(literal(wrap(a, test)));
        }
        Kind::Int => {
            let Value::Num(n) = value else { return refuse("is an integer: compare it with a number") };
            if n.fract() != 0.0 || matches!(op, Op::Co | Op::Sw | Op::Ew) {
                return refuse("is an integer: compare it with eq, ne, gt, ge, lt or le and a whole number");
            }
            (format!("({} {} ", a.sql, sql_op(op)), Bind::Int(*n as i64), ")".to_owned())
        }
        Kind::Time => {
            let Value::Str(s) = value else { return refuse("is a date-time: compare it with an RFC 3339 string") };
            let Ok(t) = DateTime::parse_from_rfc3339(s) else {
                return refuse("is a date-time: compare it with an RFC 3339 string");
            };
            if matches!(op, Op::Co | Op::Sw | Op::Ew) {
                return refuse("is a date-time: compare it with eq, ne, gt, ge, lt or le");
            }
            (format!("({} {} ", a.sql, sql_op(op)), Bind::Time(t.with_timezone(&Utc)), ")".to_owned())
        }
        Kind::Text | Kind::TextCi | Kind::Id => {
            let Value::Str(s) = value else { return refuse("is a string: compare it with a quoted value") };
            // Ids compare as their lower-case text; case-insensitive text lower-cases both sides.
            let (column, value_sql) = match a.kind {
                Kind::Id => (format!("{}::text", a.sql), "lower($)"),
                Kind::TextCi => (format!("lower({})", a.sql), "lower($)"),
                _ => (a.sql.to_owned(), "$"),
            };
            let (pattern_before, pattern_after, v) = match op {
                Op::Co => ("'%' || ", " || '%'", like_escaped(s)),
                Op::Sw => ("", " || '%'", like_escaped(s)),
                Op::Ew => ("'%' || ", "", like_escaped(s)),
                _ => ("", "", s.clone()),
            };
            let (value_before, value_after) = value_sql.split_once('$').unwrap_or(("", ""));
            if a.kind == Kind::Id && matches!(op, Op::Eq | Op::Ne) {
                // Equality on the UUID itself, so the unique index on scim_id serves it.
                return Ok(match uuid::Uuid::parse_str(s) {
                    Ok(id) => {
                        let test = format!("({} {} '{}'::uuid)", a.sql, sql_op(op), id.hyphenated());
                        literal(wrap(a, test))
                    }
                    Err(_) => literal(wrap(a, if op == Op::Eq { "FALSE" } else { "TRUE" }.to_owned())),
                });
            }
            let before = format!("({column} {} {pattern_before}{value_before}", sql_op(op));
            let after = format!("{value_after}{pattern_after})");
            (before, Bind::Text(v), after)
        }
    };
    let (open, close) = if absent.is_empty() {
        (String::new(), String::new())
    } else {
        ("COALESCE(".to_owned(), format!(", {absent})"))
    };
    let (open, close) = match a.within {
        Some(w) => (format!("{w}{open}"), format!("{close})")),
        None => (open, close),
    };
    Ok(bound(format!("{open}{before}"), bind, format!("{after}{close}")))
}

#[cfg(test)]
mod tests {
    use diesel::query_builder::debug_query;
    use diesel::{QueryDsl as _, pg::Pg};

    use super::*;
    use crate::db::schema::{groups, users};

    fn users_sql(filter: &str) -> Result<String, FilterError> {
        let p = predicate::<users::table>(&Filter::parse(filter)?, user_attr)?;
        let q = users::table.into_boxed::<Pg>().filter(p).select(users::id);
        Ok(debug_query::<Pg, _>(&q).to_string())
    }

    #[test]
    fn user_name_eq_uses_the_lower_email_expression() {
        let q = users_sql(r#"userName eq "Alice@Example.org""#).unwrap();
        assert!(q.contains("(lower(users.email) = lower($1))"), "{q}");
        assert!(q.contains("Alice@Example.org"), "{q}");
    }

    #[test]
    fn operators_and_combinators() {
        let q = users_sql(r#"not (displayName co "a_%") and (active eq false or externalId ne "x")"#).unwrap();
        assert!(q.contains("NOT"), "{q}");
        assert!(q.contains("LIKE '%' || lower($1) || '%'"), "{q}");
        assert!(q.contains("a\\\\_\\\\%"), "{q}");
        assert!(q.contains("(users.is_active = false)"), "{q}");
        assert!(q.contains("COALESCE((users.external_id <> $2), true)"), "{q}");
        let q = users_sql(r#"meta.created gt "2020-01-01T00:00:00Z" and userName ew "org""#).unwrap();
        assert!(q.contains("users.created_at > $1") && q.contains("LIKE '%' || lower($2))"), "{q}");
        let q = users_sql(r#"id eq "9758580c-ec91-5fa7-a75c-563a2786f558""#).unwrap();
        assert!(q.contains("users.scim_id = '9758580c-ec91-5fa7-a75c-563a2786f558'::uuid"), "{q}");
    }

    #[test]
    fn refusals() {
        for bad in [
            r#"foo eq "x""#,
            "active gt true",
            r#"active eq "yes""#,
            r#"userName eq 3"#,
            r#"meta.created gt "yesterday""#,
            "userName lt null",
        ] {
            assert!(users_sql(bad).is_err(), "{bad}");
        }
        let p = predicate::<groups::table>(&Filter::parse(r#"members[value eq "X"]"#).unwrap(), group_attr).unwrap();
        let q = debug_query::<Pg, _>(&groups::table.into_boxed::<Pg>().filter(p).select(groups::id)).to_string();
        assert!(q.contains("EXISTS (SELECT 1 FROM group_memberships"), "{q}");
    }
}
