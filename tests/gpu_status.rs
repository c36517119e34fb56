//! Says in the test summary whether the GPU halves of the tests ran.
//!
//! Every behavioural test runs on the CPU and, where an adapter exists, on
//! the GPU (tests/common). Without an adapter the GPU halves are skipped
//! quietly; this target (harness = false, so its lines are never captured)
//! prints a libtest-style line that says so, in every `cargo test` run.
//! With `CI` or `TMESIM_REQUIRE_GPU` set, a missing adapter fails.

fn main() {
    let required = ["CI", "TMESIM_REQUIRE_GPU"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"));
    let instance = tmesim::gpu::context::instance();
    let adapter = tmesim::gpu::context::select_adapter(&instance);
    println!("\nrunning 1 test");
    match adapter {
        Ok(a) => {
            let info = a.get_info();
            println!(
                "test gpu_adapter_present_so_gpu_tests_ran ... ok ({})",
                tmesim::gpu::context::describe(&info)
            );
            println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored\n");
        }
        Err(e) if required => {
            println!("test gpu_adapter_present_so_gpu_tests_ran ... FAILED");
            println!(
                "\nGPU required (CI / TMESIM_REQUIRE_GPU) but unavailable: {e}. \
                 apt-get install mesa-vulkan-drivers for the software adapter."
            );
            println!("\ntest result: FAILED. 0 passed; 1 failed; 0 ignored\n");
            std::process::exit(101);
        }
        Err(e) => {
            println!(
                "test gpu_adapter_present_so_gpu_tests_ran ... ignored, GPU TESTS SKIPPED: {e}; \
                 only the CPU halves of the backend tests ran \
                 (apt-get install mesa-vulkan-drivers for a software adapter)"
            );
            println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored\n");
        }
    }
}
