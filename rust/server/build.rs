// The server's config line and the micro documents both report these.
include!("../common/build/build_info.rs");
