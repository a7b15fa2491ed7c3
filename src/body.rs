//! Request bodies read field by field: each field of a body's declaration is a [`Field`], typed by
//! the [`Rule`] its value must meet, and reading never fails on a bad value, so one validation
//! pass reports every problem of a body at once. Sites (`sites::input`) and experience reports
//! (`reports::input`) are declared this way.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::patch::Patch;
use crate::sites::fields::Rule;

/// One field of a request body: tri-state like every PATCH field ([`Patch`]: left out, `null`,
/// or a value), its value checked by its type's [`Rule`] as it is read. Creating, `null` is the
/// same as left out.
pub(crate) type Field<T> = Patch<Checked<T>>;

/// A value as its [`Rule`] read it: valid, or what is wrong with it. Reading never fails, so every
/// problem of a body is found.
#[derive(Debug)]
pub(crate) struct Checked<T>(pub(crate) Result<T, String>);

impl<'de, T: Rule> Deserialize<'de> for Checked<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(T::read(&Value::deserialize(deserializer)?)))
    }
}

impl<T> Field<T> {
    /// A value was given (not left out, not `null`).
    pub(crate) fn is_given(&self) -> bool {
        matches!(self, Self::Value(_))
    }

    /// The value if given and valid; a problem under `path` if invalid.
    pub(crate) fn optional(self, path: String, errors: &mut Vec<FieldError>) -> Option<T> {
        match self {
            Self::Absent | Self::Null => None,
            Self::Value(Checked(Ok(value))) => Some(value),
            Self::Value(Checked(Err(message))) => {
                errors.push(FieldError::new(path, message));
                None
            }
        }
    }

    /// Like `optional`, but left out (or `null`) is a problem too.
    pub(crate) fn required(self, path: String, errors: &mut Vec<FieldError>) -> Option<T> {
        if !self.is_given() {
            errors.push(FieldError::new(path, "is required"));
            return None;
        }
        self.optional(path, errors)
    }
}

/// The field names of a struct as its `Deserialize` derive declares them (serde hands them to
/// `deserialize_struct`), in declaration order.
pub(crate) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error, Visitor, value::Error as NamesOnly};
    struct Names(Option<&'static [&'static str]>);
    impl<'de> serde::Deserializer<'de> for &mut Names {
        type Error = NamesOnly;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, NamesOnly> {
            Err(NamesOnly::custom("only a struct's field names are read"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, NamesOnly> {
            self.0 = Some(fields);
            Err(NamesOnly::custom("only a struct's field names are read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut names = Names(None);
    let _ = T::deserialize(&mut names);
    names.0.expect("a struct with named fields")
}

/// Reads `object` as a `T`, after recording a problem for each key that is not one of `known`
/// (under `prefix`).
pub(crate) fn read_body<T: DeserializeOwned>(
    object: &Map<String, Value>,
    prefix: &str,
    known: &[&str],
    errors: &mut Vec<FieldError>,
) -> T {
    for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
        errors.push(FieldError::new(
            format!("{prefix}{key}"),
            "is not a field of this resource",
        ));
    }
    // Every field reads any JSON value (keeping its problem), so this cannot fail.
    T::deserialize(Value::Object(object.clone())).expect("every field of a body reads any value")
}
