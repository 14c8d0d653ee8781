//! The instruction-count mode shared by the benchmarks (`scripts/bench-icount.sh`): callgrind counts
//! instructions, not seconds, so a case run a fixed number of times gives the same count whatever else
//! the machine is doing.

/// One measured case: its name and the work of one iteration.
pub(crate) type Case = (&'static str, Box<dyn Fn()>);

/// With `BENCH_ICOUNT=list`, prints the case names; with `BENCH_ICOUNT=name:iterations`, runs that case
/// that many times. Returns whether it did either (the benchmark then exits without criterion).
pub(crate) fn run(cases: &[Case]) -> bool {
    let Ok(spec) = std::env::var("BENCH_ICOUNT") else {
        return false;
    };
    if spec == "list" {
        for (name, _) in cases {
            println!("{name}");
        }
        return true;
    }
    let (name, n) = spec
        .split_once(':')
        .expect("BENCH_ICOUNT is `list` or `name:iterations`");
    let n: u64 = n.parse().expect("BENCH_ICOUNT iterations is a number");
    let (_, f) = cases
        .iter()
        .find(|(case, _)| *case == name)
        .unwrap_or_else(|| panic!("no benchmark case named {name}"));
    for _ in 0..n {
        f();
    }
    true
}
