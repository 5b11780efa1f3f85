//! SQL: parsing, planning, DataFusion integration and the catalog as
//! PostgreSQL clients see it.

pub mod age;
pub mod case_type;
pub mod catalog_queries;
pub mod checked_arith;
pub mod colnames;
pub mod date_comparison;
pub mod datetime_arith;
pub mod dml_params;
pub mod dmlplan;
pub mod expr;
pub mod expr_rules;
pub mod format;
pub mod functions;
pub mod int_casts;
pub mod interval_arith;
pub mod json_functions;
pub mod json_operators;
pub mod lsn_text;
pub mod make_interval;
pub mod names;
pub mod normalize;
pub mod numeric_division;
pub mod numeric_rounding;
pub mod numeric_text;
pub mod ordered_set;
pub mod parse;
pub mod provider;
pub mod query;
pub mod system;
pub mod text_input;
pub mod to_char;
pub mod to_number;
pub mod to_timestamp;
pub mod unknown_literals;
pub mod uuid_literals;
