pub mod decimal;
pub mod feed;
pub mod market;
pub mod time;
