//! Trades on news sentiment, a dynamic field of the market data.
//!
//! Reads `sentiment_score` and the flattened `latest_news_relevance` and
//! `latest_news_headline` of each bar. When the score rises above
//! `buy_above` (0.6) on relevant news (relevance at least `min_relevance`,
//! 0.5) while flat, it bids `size` (10) with a limit `limit_bps` (20) basis
//! points above the close. When the score falls below `sell_below` (0.4)
//! while long, it sells everything at market. Each decision carries the
//! headline as its rationale.

use trading_sdk::prelude::*;

struct SentimentTrader {
    buy_above: f64,
    sell_below: f64,
    min_relevance: f64,
    size: f64,
    limit_bps: f64,
}

impl Agent for SentimentTrader {
    fn init(ctx: &Context, params: &Params) -> Result<Self, String> {
        let missing: Vec<&str> =
            ctx.feeds().iter().filter(|f| !f.fields().iter().any(|n| n == "sentiment_score")).map(|f| f.symbol()).collect();
        if !missing.is_empty() {
            return Err(format!("no sentiment_score field in the data of {}", missing.join(", ")));
        }
        Ok(SentimentTrader {
            buy_above: params.parse_or("buy_above", 0.6)?,
            sell_below: params.parse_or("sell_below", 0.4)?,
            min_relevance: params.parse_or("min_relevance", 0.5)?,
            size: params.parse_or("size", 10.0)?,
            limit_bps: params.parse_or("limit_bps", 20.0)?,
        })
    }

    fn on_bar(&mut self, ctx: &Context) {
        for feed in ctx.feeds() {
            if !feed.is_updated() {
                continue;
            }
            let Some(score) = feed.field("sentiment_score", 0) else { continue };
            let held = feed.position();
            if score > self.buy_above && held == 0.0 {
                let relevance = feed.field("latest_news_relevance", 0).unwrap_or(0.0);
                let Some(close) = feed.close(0) else { continue };
                if relevance < self.min_relevance {
                    continue;
                }
                let headline = feed.text("latest_news_headline", 0).unwrap_or_default();
                ctx.explain(format!(
                    "{} sentiment {} (relevance {}): {headline}",
                    feed.symbol(),
                    fixed(score, 2),
                    fixed(relevance, 2)
                ));
                let limit = (close * (1.0 + self.limit_bps / 10_000.0) * 100.0).round() / 100.0;
                let _ = feed.buy(self.size).limit(limit).client_order_id(format!("sent-{}", feed.symbol())).submit();
            } else if score < self.sell_below && held > 0.0 {
                ctx.explain(format!("{} sentiment fell to {}", feed.symbol(), fixed(score, 2)));
                let _ = feed.sell(held).submit();
            }
        }
    }
}

export_agent!(SentimentTrader);
