//! Fuzz target for the RDB decoder: arbitrary bytes, decoded item by item until the end or
//! the first error, must never panic, hang or allocate what the input does not justify.
//!
//! The first input byte chooses the options (deep sanitization on or off, and small or
//! default encoding limits, so conversions between encodings on load are exercised with
//! small inputs); the rest is the file. Most random inputs die at the signature, so the
//! corpus should be seeded with real files: see fuzz/README.md.

#![no_main]

use ferrodis::config::Config;
use ferrodis::persistence::rdb::decode::Decoder;
use ferrodis::persistence::rdb::DecodeOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, file)) = data.split_first() else {
        return;
    };
    let mut cfg = Config::default();
    if ctl & 2 != 0 {
        cfg.hash_max_listpack_entries = 2;
        cfg.hash_max_listpack_value = 4;
        cfg.zset_max_listpack_entries = 2;
        cfg.zset_max_listpack_value = 4;
        cfg.set_max_intset_entries = 2;
        cfg.list_max_listpack_size = 2;
    }
    let mut opts = DecodeOptions::from_config(&cfg);
    opts.deep_sanitize = ctl & 1 != 0;

    let Ok(mut decoder) = Decoder::new(file, opts) else {
        return;
    };
    while let Ok(Some(_item)) = decoder.next_item() {}
});
