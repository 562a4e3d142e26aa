//! The part of `google/protobuf/descriptor.proto` the OpenAPI generator reads,
//! declared with prost so that the `google.api.http` extension on
//! `MethodOptions` survives decoding (`prost_types::MethodOptions` drops
//! extensions), plus an index of messages, enums and comments by full name.

use std::collections::HashMap;

use prost::Message as _;
use prost_types::{EnumDescriptorProto, SourceCodeInfo};

/// `google.protobuf.FileDescriptorSet`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FileDescriptorSet {
    #[prost(message, repeated, tag = "1")]
    pub file: Vec<FileDescriptorProto>,
}

/// `google.protobuf.FileDescriptorProto` (the fields read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FileDescriptorProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub package: String,
    #[prost(message, repeated, tag = "4")]
    pub message_type: Vec<DescriptorProto>,
    #[prost(message, repeated, tag = "5")]
    pub enum_type: Vec<EnumDescriptorProto>,
    #[prost(message, repeated, tag = "6")]
    pub service: Vec<ServiceDescriptorProto>,
    #[prost(message, optional, tag = "9")]
    pub source_code_info: Option<SourceCodeInfo>,
}

/// `google.protobuf.DescriptorProto`: a message type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DescriptorProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub field: Vec<FieldDescriptorProto>,
    #[prost(message, repeated, tag = "3")]
    pub nested_type: Vec<DescriptorProto>,
    #[prost(message, repeated, tag = "4")]
    pub enum_type: Vec<EnumDescriptorProto>,
    #[prost(message, optional, tag = "7")]
    pub options: Option<MessageOptions>,
    #[prost(message, repeated, tag = "8")]
    pub oneof_decl: Vec<OneofDescriptorProto>,
}

/// `google.protobuf.MessageOptions` (the fields read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MessageOptions {
    #[prost(bool, tag = "3")]
    pub deprecated: bool,
    #[prost(bool, tag = "7")]
    pub map_entry: bool,
}

/// `google.protobuf.OneofDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OneofDescriptorProto {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `google.protobuf.FieldDescriptorProto` (the fields read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldDescriptorProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int32, tag = "3")]
    pub number: i32,
    /// `FieldDescriptorProto.Label`: 3 = repeated.
    #[prost(int32, tag = "4")]
    pub label: i32,
    /// `FieldDescriptorProto.Type`.
    #[prost(int32, tag = "5")]
    pub r#type: i32,
    /// Fully qualified with a leading dot, for message and enum fields.
    #[prost(string, tag = "6")]
    pub type_name: String,
    #[prost(message, optional, tag = "8")]
    pub options: Option<FieldOptions>,
    #[prost(int32, optional, tag = "9")]
    pub oneof_index: Option<i32>,
    #[prost(bool, tag = "17")]
    pub proto3_optional: bool,
}

impl FieldDescriptorProto {
    /// Whether the field is `repeated` (or a map, which is a repeated entry message).
    pub fn is_repeated(&self) -> bool {
        self.label == prost_types::field_descriptor_proto::Label::Repeated as i32
    }

    /// The field's type, `None` for a value this code does not know.
    pub fn kind(&self) -> Option<prost_types::field_descriptor_proto::Type> {
        prost_types::field_descriptor_proto::Type::try_from(self.r#type).ok()
    }

    /// Whether `deprecated = true` is set.
    pub fn deprecated(&self) -> bool {
        self.options.as_ref().is_some_and(|o| o.deprecated)
    }
}

/// `google.protobuf.FieldOptions` (the fields read here).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldOptions {
    #[prost(bool, tag = "3")]
    pub deprecated: bool,
}

/// `google.protobuf.ServiceDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceDescriptorProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub method: Vec<MethodDescriptorProto>,
}

/// `google.protobuf.MethodDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MethodDescriptorProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub input_type: String,
    #[prost(string, tag = "3")]
    pub output_type: String,
    #[prost(message, optional, tag = "4")]
    pub options: Option<MethodOptions>,
    #[prost(bool, tag = "5")]
    pub client_streaming: bool,
    #[prost(bool, tag = "6")]
    pub server_streaming: bool,
}

/// `google.protobuf.MethodOptions` with the `google.api.http` extension.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MethodOptions {
    #[prost(bool, tag = "33")]
    pub deprecated: bool,
    /// `extend google.protobuf.MethodOptions { HttpRule http = 72295728; }`
    /// (google/api/annotations.proto).
    #[prost(message, optional, tag = "72295728")]
    pub http: Option<HttpRule>,
}

/// `google.api.HttpRule` (google/api/http.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRule {
    #[prost(oneof = "Pattern", tags = "2, 3, 4, 5, 6, 8")]
    pub pattern: Option<Pattern>,
    #[prost(string, tag = "7")]
    pub body: String,
    #[prost(string, tag = "12")]
    pub response_body: String,
    #[prost(message, repeated, tag = "11")]
    pub additional_bindings: Vec<HttpRule>,
}

/// `google.api.HttpRule.pattern`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Pattern {
    #[prost(string, tag = "2")]
    Get(String),
    #[prost(string, tag = "3")]
    Put(String),
    #[prost(string, tag = "4")]
    Post(String),
    #[prost(string, tag = "5")]
    Delete(String),
    #[prost(string, tag = "6")]
    Patch(String),
    #[prost(message, tag = "8")]
    Custom(CustomHttpPattern),
}

/// `google.api.CustomHttpPattern`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CustomHttpPattern {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub path: String,
}

/// A message type with its comments.
#[derive(Debug)]
pub struct Message {
    /// Fully qualified, without the leading dot (`steward.x.v1.Y`).
    pub full_name: String,
    pub proto: DescriptorProto,
    pub comment: Option<String>,
    /// The comment of each field, in `proto.field` order.
    pub field_comments: Vec<Option<String>>,
}

impl Message {
    /// Whether `deprecated = true` is set on the message.
    pub fn deprecated(&self) -> bool {
        self.proto.options.as_ref().is_some_and(|o| o.deprecated)
    }

    /// Whether this is the synthetic entry message of a `map<K, V>` field.
    pub fn is_map_entry(&self) -> bool {
        self.proto.options.as_ref().is_some_and(|o| o.map_entry)
    }

    /// The field called `name`, with its comment.
    pub fn field(&self, name: &str) -> Option<(&FieldDescriptorProto, Option<&str>)> {
        let i = self.proto.field.iter().position(|f| f.name == name)?;
        Some((&self.proto.field[i], self.field_comments[i].as_deref()))
    }
}

/// An enum type with its comments.
#[derive(Debug)]
pub struct Enum {
    pub full_name: String,
    pub comment: Option<String>,
    /// (name, comment) of each value, in declaration order.
    pub values: Vec<(String, Option<String>)>,
}

/// A service with its comments.
#[derive(Debug)]
pub struct Service {
    pub full_name: String,
    pub name: String,
    pub comment: Option<String>,
    /// Each method with its comment.
    pub methods: Vec<(MethodDescriptorProto, Option<String>)>,
}

/// Every type and service of a descriptor set, by fully qualified name.
#[derive(Debug, Default)]
pub struct Index {
    /// Keyed by the full name with a leading dot, as `type_name` spells it.
    pub messages: HashMap<String, Message>,
    pub enums: HashMap<String, Enum>,
    /// In descriptor order.
    pub services: Vec<Service>,
}

impl Index {
    /// Decodes a serialized `FileDescriptorSet` and indexes it.
    pub fn decode(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        let set = FileDescriptorSet::decode(bytes)?;
        let mut index = Index::default();
        for file in set.file {
            index.add_file(file);
        }
        Ok(index)
    }

    /// The message called `type_name` (`.pkg.Name`).
    pub fn message(&self, type_name: &str) -> Option<&Message> {
        self.messages.get(type_name)
    }

    fn add_file(&mut self, file: FileDescriptorProto) {
        let comments = Comments::new(file.source_code_info.as_ref());
        let prefix = if file.package.is_empty() { String::new() } else { format!("{}.", file.package) };
        // Paths into SourceCodeInfo: field numbers of the descriptor messages
        // (FileDescriptorProto.message_type = 4, .enum_type = 5, .service = 6).
        for (i, message) in file.message_type.into_iter().enumerate() {
            self.add_message(&comments, &prefix, vec![4, index_i32(i)], message);
        }
        for (i, e) in file.enum_type.into_iter().enumerate() {
            self.add_enum(&comments, &prefix, vec![5, index_i32(i)], e);
        }
        for (i, service) in file.service.into_iter().enumerate() {
            let path = vec![6, index_i32(i)];
            let methods = service
                .method
                .into_iter()
                .enumerate()
                .map(|(m, method)| {
                    let comment = comments.get(&[path.as_slice(), &[2, index_i32(m)]].concat());
                    (method, comment)
                })
                .collect();
            self.services.push(Service {
                full_name: format!("{prefix}{}", service.name),
                comment: comments.get(&path),
                name: service.name,
                methods,
            });
        }
    }

    fn add_message(&mut self, comments: &Comments, prefix: &str, path: Vec<i32>, mut proto: DescriptorProto) {
        let full_name = format!("{prefix}{}", proto.name);
        let nested_prefix = format!("{full_name}.");
        // DescriptorProto.field = 2, .nested_type = 3, .enum_type = 4.
        for (i, nested) in std::mem::take(&mut proto.nested_type).into_iter().enumerate() {
            let nested_path = [path.as_slice(), &[3, index_i32(i)]].concat();
            self.add_message(comments, &nested_prefix, nested_path, nested);
        }
        for (i, e) in std::mem::take(&mut proto.enum_type).into_iter().enumerate() {
            let enum_path = [path.as_slice(), &[4, index_i32(i)]].concat();
            self.add_enum(comments, &nested_prefix, enum_path, e);
        }
        let field_comments =
            (0..proto.field.len()).map(|i| comments.get(&[path.as_slice(), &[2, index_i32(i)]].concat())).collect();
        self.messages.insert(
            format!(".{full_name}"),
            Message { full_name, comment: comments.get(&path), field_comments, proto },
        );
    }

    fn add_enum(&mut self, comments: &Comments, prefix: &str, path: Vec<i32>, e: EnumDescriptorProto) {
        let full_name = format!("{prefix}{}", e.name());
        // EnumDescriptorProto.value = 2.
        let values = e
            .value
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let comment = comments.get(&[path.as_slice(), &[2, index_i32(i)]].concat());
                (v.name().to_owned(), comment)
            })
            .collect();
        self.enums.insert(format!(".{full_name}"), Enum { full_name, comment: comments.get(&path), values });
    }
}

fn index_i32(i: usize) -> i32 {
    i32::try_from(i).expect("a descriptor holds fewer than 2^31 elements")
}

/// The comments of one file by SourceCodeInfo path: the leading comment, or
/// else the trailing one, cleaned of comment indentation and lint directives.
struct Comments(HashMap<Vec<i32>, String>);

impl Comments {
    fn new(info: Option<&SourceCodeInfo>) -> Self {
        let mut map = HashMap::new();
        for location in info.map(|i| i.location.as_slice()).unwrap_or_default() {
            let raw = location
                .leading_comments
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .or(location.trailing_comments.as_deref());
            if let Some(text) = raw.map(clean_comment).filter(|c| !c.is_empty()) {
                map.entry(location.path.clone()).or_insert(text);
            }
        }
        Comments(map)
    }

    fn get(&self, path: &[i32]) -> Option<String> {
        self.0.get(path).cloned()
    }
}

/// `// text` lines arrive as ` text\n`: drop the one space protoc keeps, and
/// lines meant for tools rather than readers (`buf:lint:ignore …`).
fn clean_comment(raw: &str) -> String {
    raw.lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .filter(|line| !line.trim_start().starts_with("buf:lint:"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_lose_their_indentation_and_lint_directives() {
        assert_eq!(
            clean_comment(" First line.\n   indented code\n buf:lint:ignore RPC_REQUEST_STANDARD_NAME\n Last.\n"),
            "First line.\n  indented code\nLast."
        );
    }

    #[test]
    fn the_embedded_descriptor_keeps_http_rules_and_comments() {
        let index = Index::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap();
        let service = index
            .services
            .iter()
            .find(|s| s.full_name == "steward.authorization.v1.AuthorizationService")
            .expect("AuthorizationService in the descriptor");
        assert!(service.comment.as_deref().unwrap().contains("who a caller is"));
        let (method, comment) = service.methods.iter().find(|(m, _)| m.name == "WhoAmI").unwrap();
        let rule = method.options.as_ref().and_then(|o| o.http.as_ref());
        assert_eq!(rule.and_then(|r| r.pattern.clone()), Some(Pattern::Get("/v1/principal".into())));
        assert!(comment.as_deref().unwrap().starts_with("WhoAmI returns"));
        let response = index.message(".steward.authorization.v1.WhoAmIResponse").unwrap();
        let (_, id_comment) = response.field("id").unwrap();
        assert!(id_comment.unwrap().contains("numeric id"));
    }
}
