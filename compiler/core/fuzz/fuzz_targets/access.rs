//! Any UTF-8 text as an object access expression: parsing must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = oaas_compiler::syntax::parse_access_expr(text);
});
