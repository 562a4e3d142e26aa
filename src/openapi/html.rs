//! The human-readable page at `/api/docs/`, rendered on the server from the
//! OpenAPI document itself (so the two never disagree): operations grouped by
//! service, their parameters, bodies and responses, then every schema. No
//! scripts and nothing fetched from elsewhere.

use std::fmt::Write as _;

use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}\
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f7f7f7}td p{margin:0 0 .3rem}\
section.op{border:1px solid #ddd;border-radius:6px;padding:0 1rem;margin:1rem 0}\
.m{display:inline-block;min-width:4.5rem;text-align:center;color:#fff;border-radius:4px;font-size:.9rem;padding:0 .4rem;background:#555}\
.get{background:#2b6cb0}.post{background:#2f855a}.put,.patch{background:#b7791f}.delete{background:#c53030}\
.dep{color:#c53030}nav ul{columns:2}";

/// The page for `doc`.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let info = &doc["info"];
    let title = esc(str_of(&info["title"]));
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"icon\" href=\"/static/favicon.svg\">\
         <style>{STYLE}</style></head><body>\n<h1>{title} <small>{}</small></h1>\n{}\
         <p>The machine-readable OpenAPI {} document: <a href=\"/api/docs/openapi.json\">openapi.json</a>.</p>\n",
        esc(str_of(&info["version"])),
        prose(str_of(&info["description"])),
        esc(str_of(&doc["openapi"])),
    );

    out.push_str("<h2>Servers</h2>\n<ul>");
    for server in array(&doc["servers"]) {
        let _ = write!(
            out,
            "<li><code>{}</code>: {}</li>",
            esc(str_of(&server["url"])),
            inline(str_of(&server["description"]))
        );
    }
    out.push_str(
        "</ul>\n<h2>Authentication</h2>\n<p>Credentials an operation accepts (any one of those it lists):</p><ul>",
    );
    if let Some(schemes) = doc["components"]["securitySchemes"].as_object() {
        for (name, scheme) in schemes {
            let _ = write!(out, "<li><b>{}</b>: {}</li>", esc(name), inline(str_of(&scheme["description"])));
        }
    }
    out.push_str("</ul>\n");

    let operations = operations(doc);
    out.push_str("<nav><h2>Operations</h2><ul>");
    for (_, path, method, op) in &operations {
        let _ = write!(
            out,
            "<li><a href=\"#{}\"><span class=\"m {method}\">{}</span> <code>{}</code></a></li>",
            esc(&op_anchor(op, method, path)),
            method.to_uppercase(),
            esc(path)
        );
    }
    out.push_str("</ul></nav>\n");

    for tag in array(&doc["tags"]) {
        let name = str_of(&tag["name"]);
        let _ = write!(out, "<h2 id=\"tag-{}\">{}</h2>\n{}", esc(name), esc(name), prose(str_of(&tag["description"])));
        for (_, path, method, op) in operations.iter().filter(|(t, ..)| *t == name) {
            operation(&mut out, doc, path, method, op);
        }
    }

    out.push_str("<h2>Schemas</h2>\n");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            schema_section(&mut out, name, schema);
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// (tag, path, method, operation) of every operation, in path order.
fn operations(doc: &Value) -> Vec<(&str, &str, &'static str, &Value)> {
    let mut found = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    let tag = op["tags"][0].as_str().unwrap_or_default();
                    found.push((tag, path.as_str(), method, op));
                }
            }
        }
    }
    found
}

fn op_anchor(op: &Value, method: &str, path: &str) -> String {
    match op["operationId"].as_str() {
        Some(id) => format!("op-{id}"),
        None => format!("op-{method}-{path}"),
    }
}

fn operation(out: &mut String, doc: &Value, path: &str, method: &str, op: &Value) {
    let deprecated = if op["deprecated"] == true { " <span class=\"dep\">deprecated</span>" } else { "" };
    let _ = write!(
        out,
        "<section class=\"op\" id=\"{}\"><h3><span class=\"m {method}\">{}</span> <code>{}</code>{deprecated}</h3>\n{}\
         <p>gRPC method: <code>{}</code></p>\n",
        esc(&op_anchor(op, method, path)),
        method.to_uppercase(),
        esc(path),
        prose(str_of(&op["description"])),
        esc(str_of(&op["x-grpc-method"])),
    );
    let _ = writeln!(out, "<p>Credentials: {}</p>", security_html(op.get("security").unwrap_or(&doc["security"])));
    let params = array(&op["parameters"]);
    if !params.is_empty() {
        out.push_str(
            "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(str_of(&p["name"])),
                esc(str_of(&p["in"])),
                type_html(&p["schema"]),
                if p["required"] == true { "yes" } else { "no" },
                prose(str_of(&p["description"])),
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(content) = op["requestBody"]["content"].as_object() {
        out.push_str("<h4>Request body</h4><table><tr><th>content type</th><th>type</th><th>description</th></tr>");
        for (media, body) in content {
            let schema = &body["schema"];
            let description = match op["requestBody"]["description"].as_str() {
                Some(d) => d,
                None => str_of(&schema["description"]),
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(media),
                type_html(schema),
                prose(description)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h4>Responses</h4><table><tr><th>status</th><th>type</th><th>description</th></tr>");
    if let Some(responses) = op["responses"].as_object() {
        for (status, response) in responses {
            // `default` refers to the shared error response.
            let response = match response["$ref"].as_str() {
                Some(target) => target
                    .strip_prefix("#/components/responses/")
                    .map_or(&Value::Null, |name| &doc["components"]["responses"][name]),
                None => response,
            };
            let schema = response["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|m| type_html(&m["schema"]))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{schema}</td><td>{}</td></tr>",
                esc(status),
                prose(str_of(&response["description"]))
            );
        }
    }
    out.push_str("</table></section>\n");
}

fn schema_section(out: &mut String, name: &str, schema: &Value) {
    let _ = write!(
        out,
        "<section id=\"schema-{}\"><h3><code>{}</code></h3>\n{}",
        esc(name),
        esc(name),
        prose(str_of(&schema["description"]))
    );
    match schema["properties"].as_object() {
        Some(properties) if !properties.is_empty() => {
            out.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
            for (field, property) in properties {
                let deprecated =
                    if property["deprecated"] == true { " <span class=\"dep\">deprecated</span>" } else { "" };
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code>{deprecated}</td><td>{}</td><td>{}</td></tr>",
                    esc(field),
                    type_html(property),
                    prose(str_of(&property["description"]))
                );
            }
            out.push_str("</table>\n");
        }
        Some(_) => out.push_str("<p>No fields: <code>{}</code>.</p>\n"),
        None => {
            let _ = writeln!(out, "<p>Type: {}</p>", type_html(schema));
        }
    }
    out.push_str("</section>\n");
}

/// The security requirements of an operation: which schemes, or none needed.
fn security_html(requirements: &Value) -> String {
    let names: Vec<String> = array(requirements)
        .iter()
        .filter_map(Value::as_object)
        .map(|r| r.keys().map(|k| format!("<b>{}</b>", esc(k))).collect::<Vec<_>>().join(" and "))
        .collect();
    if names.is_empty() { "none needed".to_owned() } else { names.join(", ") }
}

/// A short description of a schema's type, linking to named schemas.
fn type_html(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.rsplit('/').next().unwrap_or(target);
        let short = name.rsplit('.').next().unwrap_or(name);
        return format!("<a href=\"#schema-{}\" title=\"{}\">{}</a>", esc(name), esc(name), esc(short));
    }
    if let Some(value) = schema.get("const") {
        return format!("<code>{}</code>", esc(&value.to_string()));
    }
    // A `type` says the most; the combinators describe schemas without one.
    let (kinds, nullable): (Vec<&str>, bool) = match &schema["type"] {
        Value::String(kind) => (vec![kind.as_str()], false),
        Value::Array(kinds) => {
            let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            (kinds.iter().copied().filter(|k| *k != "null").collect(), kinds.contains(&"null"))
        }
        _ => (Vec::new(), false),
    };
    if kinds.is_empty() && !nullable {
        for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
            if let Some(parts) = schema[key].as_array().filter(|p| !p.is_empty()) {
                return parts.iter().map(type_html).collect::<Vec<_>>().join(joiner);
            }
        }
    }
    let mut text = kinds
        .iter()
        .map(|kind| match *kind {
            "array" => format!("array of {}", type_html(&schema["items"])),
            "object" => match &schema["additionalProperties"] {
                Value::Object(_) => format!("map of string to {}", type_html(&schema["additionalProperties"])),
                _ => "object".to_owned(),
            },
            kind => match schema["format"].as_str() {
                Some(format) => format!("{} ({})", esc(kind), esc(format)),
                None => esc(kind),
            },
        })
        .collect::<Vec<_>>()
        .join(" or ");
    if text.is_empty() {
        text = if nullable { "null".to_owned() } else { "any JSON value".to_owned() };
    } else if nullable {
        text.push_str(" or null");
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> = values.iter().map(|v| format!("<code>{}</code>", esc(str_of(v)))).collect();
        let _ = write!(text, ": one of {}", names.join(", "));
    }
    text
}

/// Comment text as HTML: blank-line paragraphs, `- ` lists, `code` spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let lines: Vec<&str> = paragraph.lines().collect();
        if lines.iter().all(|l| l.starts_with("- ")) {
            out.push_str("<ul>");
            for line in lines {
                let _ = write!(out, "<li>{}</li>", inline(&line[2..]));
            }
            out.push_str("</ul>\n");
        } else {
            let _ = writeln!(out, "<p>{}</p>", inline(&lines.join(" ")));
        }
    }
    out
}

/// Escapes `text` and turns `backticked` spans into `<code>`.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_escapes_and_marks_up() {
        assert_eq!(
            prose("A `<b>` tag\nwraps.\n\n- `X`: one\n- `Y`: two"),
            "<p>A <code>&lt;b&gt;</code> tag wraps.</p>\n<ul><li><code>X</code>: one</li><li><code>Y</code>: two</li></ul>\n"
        );
    }

    #[test]
    fn types_read_as_text_and_link_to_schemas() {
        let schema = serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/a.v1.Thing"}});
        assert_eq!(type_html(&schema), "array of <a href=\"#schema-a.v1.Thing\" title=\"a.v1.Thing\">Thing</a>");
        let map = serde_json::json!({"type": "object", "additionalProperties": {"type": "string", "format": "int64"}});
        assert_eq!(type_html(&map), "map of string to string (int64)");
        assert_eq!(
            type_html(&serde_json::json!({"type": "string", "enum": ["A", "B"]})),
            "string: one of <code>A</code>, <code>B</code>"
        );
    }

    #[test]
    fn json_schema_unions_and_constants_read_as_text() {
        use serde_json::json;
        assert_eq!(type_html(&json!({"type": ["integer", "null"], "format": "int32"})), "integer (int32) or null");
        assert_eq!(
            type_html(&json!({"type": ["array", "null"], "items": {"type": "string"}})),
            "array of string or null"
        );
        assert_eq!(
            type_html(&json!({"const": "No Donation matches the given query."})),
            "<code>&quot;No Donation matches the given query.&quot;</code>"
        );
        let either = json!({"oneOf": [{"$ref": "#/components/schemas/c.A"}, {"$ref": "#/components/schemas/c.B"}]});
        assert_eq!(
            type_html(&either),
            "<a href=\"#schema-c.A\" title=\"c.A\">A</a> or <a href=\"#schema-c.B\" title=\"c.B\">B</a>"
        );
        assert_eq!(
            security_html(&json!([{"researcher_token": []}, {"bearer": []}])),
            "<b>researcher_token</b>, <b>bearer</b>"
        );
        assert_eq!(security_html(&json!([])), "none needed");
    }
}
