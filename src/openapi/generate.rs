//! Descriptor set → OpenAPI 3.1 document: one operation per `google.api.http`
//! binding (additional bindings included), path parameters from `{field}`
//! templates, query parameters for the fields no template or body binds, JSON
//! bodies, and `components.schemas` for every reachable message and enum in the
//! proto3 JSON mapping Envoy prints (proto field names, 64-bit integers as
//! strings, enums as names, well-known types as their JSON forms). An
//! [`Overlay`] supplies what `google.api.HttpBody` answers cannot: the compat
//! routes' bodies per HTTP status.
//!
//! 3.1 rather than 3.0: its schemas are JSON Schema 2020-12, so the compat
//! schemas are plain JSON Schema (`"type": ["string", "null"]`, `const`) that
//! any JSON Schema validator checks against the golden bodies.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_types::field_descriptor_proto::Type;
use serde_json::{Map, Value, json};

use super::descriptor::{FieldDescriptorProto, HttpRule, Index, Message, Pattern, Service};
use super::overlay::Overlay;

/// The schema name of the error body Envoy returns.
pub const ERROR_SCHEMA: &str = "google.rpc.Status";
/// `google.api.HttpBody`: a raw body of any content type instead of JSON.
const HTTP_BODY: &str = ".google.api.HttpBody";
/// How many nested messages are flattened into query parameters: at most
/// `a.b.c`, which also stops recursive messages.
const MAX_QUERY_DEPTH: usize = 2;

/// Why a descriptor set cannot be documented.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("decoding the descriptor set: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("{method}: type {type_name} is not in the descriptor set")]
    UnknownType { method: String, type_name: String },
    #[error("{method}: {reason}")]
    Binding { method: String, reason: String },
    #[error("{method}: {http_method} {path} is already bound by {other}")]
    Duplicate { method: String, http_method: String, path: String, other: String },
    #[error("the overlay: {0}")]
    Overlay(String),
}

/// The document for `descriptor` with `overlay` applied, without `servers`
/// (the caller adds them).
pub fn document(descriptor: &[u8], overlay: &Overlay) -> Result<Value, Error> {
    let index = Index::decode(descriptor)?;
    let mut schemas = Schemas::new(&index);
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut owners: HashMap<(String, String), String> = HashMap::new();
    let mut patched = BTreeSet::new();
    let mut tags = Vec::new();
    for service in &index.services {
        let mut documented = false;
        for (method, comment) in &service.methods {
            let Some(rule) = method.options.as_ref().and_then(|o| o.http.as_ref()) else {
                continue;
            };
            let grpc = format!("/{}/{}", service.full_name, method.name);
            // http.proto forbids nesting additional bindings, so one level is all there is.
            let bindings = std::iter::once(rule).chain(&rule.additional_bindings);
            for (n, binding) in bindings.enumerate() {
                let context = Context { service, method, comment: comment.as_deref(), grpc: grpc.clone() };
                let (http_method, template) =
                    pattern(binding).map_err(|reason| Error::Binding { method: grpc.clone(), reason })?;
                let template = Template::parse(template).map_err(|reason| Error::Binding {
                    method: grpc.clone(),
                    reason: format!("path template `{template}`: {reason}"),
                })?;
                let mut operation = schemas.operation(&context, binding, &template)?;
                let id = match n {
                    0 => format!("{}_{}", service.name, method.name),
                    n => format!("{}_{}_{n}", service.name, method.name),
                };
                operation.insert("operationId".into(), id.into());
                let path = match overlay.operation(&grpc).filter(|_| n == 0) {
                    Some(patch) => {
                        patched.insert(grpc.clone());
                        patch
                            .apply(&template.path, &mut operation)
                            .map_err(|e| Error::Overlay(format!("{grpc}: {e}")))?
                    }
                    None => template.path,
                };
                let key = (path.clone(), http_method.clone());
                if let Some(other) = owners.insert(key, grpc.clone()) {
                    return Err(Error::Duplicate {
                        method: grpc,
                        http_method: http_method.to_uppercase(),
                        path,
                        other,
                    });
                }
                paths.entry(path).or_default().insert(http_method, operation.into());
                documented = true;
            }
        }
        if documented {
            let mut tag = json!({"name": service.name});
            if let Some(comment) = &service.comment {
                tag["description"] = comment.clone().into();
            }
            tags.push(tag);
        }
    }
    if let Some(method) = overlay.methods().find(|m| !patched.contains(*m)) {
        return Err(Error::Overlay(format!("{method} is not a method with an http rule")));
    }
    let mut schemas = schemas.finish()?;
    schemas.insert(ERROR_SCHEMA.into(), error_schema());
    let mut components = json!({
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "The call failed: the HTTP status is the gRPC status mapped by Envoy (UNAUTHENTICATED → 401, PERMISSION_DENIED → 403, INVALID_ARGUMENT → 400, NOT_FOUND → 404, …).",
                    "content": {"application/json": {"schema": schema_ref(ERROR_SCHEMA)}},
                },
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`Authorization: Bearer <token>` with a Steward API token (64 hex digits, e.g. from `steward token create`).",
                },
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Authorization: Token <token>`: the value is the word `Token`, a space and the API token (the scheme portability-server clients send).",
                },
                "cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "dsg_token",
                    "description": "The `dsg_token` cookie holding an API token, as set by sign-in. A header wins over the cookie.",
                },
            },
    });
    let components = components.as_object_mut().expect("an object literal");
    overlay.merge_components(components).map_err(Error::Overlay)?;
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Steward REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO,
        },
        "tags": tags,
        "paths": paths,
        "components": components,
        "security": [{"bearer": []}, {"token": []}, {"cookie": []}],
    }))
}

/// The sentence in an RPC's comment that marks it callable without a credential.
const PUBLIC_MARKER: &str = "No credential is needed";

const INFO: &str = "Steward's JSON/HTTP API. Every operation is a gRPC method of Steward \
(named in `x-grpc-method`); these REST routes are served by Envoy in front of Steward, whose \
gRPC-JSON transcoder turns each call into the gRPC call. Steward itself serves gRPC, gRPC-web \
and its pages on its own port.\n\n\
JSON follows the proto3 JSON mapping with proto field names: 64-bit integers are strings, enums \
are their value names, timestamps are RFC 3339 strings, bytes are base64. A failed call answers \
with the HTTP status matching its gRPC status and a `google.rpc.Status` JSON body.";

/// The method an operation documents.
struct Context<'a> {
    service: &'a Service,
    method: &'a super::descriptor::MethodDescriptorProto,
    comment: Option<&'a str>,
    grpc: String,
}

impl Context<'_> {
    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Binding { method: self.grpc.clone(), reason: reason.into() }
    }

    fn unknown(&self, type_name: &str) -> Error {
        Error::UnknownType { method: self.grpc.clone(), type_name: type_name.to_owned() }
    }
}

/// (OpenAPI method, path template) of a binding.
fn pattern(rule: &HttpRule) -> Result<(String, &str), String> {
    match &rule.pattern {
        Some(Pattern::Get(p)) => Ok(("get".into(), p)),
        Some(Pattern::Put(p)) => Ok(("put".into(), p)),
        Some(Pattern::Post(p)) => Ok(("post".into(), p)),
        Some(Pattern::Delete(p)) => Ok(("delete".into(), p)),
        Some(Pattern::Patch(p)) => Ok(("patch".into(), p)),
        Some(Pattern::Custom(c)) => {
            let kind = c.kind.to_lowercase();
            match kind.as_str() {
                "head" | "options" | "trace" => Ok((kind, &c.path)),
                _ => Err(format!("custom method `{}` has no OpenAPI equivalent", c.kind)),
            }
        }
        None => Err("an http rule without a method and path".into()),
    }
}

/// A `google.api.http` path template in OpenAPI form.
#[derive(Debug, PartialEq)]
struct Template {
    /// `/v1/{name}/books/{book.id}:publish`.
    path: String,
    /// Each variable: (field path, its segment pattern when not the default `*`).
    vars: Vec<(String, Option<String>)>,
}

impl Template {
    /// Parses `/v1/{name=shelves/*}/books/{book.id}:verb`.
    fn parse(template: &str) -> Result<Template, String> {
        if !template.starts_with('/') {
            return Err("must start with `/`".into());
        }
        let (mut path, mut vars) = (String::new(), Vec::new());
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("`}` without `{`".into());
            }
            path.push_str(&rest[..open]);
            let close = rest[open..].find('}').ok_or("`{` without `}`")? + open;
            let inner = &rest[open + 1..close];
            let (field, segments) = match inner.split_once('=') {
                Some((field, segments)) => (field, Some(segments)),
                None => (inner, None),
            };
            let valid = !field.is_empty()
                && field
                    .split('.')
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if !valid {
                return Err(format!("`{field}` is not a field path"));
            }
            if segments.is_some_and(|s| s.is_empty() || s.contains('{')) {
                return Err(format!("variable `{field}` has an empty or nested pattern"));
            }
            if vars.iter().any(|(f, _)| f == field) {
                return Err(format!("variable `{field}` appears twice"));
            }
            path.push('{');
            path.push_str(field);
            path.push('}');
            vars.push((field.to_owned(), segments.filter(|s| *s != "*").map(str::to_owned)));
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        Ok(Template { path, vars })
    }
}

/// The `components.schemas` being collected, and the builders of schemas that
/// refer to them.
struct Schemas<'a> {
    index: &'a Index,
    done: BTreeMap<String, Value>,
    /// Type names (`.pkg.Name`) referred to but not yet built.
    queue: Vec<&'a str>,
}

impl<'a> Schemas<'a> {
    fn new(index: &'a Index) -> Self {
        Schemas { index, done: BTreeMap::new(), queue: Vec::new() }
    }

    /// Builds every queued schema (which may queue more) and returns them all.
    fn finish(mut self) -> Result<Map<String, Value>, Error> {
        while let Some(type_name) = self.queue.pop() {
            let name = &type_name[1..];
            if self.done.contains_key(name) {
                continue;
            }
            let schema = if let Some(message) = self.index.message(type_name) {
                self.object(message)?
            } else if let Some(e) = self.index.enums.get(type_name) {
                enum_schema(e)
            } else {
                return Err(Error::UnknownType { method: "(a message field)".into(), type_name: type_name.into() });
            };
            self.done.insert(name.to_owned(), schema);
        }
        Ok(self.done.into_iter().collect())
    }

    /// The schema of a message or enum type: a well-known type inline, anything
    /// else a `$ref` to `components.schemas` (queued for [`Self::finish`]).
    fn reference(&mut self, type_name: &'a str) -> Value {
        if let Some(schema) = well_known(type_name) {
            return schema;
        }
        let name = type_name.strip_prefix('.').unwrap_or(type_name);
        if !self.done.contains_key(name) && !self.queue.contains(&type_name) {
            self.queue.push(type_name);
        }
        schema_ref(name)
    }

    /// `{"type": "object", "properties": …}` for a message.
    fn object(&mut self, message: &'a Message) -> Result<Value, Error> {
        let mut properties = Map::new();
        for (field, comment) in message.proto.field.iter().zip(&message.field_comments) {
            let schema = self.field(message, field, comment.as_deref())?;
            properties.insert(field.name.clone(), schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if let Some(comment) = &message.comment {
            schema["description"] = comment.clone().into();
        }
        if message.deprecated() {
            schema["deprecated"] = true.into();
        }
        Ok(schema)
    }

    /// The schema of a field (repeated → array, map → object), with its description.
    fn field(
        &mut self,
        owner: &Message,
        field: &'a FieldDescriptorProto,
        comment: Option<&str>,
    ) -> Result<Value, Error> {
        let mut schema = if let Some(value) = self.map_value(field) {
            let value = self.single(value)?;
            json!({"type": "object", "additionalProperties": value})
        } else if field.is_repeated() {
            json!({"type": "array", "items": self.single(field)?})
        } else {
            self.single(field)?
        };
        let mut description = comment.unwrap_or_default().to_owned();
        if let Some(oneof) = oneof_note(owner, field) {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&oneof);
        }
        if !description.is_empty() {
            schema = describe(schema, &description);
        }
        if field.deprecated() {
            schema["deprecated"] = true.into();
        }
        Ok(schema)
    }

    /// The value field of a `map<K, V>` field's entry message, if `field` is a map.
    fn map_value(&self, field: &FieldDescriptorProto) -> Option<&'a FieldDescriptorProto> {
        if !field.is_repeated() || field.kind() != Some(Type::Message) {
            return None;
        }
        let entry = self.index.message(&field.type_name)?;
        entry.is_map_entry().then(|| entry.proto.field.iter().find(|f| f.number == 2)).flatten()
    }

    /// The schema of one value of `field` (ignoring `repeated`).
    fn single(&mut self, field: &'a FieldDescriptorProto) -> Result<Value, Error> {
        Ok(match field.kind() {
            Some(Type::Message | Type::Enum) => {
                if well_known(&field.type_name).is_none()
                    && self.index.message(&field.type_name).is_none()
                    && !self.index.enums.contains_key(&field.type_name)
                {
                    return Err(Error::UnknownType {
                        method: format!("(field {})", field.name),
                        type_name: field.type_name.clone(),
                    });
                }
                self.reference(&field.type_name)
            }
            // Groups are proto2-only and cannot be transcoded to JSON.
            Some(Type::Group) | None => json!({}),
            Some(kind) => scalar(kind),
        })
    }

    /// The operation object of one binding (without `operationId`).
    fn operation(
        &mut self,
        cx: &Context<'a>,
        rule: &HttpRule,
        template: &Template,
    ) -> Result<Map<String, Value>, Error> {
        let input = self.index.message(&cx.method.input_type).ok_or_else(|| cx.unknown(&cx.method.input_type))?;
        let output = self.index.message(&cx.method.output_type).ok_or_else(|| cx.unknown(&cx.method.output_type))?;
        let mut op = Map::new();
        op.insert("tags".into(), json!([cx.service.name]));
        if let Some(comment) = cx.comment {
            op.insert("summary".into(), summary(comment).into());
            op.insert("description".into(), comment.into());
        }
        op.insert("x-grpc-method".into(), cx.grpc.clone().into());
        // RPCs open to anonymous callers say so in their comment (DSG's public-root routes);
        // a credential that is presented is still checked.
        if cx.comment.is_some_and(|c| c.contains(PUBLIC_MARKER)) {
            op.insert("security".into(), json!([]));
        }
        if input.full_name != HTTP_BODY[1..] {
            // Listed even when every field travels in the path or query, so
            // readers find the request's fields in one place.
            self.reference(&cx.method.input_type);
        }

        let mut parameters = Vec::new();
        let mut bound: Vec<String> = Vec::new();
        for (path, segments) in &template.vars {
            let (field, comment) = resolve(input, path, self.index)
                .map_err(|reason| cx.error(format!("path variable `{path}`: {reason}")))?;
            let mut description = comment.unwrap_or_default().to_owned();
            if let Some(segments) = segments {
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str(&format!("Matches `{segments}` (may contain `/`)."));
            }
            parameters.push(parameter(path, "path", self.single(field)?, &description));
            bound.push(path.clone());
        }

        match rule.body.as_str() {
            "" => {}
            "*" => {
                let schema = if input.full_name == HTTP_BODY[1..] {
                    None
                } else if template.vars.iter().any(|(p, _)| !p.contains('.')) {
                    // Fields bound by the path are not read from the body.
                    let mut object = self.object(input)?;
                    if let Some(properties) = object["properties"].as_object_mut() {
                        for (path, _) in &template.vars {
                            properties.remove(path);
                        }
                    }
                    Some(object)
                } else {
                    Some(self.reference(&cx.method.input_type))
                };
                op.insert("requestBody".into(), request_body(schema, cx.method.client_streaming));
            }
            name => {
                let (field, comment) = input
                    .field(name)
                    .ok_or_else(|| cx.error(format!("body `{name}` is not a field of {}", input.full_name)))?;
                let schema = if field.type_name == HTTP_BODY && !field.is_repeated() {
                    None
                } else {
                    Some(self.field(input, field, comment)?)
                };
                op.insert("requestBody".into(), request_body(schema, cx.method.client_streaming));
                bound.push(name.to_owned());
            }
        }
        if rule.body != "*" {
            self.query_parameters(input, "", &bound, 0, &mut parameters)?;
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), parameters.into());
        }

        let (schema, what) = match rule.response_body.as_str() {
            "" if output.full_name == HTTP_BODY[1..] => (None, String::new()),
            "" => (Some(self.reference(&cx.method.output_type)), format!("`{}`", output.full_name)),
            name => {
                let (field, comment) = output.field(name).ok_or_else(|| {
                    cx.error(format!("response_body `{name}` is not a field of {}", output.full_name))
                })?;
                if field.type_name == HTTP_BODY && !field.is_repeated() {
                    (None, String::new())
                } else {
                    let schema = self.field(output, field, comment)?;
                    (Some(schema), format!("`{name}` of `{}`", output.full_name))
                }
            }
        };
        let success = match schema {
            None => json!({
                "description": "The response body, in the content type the method sets.",
                "content": {"*/*": {"schema": {}}},
            }),
            Some(schema) if cx.method.server_streaming => json!({
                "description": format!("A stream of {what} messages, as one JSON array."),
                "content": {"application/json": {"schema": {"type": "array", "items": schema}}},
            }),
            Some(schema) => json!({
                "description": format!("OK: {what}."),
                "content": {"application/json": {"schema": schema}},
            }),
        };
        op.insert("responses".into(), json!({"200": success, "default": {"$ref": "#/components/responses/Error"}}));
        if cx.method.options.as_ref().is_some_and(|o| o.deprecated) {
            op.insert("deprecated".into(), true.into());
        }
        Ok(op)
    }

    /// Query parameters for the fields of `message` (under `prefix`) that no path
    /// variable or body binds: scalars, enums, repeated scalars, scalar-like
    /// well-known types, and nested messages flattened to `a.b`.
    fn query_parameters(
        &mut self,
        message: &'a Message,
        prefix: &str,
        bound: &[String],
        depth: usize,
        out: &mut Vec<Value>,
    ) -> Result<(), Error> {
        for (field, comment) in message.proto.field.iter().zip(&message.field_comments) {
            let name = format!("{prefix}{}", field.name);
            if bound.contains(&name) || self.map_value(field).is_some() {
                continue;
            }
            let description = comment.as_deref().unwrap_or_default();
            let schema = match field.kind() {
                Some(Type::Group) | None => continue,
                Some(Type::Message) if query_scalar(&field.type_name) => self.single(field)?,
                Some(Type::Message) => {
                    let nested = self.index.message(&field.type_name);
                    if let Some(nested) = nested.filter(|_| {
                        !field.is_repeated() && well_known(&field.type_name).is_none() && depth < MAX_QUERY_DEPTH
                    }) {
                        self.query_parameters(nested, &format!("{name}."), bound, depth + 1, out)?;
                    }
                    continue;
                }
                Some(_) => self.single(field)?,
            };
            let schema = if field.is_repeated() { json!({"type": "array", "items": schema}) } else { schema };
            let mut param = parameter(&name, "query", schema, description);
            if field.deprecated() {
                param["deprecated"] = true.into();
            }
            out.push(param);
        }
        Ok(())
    }
}

/// The field at dotted `path` in `message`: every step but the last a singular
/// message field, the last a singular scalar, enum or scalar-like well-known type.
fn resolve<'a>(
    message: &'a Message,
    path: &str,
    index: &'a Index,
) -> Result<(&'a FieldDescriptorProto, Option<&'a str>), String> {
    let mut current = message;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (field, comment) =
            current.field(part).ok_or_else(|| format!("`{part}` is not a field of {}", current.full_name))?;
        if field.is_repeated() {
            return Err(format!("`{part}` is repeated"));
        }
        let is_message = field.kind() == Some(Type::Message);
        if parts.peek().is_none() {
            if is_message && !query_scalar(&field.type_name) {
                return Err(format!("`{part}` is a message, not a scalar"));
            }
            return Ok((field, comment));
        }
        if !is_message {
            return Err(format!("`{part}` is not a message"));
        }
        current = index
            .message(&field.type_name)
            .ok_or_else(|| format!("type {} is not in the descriptor set", field.type_name))?;
    }
    unreachable!("split yields at least one part")
}

fn parameter(name: &str, location: &str, schema: Value, description: &str) -> Value {
    let mut param = json!({
        "name": name,
        "in": location,
        "required": location == "path",
        "schema": schema,
    });
    if !description.is_empty() {
        param["description"] = description.into();
    }
    param
}

/// A JSON request body (a raw one for `google.api.HttpBody`, `schema: None`).
fn request_body(schema: Option<Value>, client_streaming: bool) -> Value {
    match schema {
        None => json!({
            "required": true,
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }),
        Some(schema) if client_streaming => json!({
            "required": true,
            "description": "A stream of messages, as one JSON array.",
            "content": {"application/json": {"schema": {"type": "array", "items": schema}}},
        }),
        Some(schema) => json!({
            "required": true,
            "content": {"application/json": {"schema": schema}},
        }),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `schema` with a description (beside a `$ref` too: OpenAPI 3.1 reads both).
fn describe(mut schema: Value, description: &str) -> Value {
    schema["description"] = description.into();
    schema
}

/// The first sentence of a comment, on one line.
fn summary(comment: &str) -> String {
    let paragraph = comment.split("\n\n").next().unwrap_or_default();
    let line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.find(". ") {
        Some(end) => line[..=end].to_owned(),
        None => line,
    }
}

/// "Part of oneof `x`: …" for a field in a real (not proto3 `optional`) oneof.
fn oneof_note(owner: &Message, field: &FieldDescriptorProto) -> Option<String> {
    let i = field.oneof_index.filter(|_| !field.proto3_optional)?;
    let oneof = owner.proto.oneof_decl.get(usize::try_from(i).ok()?)?;
    let members: Vec<String> =
        owner.proto.field.iter().filter(|f| f.oneof_index == Some(i)).map(|f| format!("`{}`", f.name)).collect();
    Some(format!("Part of oneof `{}`: at most one of {} is set.", oneof.name, members.join(", ")))
}

/// A scalar field in the proto3 JSON mapping.
fn scalar(kind: Type) -> Value {
    match kind {
        Type::Double => json!({"type": "number", "format": "double"}),
        Type::Float => json!({"type": "number", "format": "float"}),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"})
        }
        Type::Uint64 | Type::Fixed64 => {
            json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"})
        }
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Type::Uint32 | Type::Fixed32 => {
            json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
        }
        Type::Bool => json!({"type": "boolean"}),
        Type::String => json!({"type": "string"}),
        Type::Bytes => json!({"type": "string", "format": "byte"}),
        Type::Group | Type::Message | Type::Enum => json!({}),
    }
}

/// The JSON form of a well-known type, which is not an object of its fields.
fn well_known(type_name: &str) -> Option<Value> {
    // A wrapper prints `null` when unset: JSON Schema's type union.
    let nullable = |mut schema: Value| {
        let kind = schema["type"].take();
        schema["type"] = json!([kind, "null"]);
        schema
    };
    Some(match type_name {
        ".google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        ".google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "examples": ["1.5s"]})
        }
        ".google.protobuf.FieldMask" => {
            json!({"type": "string", "examples": ["display_name,labels"]})
        }
        ".google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
        ".google.protobuf.Value" | ".google.protobuf.NullValue" => json!({}),
        ".google.protobuf.ListValue" => json!({"type": "array", "items": {}}),
        ".google.protobuf.Empty" => json!({"type": "object"}),
        ".google.protobuf.Any" => any_schema(),
        ".google.protobuf.DoubleValue" => nullable(scalar(Type::Double)),
        ".google.protobuf.FloatValue" => nullable(scalar(Type::Float)),
        ".google.protobuf.Int64Value" => nullable(scalar(Type::Int64)),
        ".google.protobuf.UInt64Value" => nullable(scalar(Type::Uint64)),
        ".google.protobuf.Int32Value" => nullable(scalar(Type::Int32)),
        ".google.protobuf.UInt32Value" => nullable(scalar(Type::Uint32)),
        ".google.protobuf.BoolValue" => nullable(scalar(Type::Bool)),
        ".google.protobuf.StringValue" => nullable(scalar(Type::String)),
        ".google.protobuf.BytesValue" => nullable(scalar(Type::Bytes)),
        _ => return None,
    })
}

/// Well-known types whose JSON form is a single string, number or boolean,
/// which can therefore travel in a path or query parameter.
fn query_scalar(type_name: &str) -> bool {
    let scalar = |t: &Value| matches!(t.as_str(), Some("string" | "number" | "integer" | "boolean"));
    well_known(type_name).is_some_and(|s| match &s["type"] {
        // A wrapper: `[kind, "null"]`.
        Value::Array(kinds) => kinds.first().is_some_and(scalar),
        kind => scalar(kind),
    })
}

fn any_schema() -> Value {
    json!({
        "type": "object",
        "description": "A `google.protobuf.Any`: `@type` names the message type, the other properties are its fields.",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": true,
    })
}

fn enum_schema(e: &super::descriptor::Enum) -> Value {
    let names: Vec<&str> = e.values.iter().map(|(n, _)| n.as_str()).collect();
    let mut description = e.comment.clone().unwrap_or_default();
    let documented: Vec<String> =
        e.values.iter().filter_map(|(n, c)| c.as_ref().map(|c| format!("- `{n}`: {}", c.replace('\n', " ")))).collect();
    if !documented.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&documented.join("\n"));
    }
    let mut schema = json!({"type": "string", "enum": names});
    if !description.is_empty() {
        schema["description"] = description.into();
    }
    schema
}

/// The JSON error body Envoy's transcoder returns (`convert_grpc_status`).
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "A failed call, as Envoy returns it: `google.rpc.Status` in proto3 JSON.",
        "properties": {
            "code": {
                "type": "integer",
                "format": "int32",
                "description": "The gRPC status code, e.g. 3 INVALID_ARGUMENT, 5 NOT_FOUND, 7 PERMISSION_DENIED, 16 UNAUTHENTICATED.",
            },
            "message": {
                "type": "string",
                "description": "What went wrong, for the developer.",
            },
            "details": {
                "type": "array",
                "description": "Machine-readable details (`google.rpc.BadRequest`, `google.rpc.ErrorInfo`, …).",
                "items": any_schema(),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use prost_types::EnumDescriptorProto;
    use prost_types::source_code_info::Location;

    use super::super::descriptor::*;
    use super::*;

    fn field(name: &str, number: i32, kind: Type, type_name: &str) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: name.into(),
            number,
            label: 1,
            r#type: kind as i32,
            type_name: type_name.into(),
            ..Default::default()
        }
    }

    fn repeated(mut f: FieldDescriptorProto) -> FieldDescriptorProto {
        f.label = 3;
        f
    }

    fn message(name: &str, field: Vec<FieldDescriptorProto>) -> DescriptorProto {
        DescriptorProto { name: name.into(), field, ..Default::default() }
    }

    fn method(name: &str, input: &str, output: &str, http: Option<HttpRule>) -> MethodDescriptorProto {
        MethodDescriptorProto {
            name: name.into(),
            input_type: format!(".t.v1.{input}"),
            output_type: format!(".t.v1.{output}"),
            options: http.map(|http| MethodOptions { deprecated: false, http: Some(http) }),
            ..Default::default()
        }
    }

    fn rule(pattern: Pattern, body: &str) -> HttpRule {
        HttpRule { pattern: Some(pattern), body: body.into(), ..Default::default() }
    }

    fn comment(path: &[i32], text: &str) -> Location {
        Location { path: path.to_vec(), leading_comments: Some(text.into()), ..Default::default() }
    }

    /// package t.v1: a Library service over Book, with every kind of field and binding.
    fn library(methods: Vec<MethodDescriptorProto>) -> Vec<u8> {
        let mut book = message(
            "Book",
            vec![
                field("id", 1, Type::Int64, ""),
                field("size", 2, Type::Uint64, ""),
                field("pages", 3, Type::Int32, ""),
                field("copies", 4, Type::Uint32, ""),
                field("rating", 5, Type::Double, ""),
                field("weight", 6, Type::Float, ""),
                field("public", 7, Type::Bool, ""),
                field("title", 8, Type::String, ""),
                field("cover", 9, Type::Bytes, ""),
                field("status", 10, Type::Enum, ".t.v1.Status"),
                field("created", 11, Type::Message, ".google.protobuf.Timestamp"),
                repeated(field("tags", 12, Type::String, "")),
                repeated(field("counts", 13, Type::Message, ".t.v1.Book.CountsEntry")),
                field("author", 14, Type::Message, ".t.v1.Author"),
                repeated(field("coauthors", 15, Type::Message, ".t.v1.Author")),
                field("ttl", 16, Type::Message, ".google.protobuf.Duration"),
                field("limit", 17, Type::Message, ".google.protobuf.Int32Value"),
                FieldDescriptorProto { oneof_index: Some(0), ..field("isbn", 18, Type::String, "") },
                FieldDescriptorProto { oneof_index: Some(0), ..field("doi", 19, Type::String, "") },
                field("extra", 20, Type::Message, ".google.protobuf.Struct"),
                FieldDescriptorProto {
                    options: Some(FieldOptions { deprecated: true }),
                    ..field("old", 21, Type::String, "")
                },
            ],
        );
        book.oneof_decl = vec![OneofDescriptorProto { name: "kind".into() }];
        book.nested_type = vec![DescriptorProto {
            options: Some(MessageOptions { map_entry: true, deprecated: false }),
            ..message("CountsEntry", vec![field("key", 1, Type::String, ""), field("value", 2, Type::Int64, "")])
        }];
        let file = FileDescriptorProto {
            name: "t/v1/library.proto".into(),
            package: "t.v1".into(),
            message_type: vec![
                book,
                message(
                    "Author",
                    vec![field("name", 1, Type::String, ""), field("favorite", 2, Type::Message, ".t.v1.Book")],
                ),
                message(
                    "GetBookRequest",
                    vec![
                        field("name", 1, Type::String, ""),
                        field("filter", 2, Type::Message, ".t.v1.Filter"),
                        field("page_size", 3, Type::Int32, ""),
                        repeated(field("books", 4, Type::Message, ".t.v1.Book")),
                    ],
                ),
                message(
                    "Filter",
                    vec![
                        field("status", 1, Type::Enum, ".t.v1.Status"),
                        field("since", 2, Type::Message, ".google.protobuf.Timestamp"),
                        repeated(field("labels", 3, Type::String, "")),
                        field("author", 4, Type::Message, ".t.v1.Author"),
                    ],
                ),
                message(
                    "UpdateBookRequest",
                    vec![
                        field("name", 1, Type::String, ""),
                        field("book", 2, Type::Message, ".t.v1.Book"),
                        field("update_mask", 3, Type::Message, ".google.protobuf.FieldMask"),
                    ],
                ),
                message("Unused", vec![field("x", 1, Type::String, "")]),
            ],
            enum_type: vec![EnumDescriptorProto {
                name: Some("Status".into()),
                value: ["STATUS_UNSPECIFIED", "STATUS_DRAFT"]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| prost_types::EnumValueDescriptorProto {
                        name: Some((*n).into()),
                        number: Some(i32::try_from(i).unwrap()),
                        options: None,
                    })
                    .collect(),
                ..Default::default()
            }],
            service: vec![ServiceDescriptorProto { name: "Library".into(), method: methods }],
            source_code_info: Some(prost_types::SourceCodeInfo {
                location: vec![
                    comment(&[4, 0], " A book on a shelf.\n"),
                    comment(&[4, 0, 2, 0], " The book's id.\n"),
                    comment(&[5, 0], " Where a book is.\n"),
                    comment(&[5, 0, 2, 1], " Not yet published.\n"),
                    comment(&[6, 0], " The library.\n"),
                    comment(&[6, 0, 2, 0], " GetBook finds a book. Slowly,\n at times.\n\n Second paragraph.\n"),
                ],
            }),
        };
        FileDescriptorSet { file: vec![file] }.encode_to_vec()
    }

    fn standard_library() -> Value {
        let mut get = rule(Pattern::Get("/v1/{name=shelves/*/books/*}".into()), "");
        get.additional_bindings = vec![rule(Pattern::Get("/v1/books/{name}:find".into()), "")];
        document(
            &library(vec![
                method("GetBook", "GetBookRequest", "Book", Some(get)),
                method(
                    "UpdateBook",
                    "UpdateBookRequest",
                    "Book",
                    Some(rule(Pattern::Patch("/v1/books/{name}".into()), "book")),
                ),
                method("CreateBook", "Book", "Book", Some(rule(Pattern::Post("/v1/books".into()), "*"))),
                method("ReplaceBook", "Book", "Book", Some(rule(Pattern::Put("/v1/books/{id}".into()), "*"))),
                MethodDescriptorProto {
                    server_streaming: true,
                    ..method("ListBooks", "GetBookRequest", "Book", Some(rule(Pattern::Get("/v1/books".into()), "")))
                },
                method(
                    "DeleteAuthor",
                    "Author",
                    "Author",
                    Some(HttpRule {
                        response_body: "name".into(),
                        ..rule(Pattern::Delete("/v1/authors/{name}".into()), "")
                    }),
                ),
                method("Ping", "Author", "Author", None),
            ]),
            &Overlay::default(),
        )
        .expect("a document")
    }

    /// Every `$ref` in `v` names something in `doc`.
    fn assert_refs_resolve(doc: &Value, v: &Value) {
        match v {
            Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(Value::as_str) {
                    let pointer = target.strip_prefix('#').expect("a local $ref");
                    let name = pointer.rsplit('/').next().unwrap();
                    let parent = &pointer[..pointer.len() - name.len() - 1];
                    assert!(doc.pointer(parent).and_then(|p| p.get(name)).is_some(), "dangling {target}");
                }
                map.values().for_each(|x| assert_refs_resolve(doc, x));
            }
            Value::Array(items) => items.iter().for_each(|x| assert_refs_resolve(doc, x)),
            _ => {}
        }
    }

    #[test]
    fn fields_follow_the_proto3_json_mapping() {
        let doc = standard_library();
        let book = &doc["components"]["schemas"]["t.v1.Book"]["properties"];
        let expect = |name: &str, schema: Value| {
            let mut actual = book[name].clone();
            if let Some(o) = actual.as_object_mut() {
                o.remove("description");
            }
            assert_eq!(actual, schema, "field {name}");
        };
        expect("size", json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}));
        expect("pages", json!({"type": "integer", "format": "int32"}));
        expect("copies", json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": 4_294_967_295_u32}));
        expect("rating", json!({"type": "number", "format": "double"}));
        expect("weight", json!({"type": "number", "format": "float"}));
        expect("public", json!({"type": "boolean"}));
        expect("title", json!({"type": "string"}));
        expect("cover", json!({"type": "string", "format": "byte"}));
        expect("status", json!({"$ref": "#/components/schemas/t.v1.Status"}));
        expect("created", json!({"type": "string", "format": "date-time"}));
        expect("tags", json!({"type": "array", "items": {"type": "string"}}));
        expect(
            "counts",
            json!({"type": "object", "additionalProperties": {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}}),
        );
        expect("author", json!({"$ref": "#/components/schemas/t.v1.Author"}));
        expect("coauthors", json!({"type": "array", "items": {"$ref": "#/components/schemas/t.v1.Author"}}));
        expect("ttl", json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "examples": ["1.5s"]}));
        expect("limit", json!({"type": ["integer", "null"], "format": "int32"}));
        expect("extra", json!({"type": "object", "additionalProperties": true}));
        expect("old", json!({"type": "string", "deprecated": true}));
        assert_eq!(
            book["id"],
            json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$", "description": "The book's id."})
        );
        assert_eq!(book["isbn"]["description"], "Part of oneof `kind`: at most one of `isbn`, `doi` is set.");
        let status = &doc["components"]["schemas"]["t.v1.Status"];
        assert_eq!(status["enum"], json!(["STATUS_UNSPECIFIED", "STATUS_DRAFT"]));
        assert_eq!(status["description"], "Where a book is.\n\n- `STATUS_DRAFT`: Not yet published.");
    }

    #[test]
    fn components_hold_exactly_the_reachable_messages() {
        let doc = standard_library();
        let names: Vec<&String> = doc["components"]["schemas"].as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            [
                "google.rpc.Status",
                "t.v1.Author",
                "t.v1.Book",
                "t.v1.Filter",
                "t.v1.GetBookRequest",
                "t.v1.Status",
                "t.v1.UpdateBookRequest",
            ]
        );
        assert_eq!(doc["components"]["schemas"]["t.v1.Book"]["description"], "A book on a shelf.");
        assert_refs_resolve(&doc, &doc);
    }

    #[test]
    fn path_templates_bindings_and_query_parameters() {
        let doc = standard_library();
        let paths = doc["paths"].as_object().unwrap();
        let mut keys: Vec<String> = paths
            .iter()
            .flat_map(|(p, item)| item.as_object().unwrap().keys().map(move |m| format!("{m} {p}")))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "delete /v1/authors/{name}",
                "get /v1/books",
                "get /v1/books/{name}:find",
                "get /v1/{name}",
                "patch /v1/books/{name}",
                "post /v1/books",
                "put /v1/books/{id}",
            ]
        );
        let get = &paths["/v1/{name}"]["get"];
        assert_eq!(get["operationId"], "Library_GetBook");
        assert_eq!(get["x-grpc-method"], "/t.v1.Library/GetBook");
        assert_eq!(get["summary"], "GetBook finds a book.");
        assert_eq!(get["description"], "GetBook finds a book. Slowly,\nat times.\n\nSecond paragraph.");
        assert_eq!(get["tags"], json!(["Library"]));
        let params = get["parameters"].as_array().unwrap();
        let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        // `books` (repeated message) and `filter.author` (nested past a plain
        // message into one with no scalar leaves but `name`) follow the rules.
        assert_eq!(
            names,
            ["name", "filter.status", "filter.since", "filter.labels", "filter.author.name", "page_size"]
        );
        assert_eq!(params[0]["in"], "path");
        assert_eq!(params[0]["required"], true);
        assert_eq!(params[0]["description"], "Matches `shelves/*/books/*` (may contain `/`).");
        assert_eq!(params[1]["in"], "query");
        assert_eq!(params[1]["required"], false);
        assert_eq!(params[1]["schema"], json!({"$ref": "#/components/schemas/t.v1.Status"}));
        assert_eq!(params[2]["schema"]["format"], "date-time");
        assert_eq!(params[3]["schema"], json!({"type": "array", "items": {"type": "string"}}));
        assert!(get.get("requestBody").is_none());

        let find = &paths["/v1/books/{name}:find"]["get"];
        assert_eq!(find["operationId"], "Library_GetBook_1");
        assert_eq!(find["parameters"][0]["name"], "name");
        assert!(find["parameters"][0].get("description").is_none());

        let patch = &paths["/v1/books/{name}"]["patch"];
        let names: Vec<&str> =
            patch["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["name", "update_mask"]);
        assert_eq!(patch["parameters"][1]["schema"]["type"], "string");
        assert_eq!(
            patch["requestBody"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/t.v1.Book"})
        );

        let post = &paths["/v1/books"]["post"];
        assert!(post.get("parameters").is_none(), "body \"*\" leaves no query parameters");
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/t.v1.Book"})
        );
        let put = &paths["/v1/books/{id}"]["put"];
        let body = &put["requestBody"]["content"]["application/json"]["schema"]["properties"];
        assert!(body.get("id").is_none(), "the path binds `id`");
        assert!(body.get("title").is_some());

        let list = &paths["/v1/books"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(list, &json!({"type": "array", "items": {"$ref": "#/components/schemas/t.v1.Book"}}));
        let delete = &paths["/v1/authors/{name}"]["delete"]["responses"];
        assert_eq!(delete["200"]["content"]["application/json"]["schema"], json!({"type": "string"}));
        assert_eq!(delete["default"], json!({"$ref": "#/components/responses/Error"}));
        assert!(!doc.to_string().contains("Ping"), "methods without an http rule are left out");
        assert_eq!(doc["tags"], json!([{"name": "Library", "description": "The library."}]));
    }

    #[test]
    fn template_syntax() {
        let t = Template::parse("/v1/{parent=shelves/*}/books/{book.id}:publish").unwrap();
        assert_eq!(t.path, "/v1/{parent}/books/{book.id}:publish");
        assert_eq!(t.vars, [("parent".into(), Some("shelves/*".into())), ("book.id".into(), None)]);
        assert_eq!(Template::parse("/v1/{name=*}").unwrap().vars, [("name".into(), None)]);
        for bad in ["v1/x", "/v1/{}", "/v1/{a", "/v1/a}", "/v1/{a}/{a}", "/v1/{a-b}", "/v1/{a=}", "/v1/{a..b}"] {
            assert!(Template::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn bad_bindings_are_reported() {
        let unknown = library(vec![method(
            "GetBook",
            "GetBookRequest",
            "Book",
            Some(rule(Pattern::Get("/v1/{nope}".into()), "")),
        )]);
        let e = document(&unknown, &Overlay::default()).unwrap_err().to_string();
        assert!(e.contains("/t.v1.Library/GetBook") && e.contains("`nope`"), "{e}");

        let message = library(vec![method(
            "GetBook",
            "GetBookRequest",
            "Book",
            Some(rule(Pattern::Get("/v1/{filter}".into()), "")),
        )]);
        assert!(document(&message, &Overlay::default()).unwrap_err().to_string().contains("not a scalar"));

        let twice = library(vec![
            method("GetBook", "GetBookRequest", "Book", Some(rule(Pattern::Get("/v1/x".into()), ""))),
            method("ListBooks", "GetBookRequest", "Book", Some(rule(Pattern::Get("/v1/x".into()), ""))),
        ]);
        assert!(matches!(document(&twice, &Overlay::default()), Err(Error::Duplicate { .. })));
        assert!(matches!(document(b"\xff\xff", &Overlay::default()), Err(Error::Decode(_))));
    }

    /// Steward's own document, with the compat overlay.
    fn steward_document() -> Value {
        let overlay = Overlay::parse(super::super::overlay::LEGACY_SCHEMAS).expect("legacy_schemas.json parses");
        document(crate::proto::FILE_DESCRIPTOR_SET, &overlay).expect("a document")
    }

    #[test]
    fn an_overlay_must_name_real_routes() {
        let get = || {
            library(vec![method(
                "GetBook",
                "GetBookRequest",
                "Book",
                Some(rule(Pattern::Get("/v1/books/{name}".into()), "")),
            )])
        };
        let overlay = |method: &str, path: &str| {
            let text = format!(
                r#"{{"operations": {{"{method}": {{"path": "{path}", "operation": {{"deprecated": true}}}}}}}}"#
            );
            Overlay::parse(&text).unwrap()
        };
        let doc = document(&get(), &overlay("/t.v1.Library/GetBook", "/v1/books/{name}/")).unwrap();
        assert_eq!(doc["paths"]["/v1/books/{name}/"]["get"]["deprecated"], true);
        assert!(doc["paths"].get("/v1/books/{name}").is_none(), "printed only with the slash");

        let unknown = document(&get(), &overlay("/t.v1.Library/Nope", "/v1/books/{name}")).unwrap_err();
        assert!(matches!(&unknown, Error::Overlay(e) if e.contains("/t.v1.Library/Nope")), "{unknown}");
        let moved = document(&get(), &overlay("/t.v1.Library/GetBook", "/v1/shelves/{name}/")).unwrap_err();
        assert!(matches!(moved, Error::Overlay(_)), "{moved}");
        let clash = Overlay::parse(r#"{"operations": {}, "components": {"schemas": {"t.v1.Book": {}}}}"#).unwrap();
        assert!(matches!(document(&get(), &clash), Err(Error::Overlay(e)) if e.contains("t.v1.Book")));
    }

    #[test]
    fn legacy_routes_carry_their_slash_and_compat_answers() {
        let doc = steward_document();
        let paths = doc["paths"].as_object().unwrap();
        let legacy: Vec<String> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().unwrap().iter().filter_map(move |(method, op)| {
                    let grpc = op["x-grpc-method"].as_str()?;
                    grpc.contains("DonationService/Legacy").then(|| format!("{method} {path}"))
                })
            })
            .collect();
        assert_eq!(
            legacy,
            [
                "get /api/donations/",
                "post /api/donations/",
                "delete /api/donations/{id}/",
                "get /api/donations/{id}/",
                "get /api/donations/{id}/data/",
            ]
        );
        assert!(!paths.contains_key("/api/donations") && !paths.contains_key("/api/donations/{id}"));

        let schema = |response: &Value| response["content"]["application/json"]["schema"].clone();
        let compat = |name: &str| json!({"$ref": format!("#/components/schemas/compat.{name}")});
        let create = &paths["/api/donations/"]["post"];
        assert_eq!(schema(&create["responses"]["201"]), compat("CreatedDonation"));
        let bodies: Vec<&String> = create["requestBody"]["content"].as_object().unwrap().keys().collect();
        assert_eq!(bodies, ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]);
        assert_eq!(create["x-grpc-method"], "/steward.donation.v1.DonationService/LegacyCreateDonation");
        assert!(create["summary"].as_str().unwrap().starts_with("LegacyCreateDonation is"), "proto comment kept");

        let delete = &paths["/api/donations/{id}/"]["delete"]["responses"];
        assert!(delete["204"].get("content").is_none(), "204 has no body");
        assert!(delete.get("200").is_none());
        assert_eq!(delete["404"], json!({"$ref": "#/components/responses/compat.NotFound"}));
        assert_eq!(schema(&paths["/api/donations/"]["get"]["responses"]["200"]), compat("DonationList"));
        let data = &paths["/api/donations/{id}/data/"]["get"];
        assert_eq!(schema(&data["responses"]["200"]), compat("DataResponse"));
        let params: Vec<(&str, &str)> = data["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["schema"]["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            params,
            [
                ("id", "integer"),
                ("data_type", "string"),
                ("start_date", "string"),
                ("end_date", "string"),
                ("limit", "integer"),
                ("offset", "integer")
            ]
        );
        assert_eq!(data["parameters"][0]["in"], "path");

        let scheme = &doc["components"]["securitySchemes"]["researcher_token"];
        assert_eq!(
            (&scheme["type"], &scheme["in"], &scheme["name"]),
            (&json!("apiKey"), &json!("header"), &json!("Authorization"))
        );
        assert!(scheme["description"].as_str().unwrap().starts_with("`Authorization: Token <researcher_token>`"));
        for path in ["/api/donations/", "/api/donations/{id}/", "/api/donations/{id}/data/"] {
            for op in paths[path].as_object().unwrap().values() {
                assert_eq!(op["security"][0], json!({"researcher_token": []}), "{path}");
            }
        }
        // The create answer links to the routes taking its id, by operationId.
        let ids: BTreeSet<&str> = paths
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let links = create["responses"]["201"]["links"].as_object().unwrap();
        assert_eq!(links.len(), 3);
        for link in links.values() {
            assert!(ids.contains(link["operationId"].as_str().unwrap()), "{link}");
            assert_eq!(link["parameters"], json!({"id": "$response.body#/id"}));
        }
        assert_eq!(doc["openapi"], "3.1.0");
        assert_refs_resolve(&doc, &doc);
    }

    /// The hand-written enums name exactly what Steward prints and accepts.
    #[test]
    fn compat_enums_match_the_catalogue_and_status_model() {
        use crate::donation::catalogue::{DATA_TYPES, Source};
        use crate::donation::model::{Stage, Status};
        let doc = steward_document();
        let schemas = &doc["components"]["schemas"];
        let donation = &schemas["compat.Donation"]["properties"];
        let names = |v: &Value| -> Vec<String> {
            v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
        };
        let sources: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names(&donation["source_type"]["enum"]), sources);
        assert_eq!(names(&schemas["compat.CreateDonationRequest"]["properties"]["source_type"]["enum"]), sources);
        assert_eq!(names(&donation["status"]["enum"]), Status::ALL.map(Status::as_str));
        assert_eq!(names(&donation["stage"]["enum"]), Stage::ALL.map(Stage::as_str));
        let types: Vec<&str> = DATA_TYPES.iter().map(|t| t.name).collect();
        assert_eq!(names(&schemas["compat.DataType"]["enum"]), types);
        // Every key is always printed (`null` rather than absent).
        let required: BTreeSet<String> = names(&schemas["compat.Donation"]["required"]).into_iter().collect();
        assert_eq!(required, donation.as_object().unwrap().keys().cloned().collect());
    }

    #[test]
    fn the_embedded_descriptor_documents_whoami() {
        let doc = steward_document();
        let get = &doc["paths"]["/v1/principal"]["get"];
        assert_eq!(get["x-grpc-method"], "/steward.authorization.v1.AuthorizationService/WhoAmI");
        assert!(get.get("parameters").is_none());
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/steward.authorization.v1.WhoAmIResponse"})
        );
        let response = &doc["components"]["schemas"]["steward.authorization.v1.WhoAmIResponse"];
        assert_eq!(response["properties"]["id"]["type"], "string");
        assert!(response["properties"]["picture_url"]["description"].as_str().unwrap().contains("Avatar"));
        assert_refs_resolve(&doc, &doc);
    }
}
