//! Tri-state fields for PATCH bodies: absent (leave as is), `null` (clear), or a value (set).

use serde::{Deserialize, Deserializer};

/// One field of a PATCH body. Use with `#[serde(default)]` so an absent field is [`Patch::Absent`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Patch<T> {
    /// Not in the body: leave the stored value alone.
    #[default]
    Absent,
    /// `null`: clear the stored value.
    Null,
    /// A value: store it.
    Value(T),
}

impl<T> Patch<T> {
    /// Whether the field was sent at all.
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(|value| value.map_or(Self::Null, Self::Value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default)]
        name: Patch<String>,
    }

    #[test]
    fn three_states() {
        let absent: Body = serde_json::from_str("{}").unwrap();
        let null: Body = serde_json::from_str(r#"{"name":null}"#).unwrap();
        let value: Body = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.name, Patch::Absent);
        assert_eq!(null.name, Patch::Null);
        assert_eq!(value.name, Patch::Value("x".to_owned()));
    }
}
