//! `code_set!`: declares a closed vocabulary as an enum with snake_case codes and display names,
//! stored in PostgreSQL as checked `text`.

/// What every closed set offers.
pub trait CodeSet: Sized + Copy + 'static {
    /// Every value, in display order.
    const ALL: &'static [Self];
    /// The code used on the wire and in the database.
    fn code(self) -> &'static str;
    /// What to show a person.
    fn display(self) -> &'static str;

    /// The value with this exact code.
    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.code() == code)
    }

    /// The codes, comma-separated, for error messages.
    fn allowed() -> String {
        Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", ")
    }
}

/// Stores a code set as PostgreSQL `text` (checked by the schema), and arrays of it as `text[]`.
macro_rules! code_set_sql {
    ($name:ident) => {
        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let code = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                <Self as $crate::vocabulary::CodeSet>::from_code(code)
                    .ok_or_else(|| format!("`{code}` is not a {} code", stringify!($name)).into())
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&$crate::vocabulary::CodeSet::code(*self), buf)
            }
        }
    };
}

macro_rules! code_set {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $display:literal;)+ }) => {
        $(#[$meta])*
        // Codes are the snake_case variant names (a test checks `code()` agrees); a container-level
        // `rename_all` is used because derives do not see literals passed through `macro_rules`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(
                #[doc = $display]
                $variant,
            )+
        }

        impl $crate::vocabulary::CodeSet for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn code(self) -> &'static str {
                match self { $(Self::$variant => $code),+ }
            }
            fn display(self) -> &'static str {
                match self { $(Self::$variant => $display),+ }
            }
        }

        code_set_sql!($name);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::vocabulary::CodeSet::code(*self))
            }
        }
    };
}
