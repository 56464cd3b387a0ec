//! What the console (and any client) needs to browse a runtime beyond the object access
//! interface: a package's sources (`GET /api/packages/{name}`) and the list of invocations
//! (`GET /api/invocations`), newest first, filtered and paged.

use super::error::ApiError;
use super::types::{InvocationPage, InvocationSummary, PackageSources, SourceText};
use super::Shared;
use crate::error::Error;
use crate::ids::{InvocationId, ObjectId};
use crate::store::{InvocationQuery, InvocationStatus};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;

/// Most invocations one page of `GET /api/invocations` holds.
pub const MAX_PAGE: usize = 100;
/// Invocations a page holds when `limit` is not given.
pub const DEFAULT_PAGE: usize = 50;

/// `GET /api/packages/{name}`: the current version of a package, its classes and the text
/// of its sources.
pub async fn package(
    State(engine): State<Shared>,
    Path(name): Path<String>,
) -> Result<Json<PackageSources>, ApiError> {
    let artifact = engine
        .objects
        .registry
        .current(&name)
        .ok_or_else(|| Error::not_found(format!("there is no package `{name}`")))?;
    let classes = artifact
        .packages
        .iter()
        .filter(|p| p.name == name)
        .flat_map(|p| p.classes.iter().map(|c| c.qualified.clone()))
        .collect();
    let sources = artifact
        .sources
        .iter()
        .map(|s| SourceText {
            path: s.path.clone(),
            text: s.text.clone(),
        })
        .collect();
    Ok(Json(PackageSources {
        name,
        version: artifact.version.clone(),
        classes,
        sources,
    }))
}

/// The query of `GET /api/invocations`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<InvocationStatus>,
    object: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
}

impl ListQuery {
    /// The store's query, with the page size bounded.
    fn bounded(self) -> Result<InvocationQuery, Error> {
        let limit = crate::objects::page_size(self.limit.unwrap_or(DEFAULT_PAGE), MAX_PAGE)?;
        Ok(InvocationQuery {
            status: self.status,
            object: self.object.map(ObjectId::from),
            before: self.before.map(InvocationId::from),
            limit,
        })
    }
}

/// `GET /api/invocations`: recorded invocations, newest first, without their nodes.
pub async fn invocations(
    State(engine): State<Shared>,
    Query(q): Query<ListQuery>,
) -> Result<Json<InvocationPage>, ApiError> {
    let query = q.bounded()?;
    let store = engine.objects.store();
    let found = store.recent_invocations(&query).await?;
    let next_before = (found.len() == query.limit)
        .then(|| found.last().map(|i| i.id.clone()))
        .flatten();
    let items = found.into_iter().map(InvocationSummary::from).collect();
    Ok(Json(InvocationPage { items, next_before }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_page_size_is_bounded() {
        let q = |limit| ListQuery {
            limit,
            ..Default::default()
        };
        assert_eq!(q(None).bounded().unwrap().limit, DEFAULT_PAGE);
        assert_eq!(q(Some(100)).bounded().unwrap().limit, 100);
        assert!(q(Some(0)).bounded().is_err());
        assert!(q(Some(101)).bounded().is_err());
    }
}
