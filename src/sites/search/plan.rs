//! What a search needs besides its parameters: where its walk stands (the cursor) and, with `q`,
//! the words it stands for.

use sha2::{Digest, Sha256};

use super::cursor;
use super::index::run::{After, Query};
use super::params::{SearchParams, Sort, View};
use super::text::TextQuery;
use crate::AppState;
use crate::error::{ApiError, FieldError};

/// A search ready to run.
pub(super) struct Plan {
    /// Names the search's result set and order, so a cursor cannot be used with another search.
    pub(crate) search: String,
    pub(crate) sort: Sort,
    /// Where the previous page ended, and the walk's total (counted with its first page).
    pub(crate) after: Option<(After, i64)>,
    pub(crate) text: Option<TextQuery>,
}

impl Plan {
    pub(crate) fn new(state: &AppState, params: &SearchParams) -> Result<Self, ApiError> {
        let sort = params.effective_sort();
        let search = search_id(params);
        let position = match &params.cursor {
            None => None,
            Some(raw) => Some(cursor::decode(&state.cursor_key[..], raw, &search).ok_or_else(invalid_cursor)?),
        };
        let after = match &position {
            None => None,
            Some(position) => Some((after(sort, position)?, position.total)),
        };
        let text = match (&params.q, position.and_then(|p| p.text)) {
            // Every page of a walk uses the words its first page resolved `q` to.
            (Some(_), Some(text)) => Some(text),
            (Some(q), None) => Some(TextQuery::resolve(&state.search.read().dictionary.words, q)),
            (None, _) => None,
        };
        Ok(Self {
            search,
            sort,
            after,
            text,
        })
    }

    /// The index's query: a page and one more site (to tell whether there is a next page).
    pub(crate) fn query<'a>(&'a self, params: &'a SearchParams) -> Query<'a> {
        Query {
            params,
            text: self.text.as_ref(),
            after: self.after.as_ref().map(|(after, _)| after),
            fetch: params.limit as usize + 1,
        }
    }
}

fn invalid_cursor() -> ApiError {
    ApiError::bad_request(
        "query parameter `cursor` is not a cursor this API issued for this search; start again without it",
        vec![FieldError::new("cursor", "is not a cursor issued for this search")],
    )
}

/// Where the cursor's page ended, in the terms of the sort.
fn after(sort: Sort, position: &cursor::Position) -> Result<After, ApiError> {
    let id = position.id;
    match (sort, &position.key) {
        (Sort::Name, cursor::Key::Name(name)) => Ok(After::Name(name.clone(), id)),
        (Sort::UpdatedDesc, cursor::Key::UpdatedAt(at)) => Ok(After::Updated(*at, id)),
        (Sort::Distance, cursor::Key::Distance(bits)) => Ok(After::Distance(f64::from_bits(*bits), id)),
        (Sort::Relevance, cursor::Key::Score(bits)) => Ok(After::Score(f32::from_bits(*bits), id)),
        (Sort::ReportsDesc, cursor::Key::Reports(reports)) => Ok(After::Reports(*reports, id)),
        _ => Err(invalid_cursor()),
    }
}

/// Names a search by everything that decides its result set and order (not its page size, facets
/// or view), so a cursor cannot be reused with another search.
pub(super) fn search_id(params: &SearchParams) -> String {
    let normalized = SearchParams {
        limit: 0,
        cursor: None,
        facets: Vec::new(),
        view: View::Summary,
        sort: Some(params.effective_sort()),
        ..params.clone()
    };
    let digest = Sha256::digest(format!("{normalized:?}").as_bytes());
    crate::auth::token::hex(&digest[..12])
}
