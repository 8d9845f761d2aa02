#![no_main]

libfuzzer_sys::fuzz_target!(
    // An internal error's detail goes to the log: show it with the crash.
    init: {
        let _ = tracing_subscriber::fmt().with_max_level(tracing_subscriber::filter::LevelFilter::ERROR).with_writer(std::io::stderr).try_init();
    },
    |data: &[u8]| server::fuzzing::merchant_body(data)
);
