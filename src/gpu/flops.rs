//! Floating-point operations per thread of a WGSL stage, counted from its
//! naga IR along the entry point's calls (`tmesim bench` compares a step's
//! count with the machine's peak). Counted: every f32 add, subtract,
//! multiply and divide (per vector component), and each exponential,
//! logarithm, power and square root as one; comparisons, `max`, `min` and
//! `select` are not arithmetic and count zero. A branch counts its larger
//! arm (an upper bound where the arms differ) and a loop body counts
//! `loop_trips` times. The CPU twins compute the same pieces, so the count
//! stands for both backends.

use super::shaders::{source, Stage};
use std::collections::HashMap;
use wgpu::naga;

/// The operations one thread of `stage` performs, its loops counted
/// `loop_trips` times each.
pub fn per_thread(stage: Stage, loop_trips: u64) -> Result<u64, String> {
    let src = source(stage);
    let module = naga::front::wgsl::parse_str(&src).map_err(|e| e.emit_to_string(&src))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::empty(),
    )
    .validate(&module)
    .map_err(|e| format!("{}: {e:?}", stage.name()))?;
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == stage.entry())
        .ok_or_else(|| format!("{} has no entry point {}", stage.name(), stage.entry()))?;
    let mut counter = Counter {
        module: &module,
        info: &info,
        loop_trips,
        functions: HashMap::new(),
    };
    let entry = &module.entry_points[index].function;
    Ok(counter.block(entry, info.get_entry_point(index), &entry.body))
}

struct Counter<'a> {
    module: &'a naga::Module,
    info: &'a naga::valid::ModuleInfo,
    loop_trips: u64,
    /// Each function's count, computed once.
    functions: HashMap<naga::Handle<naga::Function>, u64>,
}

impl Counter<'_> {
    fn block(
        &mut self,
        f: &naga::Function,
        fi: &naga::valid::FunctionInfo,
        block: &naga::Block,
    ) -> u64 {
        block.iter().map(|s| self.statement(f, fi, s)).sum()
    }

    fn statement(
        &mut self,
        f: &naga::Function,
        fi: &naga::valid::FunctionInfo,
        s: &naga::Statement,
    ) -> u64 {
        use naga::Statement as S;
        match s {
            S::Emit(range) => range.clone().map(|h| self.expression(f, fi, h)).sum(),
            S::Block(b) => self.block(f, fi, b),
            S::If { accept, reject, .. } => {
                let a = self.block(f, fi, accept);
                a.max(self.block(f, fi, reject))
            }
            S::Switch { cases, .. } => cases
                .iter()
                .map(|c| self.block(f, fi, &c.body))
                .max()
                .unwrap_or(0),
            S::Loop {
                body, continuing, ..
            } => self.loop_trips * (self.block(f, fi, body) + self.block(f, fi, continuing)),
            S::Call { function, .. } => self.function(*function),
            _ => 0,
        }
    }

    fn function(&mut self, h: naga::Handle<naga::Function>) -> u64 {
        if let Some(&n) = self.functions.get(&h) {
            return n;
        }
        let f = &self.module.functions[h];
        let n = self.block(f, &self.info[h], &f.body);
        self.functions.insert(h, n);
        n
    }

    fn expression(
        &self,
        f: &naga::Function,
        fi: &naga::valid::FunctionInfo,
        h: naga::Handle<naga::Expression>,
    ) -> u64 {
        use naga::{BinaryOperator as B, MathFunction as M};
        let ty = fi[h].ty.inner_with(&self.module.types);
        if ty.scalar_kind() != Some(naga::ScalarKind::Float) {
            return 0;
        }
        let lanes = match ty {
            naga::TypeInner::Vector { size, .. } => *size as u64,
            _ => 1,
        };
        let ops = match f.expressions[h] {
            naga::Expression::Binary {
                op: B::Add | B::Subtract | B::Multiply | B::Divide,
                ..
            } => 1,
            naga::Expression::Math { fun, .. } => match fun {
                M::Fma => 2,
                M::Exp | M::Exp2 | M::Log | M::Log2 | M::Pow | M::Sqrt | M::InverseSqrt => 1,
                _ => 0,
            },
            _ => 0,
        };
        ops * lanes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stencil_counts_its_faces() {
        // u_out = u + dt * (D lap - decay u): per active face a subtract and
        // an add (lap += u_j - u_i; the Dirichlet arm, 2 * (v - u_i) and an
        // add, is the larger), then D * lap * inv_dx2 - decay * u_i, and
        // u + dt * rate.
        let two_d = per_thread(Stage::DiffuseExplicit, 4).unwrap();
        let three_d = per_thread(Stage::DiffuseExplicit, 6).unwrap();
        assert_eq!(three_d - two_d, 2 * 3, "two more faces of 3 operations");
        assert!((15..40).contains(&two_d), "{two_d}");
    }

    #[test]
    fn the_reaction_kernel_counts_hundreds_of_operations() {
        let react = per_thread(Stage::React, 1).unwrap();
        let produce = per_thread(Stage::Produce, 1).unwrap();
        assert!(react > 2 * produce, "react {react}, produce {produce}");
        assert!((300..5000).contains(&react), "{react}");
    }
}
