//! The scenario language: what a YAML scenario file may say ([`ast`]) and how a file becomes
//! checked scenarios or an error that points at the line and column ([`parse`]).
//!
//! A file holds one scenario (`name` + `steps` at the top) or several (`scenarios: [...]`). Each
//! step is a one-key map such as `- emit: {client: alice, event: subscribe:status}`; the
//! format is documented with a runnable example in `harness/README.md`.

pub mod ast;
pub mod parse;

pub use ast::*;
pub use parse::{ParseError, check_node_name, load_file, parse_str};
