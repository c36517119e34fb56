//! The cost model of the operations and of a step (`tmesim bench`,
//! src/bench): each operation's phase and compulsory bytes.

use super::band_window;
use super::{Op, TransportPlan};
use crate::model::fields::{fields_of, FieldKind, FIELDS};
use crate::model::grid::Grid;

/// The part of a step an operation belongs to, for timing the parts apart
/// (a phase; `gpu::shaders::Stage` is a compute pipeline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The DC sum and the lymph-node priming ODE.
    Systemic,
    /// Molecule transport (exponential passes or explicit sub-steps).
    Transport,
    /// Crowding and cell motility sub-steps.
    Motility,
    /// The pointwise reactions.
    Reactions,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Systemic,
        Phase::Transport,
        Phase::Motility,
        Phase::Reactions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Systemic => "systemic",
            Phase::Transport => "transport",
            Phase::Motility => "motility",
            Phase::Reactions => "reactions",
        }
    }
}

/// Bytes of one stored value (every buffer holds f32).
const VALUE_BYTES: u64 = std::mem::size_of::<f32>() as u64;

impl Op {
    pub fn phase(&self) -> Phase {
        match self {
            Op::ReduceDc | Op::Systemic => Phase::Systemic,
            Op::ExponentialPass { .. }
            | Op::ExplicitSubstep { .. }
            | Op::Produce
            | Op::SourcePass { .. }
            | Op::SourceAdd => Phase::Transport,
            Op::Crowding { .. } | Op::Motility { .. } => Phase::Motility,
            Op::React => Phase::Reactions,
        }
    }

    /// Compulsory memory traffic of the op on `grid`, in bytes: every value
    /// its kernel (shaders/, src/cpu/) must read or write at least once,
    /// each counted once however often a cache serves it again.
    /// - ReduceDc reads `dc` and writes one partial sum per REDUCE_WG voxels;
    ///   Systemic reads the partials and reads and writes the priming state.
    /// - An exponential pass reads and writes each molecule field once and
    ///   reads each molecule's banded propagator (len x width); the last pass also
    ///   reads the Dirichlet offset of each molecule that has one.
    /// - An explicit sub-step reads one field and writes one.
    /// - Crowding reads every cell field and IFN-gamma and writes the free
    ///   space and the signal.
    /// - A motility sub-step reads the cell field, the free space and the
    ///   signal, and writes the cell field.
    /// - React reads every field and writes every field but the constant
    ///   maps, and the production of each source molecule.
    ///
    /// The CPU's copies back from its scratch buffer are not counted: they
    /// are the CPU backend's choice, not the op's.
    pub fn bytes(&self, plan: &TransportPlan, grid: &Grid) -> u64 {
        let n = grid.len() as u64;
        let field = n * VALUE_BYTES;
        let partials = n.div_ceil(crate::model::grid::REDUCE_WG as u64) * VALUE_BYTES;
        let count = |kind| fields_of(kind).count() as u64;
        match *self {
            Op::ReduceDc => field + partials,
            Op::Systemic => {
                partials + 2 * std::mem::size_of::<crate::model::state::Systemic>() as u64
            }
            Op::ExponentialPass { index } => {
                let len = plan.exponential.passes[index].len as u64;
                plan.pass_bands(index)
                    .map(|(width, offset)| {
                        let matrix = len * width as u64 * VALUE_BYTES;
                        2 * field + matrix + if offset { field } else { 0 }
                    })
                    .sum()
            }
            Op::ExplicitSubstep { .. } => 2 * field,
            Op::Produce => (FIELDS.len() + plan.sources.fields.len()) as u64 * field,
            Op::SourcePass { index } => {
                let pass = plan.sources.passes[index];
                let matrix = (pass.len * pass.len) as u64 * VALUE_BYTES;
                let phi = if pass.scale { field } else { 0 };
                plan.sources.fields.len() as u64 * (2 * field + matrix + phi)
            }
            Op::SourceAdd => plan.sources.fields.len() as u64 * 3 * field,
            Op::Crowding { .. } => (count(FieldKind::Cell) + 1 + 2) * field,
            Op::Motility { .. } => 4 * field,
            Op::React => {
                let emitted = plan.sources.fields.len() as u64;
                (FIELDS.len() as u64 * 2 - count(FieldKind::Map) + emitted) * field
            }
        }
    }

    /// The fields of the state the op changes (scratch buffers aside).
    pub fn fields_written(&self, plan: &TransportPlan) -> Vec<usize> {
        match *self {
            Op::ReduceDc
            | Op::Systemic
            | Op::Crowding { .. }
            | Op::Produce
            | Op::SourcePass { .. } => Vec::new(),
            Op::SourceAdd => plan.sources.fields.clone(),
            Op::ExponentialPass { .. } => plan.molecules.iter().map(|m| m.field).collect(),
            Op::ExplicitSubstep { molecule, .. } => vec![plan.molecules[molecule].field],
            Op::Motility { cell, .. } => vec![plan.cells[cell].field],
            Op::React => (0..FIELDS.len())
                .filter(|&f| FIELDS[f].kind != FieldKind::Map)
                .collect(),
        }
    }
}

impl TransportPlan {
    /// Per molecule slot of exponential pass `index`: the width of its
    /// propagator's band rows, and whether the pass adds its Dirichlet
    /// offset (the last pass, for a molecule that has one).
    pub fn pass_bands(&self, index: usize) -> impl Iterator<Item = (usize, bool)> + '_ {
        let pass = self.exponential.passes[index];
        self.molecules.iter().enumerate().map(move |(slot, m)| {
            let width = band_window(pass.len, pass.band[slot] as usize, 0).1;
            (width, pass.last && m.offset.is_some())
        })
    }

    /// The plan with only `stage`'s operations, in their order: a backend
    /// built with it times that stage alone.
    pub fn only(&self, stage: Phase) -> TransportPlan {
        let mut plan = self.clone();
        plan.ops.retain(|op| op.phase() == stage);
        plan
    }

    /// Compulsory memory traffic of one step on `grid`, in bytes (the sum
    /// of [`Op::bytes`] over the step's operations).
    pub fn bytes_per_step(&self, grid: &Grid) -> u64 {
        self.ops.iter().map(|op| op.bytes(self, grid)).sum()
    }

    /// The fields one step changes, in registry order: the molecules
    /// transported, the cells moved, the fields reacted.
    pub fn fields_advanced(&self) -> Vec<usize> {
        let mut fields: Vec<usize> = self
            .ops
            .iter()
            .flat_map(|op| op.fields_written(self))
            .collect();
        fields.sort_unstable();
        fields.dedup();
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse_config;
    use crate::config::resolve::{resolve, RunSpec};
    use std::path::Path;

    fn spec(toml: &str) -> RunSpec {
        let path = Path::new("test.toml");
        let config = parse_config(toml, path, &[]).expect("config");
        resolve(config.clone(), &config, path).expect("spec")
    }

    /// A 4 x 3 grid, Lie splitting, the exponential solver: bytes counted
    /// by hand from the kernels.
    #[test]
    fn bytes_per_step_match_a_hand_count() {
        let s = spec("[grid]\nnx = 4\nny = 3\nnz = 1\n[solver]\nsplitting = \"lie\"\n");
        let p = TransportPlan::new(&s);
        let field = 12 * 4; // 12 voxels of f32
        let molecules = p.molecules.len() as u64;
        assert_eq!(molecules, 5);
        let offsets = p.molecules.iter().filter(|m| m.offset.is_some()).count() as u64;
        // ReduceDc: dc + 1 partial; Systemic: 1 partial + priming in and out (16 B each).
        let systemic = (field + 4) + (4 + 32);
        // Pass along x (len 4) and along y (len 3, the last: + offsets),
        // each reading its banded propagators (len x (2h + 1) values).
        let bands: u64 = p
            .exponential
            .passes
            .iter()
            .map(|pass| {
                (0..5)
                    .map(|m| {
                        (pass.len * band_window(pass.len, pass.band[m] as usize, 0).1) as u64 * 4
                    })
                    .sum::<u64>()
            })
            .sum();
        let exact = 2 * molecules * 2 * field + bands + offsets * field;
        // Every molecule has its production in the transport: produce
        // reads 19 fields and writes 5 slots; four
        // source passes each read and write both slots and read each slot's
        // dense matrix (len^2), the second (the last forward) the mode
        // integrals too; the add reads a slot and reads and writes its field.
        let slots = 5;
        assert_eq!(p.sources.fields.len(), slots as usize);
        let produce = (19 + slots) * field;
        let source_passes: u64 = [4u64, 3, 4, 3]
            .iter()
            .enumerate()
            .map(|(k, len)| slots * (2 * field + len * len * 4 + if k == 1 { field } else { 0 }))
            .sum();
        let add = slots * 3 * field;
        let passes = exact + produce + source_passes + add;
        // Crowding each sub-step: 7 cells + ifng in, free + signal out; each
        // move of a cell field (every `every` sub-steps): 3 in, 1 out.
        let subs = p.motility_substeps as u64;
        let moves: u64 = p.cells.iter().map(|c| subs / c.every as u64).sum();
        assert!(
            moves < subs * p.cells.len() as u64,
            "slow fields move less often"
        );
        let motility = subs * (7 + 1 + 2) * field + moves * 4 * field;
        // React: 19 fields in, 16 out (the 3 maps are constant), and the
        // production of the 5 source slots.
        let react = (19 + 16 + 5) * field;
        assert_eq!(
            p.bytes_per_step(&s.grid),
            systemic + passes + motility + react
        );
        let only_transport = p.only(Phase::Transport);
        assert_eq!(only_transport.bytes_per_step(&s.grid), passes);
    }

    #[test]
    fn stages_partition_the_step() {
        let s = spec("[grid]\nnx = 6\nny = 5\nnz = 1\n");
        let p = TransportPlan::new(&s);
        let total: usize = Phase::ALL.iter().map(|&st| p.only(st).ops.len()).sum();
        assert_eq!(total, p.ops.len());
        let sum: u64 = Phase::ALL
            .iter()
            .map(|&st| p.only(st).bytes_per_step(&s.grid))
            .sum();
        assert_eq!(sum, p.bytes_per_step(&s.grid));
        // Molecules, mobile cells and reacted fields: all but the 3 maps.
        assert_eq!(p.fields_advanced().len(), 16);
        let transport = p.only(Phase::Transport);
        assert!(transport
            .ops
            .iter()
            .all(|op| op.phase() == Phase::Transport));
        assert_eq!(transport.fields_advanced().len(), 5);
    }
}
