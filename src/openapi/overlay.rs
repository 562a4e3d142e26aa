//! Hand-written parts of the document for what the descriptor set cannot say:
//! portability-server's routes (spec donation.md §2.8), whose RPCs answer
//! `google.api.HttpBody` with the compat JSON inside and the HTTP status in a
//! header. The file (`proto/steward/donation/v1/legacy_schemas.json`) names,
//! per gRPC method, the path as printed (with upstream's trailing slash),
//! patches for generated parameters, and operation keys (request body,
//! responses per status, security) that replace the generated ones; its
//! `components` are added to the document's.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The compat overlay of Steward's own document.
pub const LEGACY_SCHEMAS: &str = include_str!("../../proto/steward/donation/v1/legacy_schemas.json");

/// A parsed overlay; [`Overlay::default`] changes nothing.
#[derive(Debug, Default)]
pub struct Overlay {
    operations: BTreeMap<String, OperationPatch>,
    components: Map<String, Value>,
}

/// What the overlay says about one gRPC method's binding.
#[derive(Debug)]
pub struct OperationPatch {
    /// The path as printed: the binding's template, plus at most a trailing `/`.
    path: String,
    /// Generated parameter name → keys replacing the generated ones.
    parameters: Map<String, Value>,
    /// Keys replacing the generated operation's.
    operation: Map<String, Value>,
}

impl Overlay {
    /// Reads an overlay file: `{"operations": {"/pkg.Service/Method": {"path",
    /// "parameters"?, "operation"}}, "components"?: {…}}`.
    pub fn parse(text: &str) -> Result<Overlay, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let object = |v: &Value, what: &str| v.as_object().cloned().ok_or_else(|| format!("{what} is not an object"));
        let mut operations = BTreeMap::new();
        for (method, entry) in object(&root["operations"], "`operations`")? {
            let path = entry["path"].as_str().ok_or_else(|| format!("{method}: `path` is not a string"))?.to_owned();
            let parameters = match &entry["parameters"] {
                Value::Null => Map::new(),
                v => object(v, &format!("{method}: `parameters`"))?,
            };
            let operation = object(&entry["operation"], &format!("{method}: `operation`"))?;
            operations.insert(method, OperationPatch { path, parameters, operation });
        }
        let components = match &root["components"] {
            Value::Null => Map::new(),
            v => object(v, "`components`")?,
        };
        Ok(Overlay { operations, components })
    }

    /// The patch for gRPC method `grpc` (`/pkg.Service/Method`), if any.
    pub fn operation(&self, grpc: &str) -> Option<&OperationPatch> {
        self.operations.get(grpc)
    }

    /// The methods the overlay patches, so the caller can tell which it never met.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Adds the overlay's components (`schemas`, `responses`, …) to `components`;
    /// a name already there is an error, so nothing generated is overwritten.
    pub fn merge_components(&self, components: &mut Map<String, Value>) -> Result<(), String> {
        for (kind, entries) in &self.components {
            let entries = entries.as_object().ok_or_else(|| format!("`components.{kind}` is not an object"))?;
            let target = components.entry(kind.clone()).or_insert_with(|| Value::Object(Map::new()));
            let target = target.as_object_mut().ok_or_else(|| format!("`components.{kind}` is not an object"))?;
            for (name, value) in entries {
                if target.insert(name.clone(), value.clone()).is_some() {
                    return Err(format!("`components.{kind}.{name}` already exists"));
                }
            }
        }
        Ok(())
    }
}

impl OperationPatch {
    /// Patches `operation` (generated for `template_path`) and returns the path to print it under.
    pub fn apply(&self, template_path: &str, operation: &mut Map<String, Value>) -> Result<String, String> {
        if self.path != template_path && self.path.strip_suffix('/') != Some(template_path) {
            return Err(format!("the overlay prints `{}` for the route `{template_path}`", self.path));
        }
        for (name, patch) in &self.parameters {
            let patch = patch.as_object().ok_or_else(|| format!("parameter `{name}`: the patch is not an object"))?;
            let parameter = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .and_then(|params| params.iter_mut().find(|p| p["name"] == name.as_str()))
                .ok_or_else(|| format!("the overlay patches `{name}`, which is not a parameter of the route"))?;
            for (key, value) in patch {
                parameter[key.as_str()] = value.clone();
            }
        }
        for (key, value) in &self.operation {
            operation.insert(key.clone(), value.clone());
        }
        Ok(self.path.clone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn operation() -> Map<String, Value> {
        json!({
            "summary": "S.",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_patch_replaces_keys_and_patches_parameters() {
        let overlay = Overlay::parse(
            r#"{"operations": {"/p.S/Get": {"path": "/x/{id}/",
                "parameters": {"id": {"schema": {"type": "integer"}}},
                "operation": {"responses": {"204": {"description": "Gone"}}}}}}"#,
        )
        .unwrap();
        let mut op = operation();
        let path = overlay.operation("/p.S/Get").unwrap().apply("/x/{id}", &mut op).unwrap();
        assert_eq!(path, "/x/{id}/");
        assert_eq!(op["responses"], json!({"204": {"description": "Gone"}}));
        assert_eq!(op["summary"], "S.", "keys the patch does not name are kept");
        assert_eq!(
            op["parameters"][0],
            json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}})
        );
        assert!(overlay.operation("/p.S/Other").is_none());
        assert_eq!(overlay.methods().collect::<Vec<_>>(), ["/p.S/Get"]);
    }

    #[test]
    fn a_patch_must_fit_its_route() {
        let overlay = |entry: &str| Overlay::parse(&format!(r#"{{"operations": {{"/p.S/Get": {entry}}}}}"#)).unwrap();
        let elsewhere = overlay(r#"{"path": "/y/{id}/", "operation": {}}"#);
        let e = elsewhere.operation("/p.S/Get").unwrap().apply("/x/{id}", &mut operation()).unwrap_err();
        assert!(e.contains("/y/{id}/"), "{e}");
        let unknown = overlay(r#"{"path": "/x/{id}", "parameters": {"nope": {}}, "operation": {}}"#);
        let e = unknown.operation("/p.S/Get").unwrap().apply("/x/{id}", &mut operation()).unwrap_err();
        assert!(e.contains("`nope`"), "{e}");
        assert!(Overlay::parse(r#"{"operations": {"/p.S/Get": {"operation": {}}}}"#).is_err(), "no path");
        assert!(Overlay::parse("[]").is_err());
    }

    #[test]
    fn components_are_added_never_overwritten() {
        let overlay = Overlay::parse(
            r#"{"operations": {}, "components": {"schemas": {"c.A": {"type": "object"}},
                "securitySchemes": {"k": {"type": "apiKey"}}}}"#,
        )
        .unwrap();
        let mut components = json!({"schemas": {"p.B": {}}}).as_object().unwrap().clone();
        overlay.merge_components(&mut components).unwrap();
        assert_eq!(components["schemas"], json!({"p.B": {}, "c.A": {"type": "object"}}));
        assert_eq!(components["securitySchemes"]["k"]["type"], "apiKey");
        let e = overlay.merge_components(&mut components).unwrap_err();
        assert_eq!(e, "`components.schemas.c.A` already exists");
    }
}
