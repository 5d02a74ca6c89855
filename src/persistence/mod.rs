//! Persistence: RDB files and the fork-free snapshot that writes them.
//!
//! - [`rdb`]: the RDB format — constants, the streaming decoder (every version Redis wrote,
//!   legacy encodings included), the encoder (version 10, what Redis 7.0 writes), LZF, CRC-64.
//! - [`snapshot`]: the point-in-time image of every database taken without fork(), feeding
//!   a file or a socket.
//! - [`save`]: SAVE/BGSAVE orchestration — temp file, fsync, rename, save points, status.
//! - [`aof`]: the append-only file (Redis 7 multi-part layout): writing, fsync policies, loading.
//! - [`load`]: loading a file at startup (or DEBUG RELOAD) while clients get `-LOADING`.

pub mod aof;
pub mod load;
pub mod rdb;
pub mod save;
pub mod snapshot;
