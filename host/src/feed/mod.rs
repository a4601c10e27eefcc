//! Market-data feeds: where decision points come from.

pub mod csv;
pub mod message;
pub mod replay;

use crate::market::{Bar, DataHash, DecisionPoint, FeedSchema};

/// Where a feed's data came from, for the session header.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SourceInfo {
    /// A file path or a subscription name.
    pub source: String,
    /// SHA-256 of the whole file, for file sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<DataHash>,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}:{line}: {message}")]
    BadRow { path: String, line: u64, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// What asking a feed for its next decision point gives.
pub type Next = Result<Option<DecisionPoint>, FeedError>;

/// A source of decision points: one per distinct bar timestamp, in time order.
#[async_trait::async_trait]
pub trait MarketFeed: Send {
    /// The feeds, fixed for the run, in `FeedId` order.
    fn schemas(&self) -> &[FeedSchema];

    /// Provenance of the data, for the session header.
    fn sources(&self) -> &[SourceInfo];

    /// How many bars the run will deliver, when known up front.
    fn expected_bars(&self) -> Option<u64>;

    /// The next decision point, or `None` when the feed is exhausted.
    async fn next(&mut self) -> Next;

    /// What `next` would return, when the feed has it at hand; `None` when
    /// it would wait. The run gathers points at hand into one chunk before
    /// waking the agents, and takes them without a future each (`next`
    /// boxes one per call, a million for a million points). A live feed
    /// keeps the default, so that no bar waits for company.
    fn try_next(&mut self) -> Option<Next> {
        None
    }

    /// Rows skipped as malformed so far.
    fn skipped_rows(&self) -> u64;

    /// Takes back the empty bar buffer of a decided point, to fill again.
    /// A buffer the agents' thread frees and the feed's thread allocates
    /// anew costs a free across threads and, often, fresh pages.
    fn recycle(&mut self, bars: Vec<Bar>) {
        drop(bars);
    }
}
