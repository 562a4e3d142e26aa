//! "See my data" (`/donate/data/`, spec §3.3): the rows of the visit's
//! current donation, 50 a page, one available type at a time with a
//! From/To date filter, read exactly as the researcher's query reads them
//! (`rows::count` and `rows::page` under the donation's data key). Rendered
//! on the server; below 640 px the stylesheet turns the table into cards.

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;

use super::pages::{self, Ctx, Fail, field};
use super::templates::group_digits;
use super::view;
use crate::donation::model::{TypeState, parse_date};
use crate::donation::{keys, rows};

/// Rows per page.
pub const PAGE_SIZE: i64 = 50;

/// Keys every row has that say nothing new on this page.
const HIDDEN_KEYS: [&str; 4] = ["data_type", "device_id", "platform", "time"];

#[derive(Debug, Serialize)]
struct TypeOption {
    name: String,
    display_name: &'static str,
    count: i64,
    selected: bool,
}

#[derive(Debug, Serialize)]
struct Cell {
    label: String,
    value: String,
}

/// `GET /donate/data/?type=…&from=…&to=…&page=…`.
pub async fn data_page(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let query = crate::http::form_pairs(query.as_deref().unwrap_or(""));
        let mut conn = ctx.conn().await?;
        let (visit, donation) = ctx.current(&mut conn).await?;
        let (donation_view, types) = pages::donation_view(&mut conn, &donation).await?;
        let available: Vec<_> = donation_view
            .types
            .iter()
            .filter(|t| types.iter().any(|s| s.data_type == t.name && s.state == TypeState::Available))
            .collect();
        let selected = field(&query, "type")
            .and_then(|name| available.iter().find(|t| t.name == name))
            .or(available.first())
            .map(|t| (t.name.clone(), t.display_name));
        let options: Vec<TypeOption> = available
            .iter()
            .map(|t| TypeOption {
                name: t.name.clone(),
                display_name: t.display_name,
                count: t.rows,
                selected: selected.as_ref().is_some_and(|(name, _)| *name == t.name),
            })
            .collect();

        let mut filter_error = None;
        let mut date = |name: &str| match field(&query, name).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => parse_date(v).or_else(|| {
                filter_error = Some("Use dates like 2024-01-31; that filter was left out.");
                None
            }),
        };
        let (from, to) = (date("from"), date("to"));
        let page_no: i64 = field(&query, "page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);

        let (mut count, mut columns, mut table) = (0, Vec::new(), Vec::new());
        if let Some((name, _)) = &selected {
            let filter = rows::RowFilter { donation_id: donation.id, data_type: name, start: from, end: to };
            count = rows::count(&mut conn, &filter).await?;
            let offset = (page_no - 1).saturating_mul(PAGE_SIZE);
            if offset < count {
                let key = keys::load(&mut conn, &ctx.state.keyring, donation.id)
                    .await
                    .map_err(|e| Fail::Internal(e.into()))?;
                let texts = rows::page(&mut conn, &key, &filter, PAGE_SIZE, offset)
                    .await
                    .map_err(|e| Fail::Internal(e.into()))?;
                (columns, table) = cells(&texts);
            }
        }
        let pages_total = ((count + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        let href = |page: i64| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            if let Some((name, _)) = &selected {
                q.append_pair("type", name);
            }
            if let Some(from) = from {
                q.append_pair("from", &from.to_string());
            }
            if let Some(to) = to {
                q.append_pair("to", &to.to_string());
            }
            q.append_pair("page", &page.to_string());
            format!("/donate/data/?{}", q.finish())
        };
        let prev_href = (page_no > 1).then(|| href((page_no - 1).min(pages_total)));
        let next_href = (page_no < pages_total).then(|| href(page_no + 1));
        let title = format!("Your donated {} data", donation.source.provider_name());
        Ok(ctx.render(
            StatusCode::OK,
            "data.html",
            &title,
            Some(&visit),
            context! {
                provider => donation.source.provider_name(),
                types => options,
                selected_name => selected.as_ref().map(|(_, display)| *display),
                from => from.map(|d| d.to_string()).unwrap_or_default(),
                to => to.map(|d| d.to_string()).unwrap_or_default(),
                window_text => view::window_text(from, to),
                filter_error,
                count,
                count_text => group_digits(count),
                page => page_no,
                pages => pages_total,
                prev_href,
                next_href,
                columns,
                rows => table,
            },
        ))
    }
    .await;
    ctx.finish(result)
}

/// Column headings (from the first row's keys, in its order, readable) and
/// each row's cells. Values are shown as text; `null` is empty.
fn cells(texts: &[String]) -> (Vec<String>, Vec<Vec<Cell>>) {
    let parsed: Vec<OrderedRow> = texts.iter().filter_map(|t| serde_json::from_str(t).ok()).collect();
    let Some(first) = parsed.first() else {
        return (Vec::new(), Vec::new());
    };
    let keys: Vec<String> =
        first.0.iter().map(|(k, _)| k).filter(|k| !HIDDEN_KEYS.contains(&k.as_str())).cloned().collect();
    let labels: Vec<String> = keys.iter().map(|k| label(k)).collect();
    let rows = parsed
        .iter()
        .map(|row| {
            keys.iter()
                .zip(&labels)
                .map(|(key, label)| Cell {
                    label: label.clone(),
                    value: match row.get(key) {
                        None | Some(serde_json::Value::Null) => String::new(),
                        Some(serde_json::Value::String(s)) if key == "timestamp" => readable_time(s),
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
                        Some(other) => other.to_string(),
                    },
                })
                .collect()
        })
        .collect();
    (labels, rows)
}

/// A row's keys and values in the order they were stored (rows list their
/// keys in the spec's order).
struct OrderedRow(Vec<(String, serde_json::Value)>);

impl OrderedRow {
    fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de> serde::Deserialize<'de> for OrderedRow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OrderedRow;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OrderedRow, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(OrderedRow(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// `channel_name` → "Channel name".
fn label(key: &str) -> String {
    let text = key.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// `2024-01-15T10:00:00.000Z` → `15 January 2024, 10:00 UTC`.
fn readable_time(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc).format("%-d %B %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|_| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_labelled_cells_without_the_repeated_keys() {
        let texts = [
            r#"{"data_type":"search","device_id":"1","timestamp":"2024-01-15T10:00:00.000Z","platform":"Search","time":"x","query":"cats","is_ad":true,"url":null}"#.to_owned(),
        ];
        let (columns, rows) = cells(&texts);
        assert_eq!(columns, ["Timestamp", "Query", "Is ad", "Url"]);
        let values: Vec<&str> = rows[0].iter().map(|c| c.value.as_str()).collect();
        assert_eq!(values, ["15 January 2024, 10:00 UTC", "cats", "yes", ""]);
    }
}
