//! The text layer: [`normalize`] turns a message into the forms rules
//! match on (folded words, squeezed letters, caps counts), and [`content`]
//! matches every content rule's keywords, patterns and allow-lists against
//! them in one pass per form. Both are pure (no I/O).

mod charclass;
pub mod content;
mod evasion;
pub mod normalize;
