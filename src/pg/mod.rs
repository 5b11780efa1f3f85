//! PostgreSQL's value formats on the wire: type OIDs, text and binary
//! encodings, and parsing what clients send.

pub mod datetime;
pub mod datetime_format;
pub mod decode;
pub mod encode;
pub mod interval_in;
pub mod number_format;
pub mod numbers;
pub mod oid;
