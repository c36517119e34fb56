//! The CPU cost of each stage of a baseline step (125 x 125), through the
//! CPU backend running one stage's operations (`TransportPlan::only`), so
//! the benchmarks survive kernel rewrites:
//! - transport: one exponential transport (both axis passes, 5 molecules);
//! - motility: one motility sub-step (crowding, then every mobile cell);
//! - reactions: one React call.
//!
//! `cargo bench --bench stages -- --warm-up-time 1 --measurement-time 2`
//! (`--threads` is not a criterion option: set RAYON_NUM_THREADS=1 for one
//! thread).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::cell::RefCell;
use std::path::Path;
use tmesim::backend::plan::{Phase, TransportPlan};
use tmesim::backend::Backend;
use tmesim::config::initial::initial_state;
use tmesim::cpu::backend::CpuBackend;
use tmesim::model::params::ModelParams;
use tmesim::model::state::State;
use tmesim::sim::scenario::{self, ArmSpec};

/// Full steps run before timing, so fields hold values of a running
/// simulation rather than the initial condition's zeros.
const SETTLE_STEPS: u64 = 8;

/// The baseline with Lie splitting: one molecule transport per step, and
/// a run as short as the benchmark needs.
fn baseline() -> ArmSpec {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/baseline.toml");
    let set = [
        "solver.splitting=\"lie\"".to_string(),
        "time.end_days=1".to_string(),
    ];
    scenario::load(&config, &set).unwrap_or_else(|e| panic!("{e}"))
}

fn params(arm: &ArmSpec, step: u64) -> ModelParams {
    arm.treatment.params_at(&arm.spec.params, step)
}

/// The state after a few full steps.
fn settled(arm: &ArmSpec) -> State {
    let mut backend = CpuBackend::new(arm.spec.grid, arm.plan.clone(), arm.spec.dt_min);
    backend
        .upload(&initial_state(&arm.spec).expect("initial state"))
        .expect("upload");
    let p: Vec<_> = (0..SETTLE_STEPS).map(|s| params(arm, s)).collect();
    backend.run_steps(&p).expect("steps");
    backend.download().expect("download")
}

/// `plan` with only its first motility sub-step: crowding and each cell.
fn one_motility_substep(plan: &TransportPlan) -> TransportPlan {
    let mut one = plan.only(Phase::Motility);
    one.ops.truncate(1 + plan.cells.len());
    one
}

/// Time one step of `plan` from `state`. Each iteration starts again from
/// `state` (uploaded untimed into the same backend, so buffers stay warm):
/// repeated alone, a stage would carry the fields far from a running
/// simulation (transport alone decays them into subnormal numbers, which
/// run many times slower).
fn bench_plan(c: &mut Criterion, name: &str, arm: &ArmSpec, plan: &TransportPlan, state: &State) {
    let p = [params(arm, state.step)];
    let backend = RefCell::new(CpuBackend::new(
        arm.spec.grid,
        plan.clone(),
        arm.spec.dt_min,
    ));
    c.bench_function(name, |b| {
        b.iter_batched(
            || backend.borrow_mut().upload(state).expect("upload"),
            |()| backend.borrow_mut().run_steps(&p).expect("step"),
            BatchSize::PerIteration,
        )
    });
}

fn stages(c: &mut Criterion) {
    let arm = baseline();
    let state = settled(&arm);
    let transport = arm.plan.only(Phase::Transport);
    assert_eq!(transport.ops.len(), transport.exponential.passes.len());
    bench_plan(
        c,
        "transport (one exponential transport)",
        &arm,
        &transport,
        &state,
    );
    let motility = one_motility_substep(&arm.plan);
    bench_plan(
        c,
        "motility (one sub-step: crowding + every cell)",
        &arm,
        &motility,
        &state,
    );
    let reactions = arm.plan.only(Phase::Reactions);
    bench_plan(c, "reactions (one React call)", &arm, &reactions, &state);
}

criterion_group!(benches, stages);
criterion_main!(benches);
