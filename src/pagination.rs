//! Paging by id: `limit` (1 to 100, default 20) and an opaque `cursor` naming the last item seen.

use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// The default page size.
pub(crate) const DEFAULT_LIMIT: u32 = 20;
/// The largest page size.
pub(crate) const MAX_LIMIT: u32 = 100;

/// Checks `limit` and decodes `cursor`; 400 naming the parameter otherwise.
pub(crate) fn page(limit: Option<u32>, cursor: Option<&str>) -> Result<(u32, Option<Uuid>), ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(limit @ 1..=MAX_LIMIT) => limit,
        Some(_) => {
            return Err(ApiError::bad_request(
                format!("query parameter `limit` must be between 1 and {MAX_LIMIT}"),
                vec![FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}"))],
            ));
        }
    };
    let after = match cursor {
        None => None,
        Some(cursor) => Some(Uuid::try_parse(cursor).map_err(|_| {
            ApiError::bad_request(
                "query parameter `cursor` is not a cursor this API issued",
                vec![FieldError::new("cursor", "is not a cursor this API issued")],
            )
        })?),
    };
    Ok((limit, after))
}

/// Trims a page fetched with `limit + 1` rows to `limit`, returning the cursor of the next page
/// when there is one.
pub(crate) fn next_cursor<T>(items: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Option<String> {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|item| id(item).to_string())
    } else {
        None
    }
}
