//! `/admin/api/risk/reviews`: the queue of movements the risk engine held (risk), each with the rule and
//! what the engine saw; a reviewer releases one (it goes ahead) or returns it (the money goes back to
//! its owner), with a reason. Oldest first: the queue is worked in the order it filled.

use super::{Answer, ApiError, Operator, Params, St};
use axum::Json;
use axum::extract::Path;
use platform::risk::{Review, ReviewState};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReviewsParams {
    state: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn reviews(_: Operator, state: St, Params(q): Params<ReviewsParams>) -> Answer<Json<Vec<Review>>> {
    let wanted = match q.state.as_deref() {
        None => ReviewState::Waiting,
        Some(s) => ReviewState::parse(s).ok_or_else(|| ApiError::bad_request("state: waiting, released, returned or expired"))?,
    };
    let limit = q.limit.unwrap_or(platform::risk::reviews::REVIEWS_PAGE_MAX);
    Ok(Json(state.platform.reviews.list(wanted, limit).await?))
}

pub(super) async fn review(_: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Review>> {
    Ok(Json(state.platform.reviews.get(platform::ids::parse("id", &id)?).await?))
}

pub(super) async fn release(op: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Review>> {
    Ok(Json(state.platform.reviews.release(op.acting(), platform::ids::parse("id", &id)?).await?))
}

pub(super) async fn give_back(op: Operator, state: St, Path(id): Path<String>) -> Answer<Json<Review>> {
    Ok(Json(state.platform.reviews.give_back(op.acting(), platform::ids::parse("id", &id)?).await?))
}
