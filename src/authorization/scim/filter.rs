//! The SCIM filter language (RFC 7644 §3.4.2.2): `attrPath op value`,
//! `attrPath pr`, `and`, `or`, `not ( … )`, parentheses and value paths
//! (`members[value eq "…"]`). Parsing only; `query` turns a filter into SQL and
//! [`Filter::matches`] evaluates one over a multi-valued attribute's items
//! (PATCH paths).

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Op> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    /// Whether the operator orders values (refused on booleans).
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }
}

/// A literal compared against.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Num(f64),
    Null,
}

/// A parsed filter; attribute paths are as written (matched case-insensitively later).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare { attr: String, op: Op, value: Value },
    Present(String),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// Why a filter was refused (answered as 400 `invalidFilter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Filters longer than this are refused before parsing.
const MAX_LEN: usize = 4096;
/// Nesting deeper than this is refused (bounded recursion).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its closing quote, then let serde decode escapes.
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (i, c) in chars.by_ref() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| FilterError("unterminated string in filter".into()))?;
                let text: String = serde_json::from_str(&input[start..=end])
                    .map_err(|_| FilterError("invalid string escape in filter".into()))?;
                tokens.push(Token::Str(text));
            }
            _ => {
                let mut end = input.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(input[start..end].to_owned()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// ASCII case-insensitive equality (SCIM names, operators and keywords).
pub fn caseless_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().map(|c| c.to_ascii_lowercase()).eq(b.bytes().map(|c| c.to_ascii_lowercase()))
}

fn is_word(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if caseless_eq(w, keyword))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), FilterError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            _ => Err(FilterError(format!("expected {what} in filter"))),
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while is_word(self.peek(), "or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.factor()?;
        while is_word(self.peek(), "and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn nested(&mut self, close: Token, what: &str) -> Result<Filter, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError("filter nested too deeply".into()));
        }
        let inner = self.or()?;
        self.expect(close, what)?;
        self.depth -= 1;
        Ok(inner)
    }

    fn factor(&mut self) -> Result<Filter, FilterError> {
        match self.next() {
            Some(Token::Open) => self.nested(Token::Close, "')'"),
            Some(Token::Word(w)) if caseless_eq(&w, "not") && self.peek() == Some(&Token::Open) => {
                self.pos += 1;
                Ok(Filter::Not(Box::new(self.nested(Token::Close, "')'")?)))
            }
            Some(Token::Word(attr)) => {
                if !is_attr_path(&attr) {
                    return Err(FilterError(format!("'{attr}' is not an attribute path")));
                }
                if self.peek() == Some(&Token::OpenBracket) {
                    self.pos += 1;
                    let inner = self.nested(Token::CloseBracket, "']'")?;
                    return Ok(inner.prefixed(&attr));
                }
                let op = match self.next() {
                    Some(Token::Word(op)) if caseless_eq(&op, "pr") => return Ok(Filter::Present(attr)),
                    Some(Token::Word(op)) => {
                        Op::parse(&op).ok_or_else(|| FilterError(format!("unknown operator '{op}'")))?
                    }
                    _ => return Err(FilterError(format!("expected an operator after '{attr}'"))),
                };
                let value = match self.next() {
                    Some(Token::Str(s)) => Value::Str(s),
                    Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        "null" => Value::Null,
                        _ => Value::Num(
                            w.parse::<f64>()
                                .ok()
                                .filter(|n| n.is_finite())
                                .ok_or_else(|| FilterError(format!("'{w}' is not a filter value")))?,
                        ),
                    },
                    _ => return Err(FilterError(format!("expected a value after '{attr}'"))),
                };
                Ok(Filter::Compare { attr, op, value })
            }
            _ => Err(FilterError("expected an attribute, 'not' or '(' in filter".into())),
        }
    }
}

fn is_attr_path(word: &str) -> bool {
    word.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '$'))
}

impl Filter {
    /// Parses a whole filter expression.
    pub fn parse(input: &str) -> Result<Filter, FilterError> {
        if input.len() > MAX_LEN {
            return Err(FilterError(format!("filter longer than {MAX_LEN} characters")));
        }
        let mut parser = Parser { tokens: tokenize(input)?, pos: 0, depth: 0 };
        let filter = parser.or()?;
        if parser.pos != parser.tokens.len() {
            return Err(FilterError("unexpected text after the filter".into()));
        }
        Ok(filter)
    }

    /// `members[value eq "x"]` means `members.value eq "x"`.
    fn prefixed(self, parent: &str) -> Filter {
        let join = |attr: String| format!("{parent}.{attr}");
        match self {
            Filter::Compare { attr, op, value } => Filter::Compare { attr: join(attr), op, value },
            Filter::Present(attr) => Filter::Present(join(attr)),
            Filter::And(a, b) => Filter::And(Box::new(a.prefixed(parent)), Box::new(b.prefixed(parent))),
            Filter::Or(a, b) => Filter::Or(Box::new(a.prefixed(parent)), Box::new(b.prefixed(parent))),
            Filter::Not(a) => Filter::Not(Box::new(a.prefixed(parent))),
        }
    }

    /// Evaluates the filter over one item of a multi-valued attribute whose
    /// sub-attributes are strings; `get` answers a sub-attribute by its
    /// lower-cased name and `None` for unknown ones (an error).
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<Option<String>>) -> Result<bool, FilterError> {
        Ok(match self {
            Filter::Compare { attr, op, value } => {
                let name = attr.to_ascii_lowercase();
                let actual = get(&name).ok_or_else(|| FilterError(format!("unknown attribute '{attr}'")))?;
                match (value, actual) {
                    (Value::Null, actual) => match op {
                        Op::Eq => actual.is_none(),
                        Op::Ne => actual.is_some(),
                        _ => return Err(FilterError(format!("'{attr}' cannot be ordered against null"))),
                    },
                    (Value::Str(want), Some(actual)) => compare_text(&actual, *op, want),
                    (Value::Str(_), None) => *op == Op::Ne,
                    _ => return Err(FilterError(format!("'{attr}' compares only with strings"))),
                }
            }
            Filter::Present(attr) => {
                let name = attr.to_ascii_lowercase();
                get(&name)
                    .ok_or_else(|| FilterError(format!("unknown attribute '{attr}'")))?
                    .is_some_and(|v| !v.is_empty())
            }
            Filter::And(a, b) => a.matches(get)? && b.matches(get)?,
            Filter::Or(a, b) => a.matches(get)? || b.matches(get)?,
            Filter::Not(a) => !a.matches(get)?,
        })
    }
}

/// Case-exact string comparison (ids and names of PATCH value paths).
fn compare_text(actual: &str, op: Op, want: &str) -> bool {
    match op {
        Op::Eq => actual == want,
        Op::Ne => actual != want,
        Op::Co => actual.contains(want),
        Op::Sw => actual.starts_with(want),
        Op::Ew => actual.ends_with(want),
        Op::Gt => actual > want,
        Op::Ge => actual >= want,
        Op::Lt => actual < want,
        Op::Le => actual <= want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(attr: &str, op: Op, value: Value) -> Filter {
        Filter::Compare { attr: attr.into(), op, value }
    }

    #[test]
    fn parses_precedence_not_and_value_paths() {
        let f = Filter::parse(r#"userName Eq "a\"b" or active eq true and not (title pr)"#).unwrap();
        assert_eq!(
            f,
            Filter::Or(
                Box::new(cmp("userName", Op::Eq, Value::Str("a\"b".into()))),
                Box::new(Filter::And(
                    Box::new(cmp("active", Op::Eq, Value::Bool(true))),
                    Box::new(Filter::Not(Box::new(Filter::Present("title".into())))),
                )),
            )
        );
        let f = Filter::parse(r#"(members[value eq "x" and display co "y"]) AND tosId ge 3"#).unwrap();
        assert_eq!(
            f,
            Filter::And(
                Box::new(Filter::And(
                    Box::new(cmp("members.value", Op::Eq, Value::Str("x".into()))),
                    Box::new(cmp("members.display", Op::Co, Value::Str("y".into()))),
                )),
                Box::new(cmp("tosId", Op::Ge, Value::Num(3.0))),
            )
        );
        assert_eq!(Filter::parse("externalId eq null").unwrap(), cmp("externalId", Op::Eq, Value::Null));
    }

    #[test]
    fn refuses_bad_syntax() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "userName eq \"a",
            "(userName eq \"a\"",
            "userName eq \"a\")",
            "userName eq bare",
            "not userName eq \"a\"",
            "userName eq \"a\" and",
            "\"a\" eq userName",
            "members[value eq \"x\"",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&deep).is_err());
    }

    #[test]
    fn matches_items() {
        let item = |name: &str| match name {
            "servicename" => Some(Some("pcg".to_owned())),
            "tablename" => Some(Some("fish_v1".to_owned())),
            _ => None,
        };
        let f = Filter::parse(r#"serviceName eq "pcg" and tableName sw "fish""#).unwrap();
        assert!(f.matches(&item).unwrap());
        let f = Filter::parse(r#"not (serviceName eq "pcg") or tableName ew "v2""#).unwrap();
        assert!(!f.matches(&item).unwrap());
        assert!(Filter::parse(r#"other eq "x""#).unwrap().matches(&item).is_err());
    }
}
