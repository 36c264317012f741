//! The loci wire protocol, free of any I/O: frame layout, the handshake and its admission
//! rules, and what each frame received after the handshake asks for.
//!
//! Every message between two instances travels on one bidirectional QUIC stream per
//! connection. Each direction is a sequence of frames: a 4-byte big-endian length, then a
//! postcard-encoded [`Header`], then the payload (itself postcard-encoded by the layer that
//! knows its type). Keeping payloads opaque here lets the connection driver route frames
//! without knowing the module's types, and lets the writer batch many frames into one write.

pub mod dispatch;
pub mod frame;
pub mod handshake;

pub use frame::{decode_frame, encode_frame, Failure, Header, ItemId, ReplyStatus, DEFAULT_MAX_FRAME};
pub use handshake::{Hello, Refusal, PROTOCOL_VERSION};
