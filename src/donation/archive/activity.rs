//! One My Activity record read straight from its JSON text (spec §4.3.2):
//! only the fields rows use are kept, borrowed from the record's text where
//! no escape needs decoding, and every other value is skipped without being
//! built. A field of an unexpected JSON type counts as absent, and a key given
//! twice keeps its last value, as a parsed JSON object would.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A record: an object's fields, or `None` for some other JSON value
/// (skipped by the parser).
pub(super) struct Record<'a>(pub Option<Activity<'a>>);

/// The fields of a My Activity record that rows use.
#[derive(Default)]
pub(super) struct Activity<'a> {
    pub header: Option<Cow<'a, str>>,
    pub title: Option<Cow<'a, str>>,
    pub title_url: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub time: Time<'a>,
    /// The object elements of `subtitles`.
    pub subtitles: Vec<Named<'a>>,
    /// The string elements of `products`.
    pub products: Vec<Cow<'a, str>>,
    /// The `name`s of the object elements of `details`.
    pub details: Vec<Cow<'a, str>>,
    /// The string elements of `activityControls`.
    pub activity_controls: Vec<Cow<'a, str>>,
    /// The first object element of `locationInfos`.
    pub location: Option<Named<'a>>,
}

/// A record's `time`.
#[derive(Default)]
pub(super) enum Time<'a> {
    /// Absent or `null`.
    #[default]
    Missing,
    Text(Cow<'a, str>),
    /// A value of another type: an unparseable time.
    Other,
}

/// An object element of `subtitles`, `details` or `locationInfos`: its
/// string-valued `name`, `url` and `source`.
#[derive(Default)]
pub(super) struct Named<'a> {
    pub name: Option<Cow<'a, str>>,
    pub url: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RecordVisitor)
    }
}

/// The visitor methods of values a visitor does not want: each gives
/// `$other` (`null` gives `$null` when that is given). Shared with the
/// TikTok parser's visitors.
macro_rules! other_scalars {
    ($other:expr) => {
        other_scalars!($other, $other);
    };
    ($other:expr, $null:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($null)
        }
    };
}
pub(super) use other_scalars;

macro_rules! other_strings {
    ($other:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}
pub(super) use other_strings;

macro_rules! other_seqs {
    ($other:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

macro_rules! other_maps {
    ($other:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    other_scalars!(Record(None));
    other_strings!(Record(None));
    other_seqs!(Record(None));

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut a = Activity::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key.0.as_ref() {
                "header" => a.header = map.next_value::<Text>()?.0,
                "title" => a.title = map.next_value::<Text>()?.0,
                "titleUrl" => a.title_url = map.next_value::<Text>()?.0,
                "description" => a.description = map.next_value::<Text>()?.0,
                "time" => a.time = map.next_value()?,
                "subtitles" => a.subtitles = map.next_value::<List<Named>>()?.0,
                "products" => a.products = map.next_value::<List<Cow<str>>>()?.0,
                "details" => {
                    a.details = map.next_value::<List<Named>>()?.0.into_iter().filter_map(|d| d.name).collect();
                }
                "activityControls" => a.activity_controls = map.next_value::<List<Cow<str>>>()?.0,
                "locationInfos" => a.location = map.next_value::<List<Named>>()?.0.into_iter().next(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Record(Some(a)))
    }
}

/// An object key, borrowed unless it had escapes.
pub(super) struct Key<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string, or `None` for a value of another type.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            other_scalars!(Text(None));
            other_seqs!(Text(None));
            other_maps!(Text(None));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Time<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Time<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Time::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Time::Text(Cow::Owned(v.to_owned())))
            }
            other_scalars!(Time::Other, Time::Missing);
            other_seqs!(Time::Other);
            other_maps!(Time::Other);
        }
        d.deserialize_any(V)
    }
}

/// An object's `name`, `url` and `source`, or `None` for another value.
struct MaybeNamed<'a>(Option<Named<'a>>);

impl<'de> Deserialize<'de> for MaybeNamed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeNamed<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            other_scalars!(MaybeNamed(None));
            other_strings!(MaybeNamed(None));
            other_seqs!(MaybeNamed(None));
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut n = Named::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key.0.as_ref() {
                        "name" => n.name = map.next_value::<Text>()?.0,
                        "url" => n.url = map.next_value::<Text>()?.0,
                        "source" => n.source = map.next_value::<Text>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(MaybeNamed(Some(n)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The elements of an array that have the wanted shape: objects for
/// [`Named`], strings for [`Text`]; another value gives no elements.
struct List<T>(Vec<T>);

/// What an array element becomes, if it has the wanted shape.
trait Element<'de>: Sized {
    type Raw: Deserialize<'de>;
    fn keep(raw: Self::Raw) -> Option<Self>;
}

impl<'de> Element<'de> for Named<'de> {
    type Raw = MaybeNamed<'de>;
    fn keep(raw: MaybeNamed<'de>) -> Option<Self> {
        raw.0
    }
}

impl<'de> Element<'de> for Cow<'de, str> {
    type Raw = Text<'de>;
    fn keep(raw: Text<'de>) -> Option<Self> {
        raw.0
    }
}

impl<'de, T: Element<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Element<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            other_scalars!(List(Vec::new()));
            other_strings!(List(Vec::new()));
            other_maps!(List(Vec::new()));
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(raw) = seq.next_element::<T::Raw>()? {
                    items.extend(T::keep(raw));
                }
                Ok(List(items))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(json: &str) -> Activity<'_> {
        serde_json::from_str::<Record>(json).unwrap().0.expect("an object")
    }

    #[test]
    fn fields_of_the_wrong_type_count_as_absent_and_unknown_values_are_skipped() {
        let a = activity(
            r#"{"header": 7, "title": "Watched x", "extra": {"deep": [1, {"a": "b"}]},
                "subtitles": [{"name": "Chan", "url": "u", "more": []}, "loose", {"name": 3}],
                "products": ["YouTube", 1, null], "details": [{"name": "From Google Ads"}, {"x": 1}],
                "activityControls": "not a list", "locationInfos": [1, {"name": "Here", "source": "s"}],
                "time": "2024-01-01T00:00:00Z"}"#,
        );
        assert!(a.header.is_none());
        assert_eq!(a.title.as_deref(), Some("Watched x"));
        assert_eq!(a.subtitles.len(), 2);
        assert_eq!((a.subtitles[0].name.as_deref(), a.subtitles[0].url.as_deref()), (Some("Chan"), Some("u")));
        assert!(a.subtitles[1].name.is_none());
        assert_eq!(a.products, ["YouTube"]);
        assert_eq!(a.details, ["From Google Ads"]);
        assert!(a.activity_controls.is_empty());
        let location = a.location.unwrap();
        assert_eq!((location.name.as_deref(), location.source.as_deref()), (Some("Here"), Some("s")));
        assert!(matches!(a.time, Time::Text(ref t) if t == "2024-01-01T00:00:00Z"));
    }

    #[test]
    fn escapes_are_decoded_the_last_duplicate_wins_and_non_objects_are_told_apart() {
        let a = activity(r#"{"title": "first", "ti\u0074le": "a \"quoted\" \u00e9", "time": null}"#);
        assert_eq!(a.title.as_deref(), Some("a \"quoted\" é"));
        assert!(matches!(a.time, Time::Missing));
        assert!(matches!(activity(r#"{"time": 5}"#).time, Time::Other));
        for other in ["[1, 2]", "\"s\"", "3", "null", "true"] {
            assert!(serde_json::from_str::<Record>(other).unwrap().0.is_none(), "{other}");
        }
    }
}
