//! Replays fuzz/regressions/<target>/* (inputs the fuzzers found, and hostile seeds) through
//! the fuzz targets' entry points: each must return — an error is fine — without panicking.
//! docs/fuzzing.md says how to run the fuzzers and add inputs here.

use std::path::PathBuf;

#[test]
fn fuzz_regression_inputs_do_not_panic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for (target, run) in camscope::engine::fuzz::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no regression inputs", dir.display());
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let ok = std::panic::catch_unwind(|| run(&data));
            assert!(ok.is_ok(), "{target} panicked on {}", f.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 4);
}
