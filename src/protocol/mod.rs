//! RESP: the request parser (multibulk and inline, resumable) and the reply encoder (RESP2/RESP3).

pub mod parser;
pub mod reply;

pub use parser::{Batch, ParserLimits, ProtocolError, RequestParser};
pub use reply::Reply;
