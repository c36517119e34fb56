//! CPU twin of shaders/source_pass.wgsl and shaders/source_add.wgsl: the
//! exact response of the source molecules to their production over one
//! transport, s = V (Phi * (V^T P)) (`backend::plan::SourcePlan`). Each
//! output is the same ascending sum over its line as on the GPU.

use crate::backend::plan::{SourcePass, SourcePlan};
use multiversion::multiversion;
use rayon::prelude::*;

/// One pass for every slot: `dst` = the slot's matrix applied along the
/// pass's axis of `src` (slots laid one after another, `n` values each),
/// times the mode integrals when the pass scales. `transposed` holds, for a
/// pass along x, each slot's matrix transposed (so the sum over a line runs
/// down contiguous columns).
pub fn source_pass(
    pass: &SourcePass,
    plan: &SourcePlan,
    transposed: Option<&[Vec<f32>]>,
    n: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let len = pass.len;
    for slot in 0..plan.fields.len() {
        let at = pass.base[slot] as usize;
        let m = &plan.matrices[at..at + len * len];
        let input = &src[slot * n..(slot + 1) * n];
        let out = &mut dst[slot * n..(slot + 1) * n];
        match transposed {
            Some(t) => along_x(&t[slot], len, input, out),
            None => across_rows(m, len, pass.stride, input, out),
        }
        if pass.scale {
            let phi = &plan.phi[slot * n..(slot + 1) * n];
            out.par_iter_mut().zip(phi).for_each(|(o, &f)| *o *= f);
        }
    }
}

/// Lines along x: out[k] = sum over ascending i of m[k][i] in[i], with
/// `t` = m transposed (row i of t holds column i of m).
fn along_x(t: &[f32], len: usize, input: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(len)
        .zip(input.par_chunks(len))
        .for_each(|(o, line)| {
            o.fill(0.0);
            for (i, &x) in line.iter().enumerate() {
                axpy(o, &t[i * len..(i + 1) * len], x);
            }
        });
}

/// acc += e * x, compiled for the widest SIMD the CPU has.
#[multiversion(targets = "simd")]
fn axpy(acc: &mut [f32], e: &[f32], x: f32) {
    for (a, &m) in acc.iter_mut().zip(e) {
        *a += m * x;
    }
}

/// Lines along y or z (neighbours `stride` apart): each output row k of a
/// block is the sum over ascending j of m[k][j] times input row j.
fn across_rows(m: &[f32], len: usize, stride: usize, input: &[f32], out: &mut [f32]) {
    out.par_chunks_mut(stride).enumerate().for_each(|(row, o)| {
        let (block, k) = (row / len, row % len);
        let rows = &input[block * len * stride..(block + 1) * len * stride];
        o.fill(0.0);
        for (j, r) in rows.chunks(stride).enumerate() {
            let e = m[k * len + j];
            for (acc, &x) in o.iter_mut().zip(r) {
                *acc += e * x;
            }
        }
    });
}

/// Add each slot's transformed source to its molecule field. The exact
/// source response is >= 0; the f32 transform leaves round-off of either
/// sign where it is near zero, so the sum is held at >= 0.
pub fn source_add(field: &mut [f32], source: &[f32]) {
    field.par_iter_mut().zip(source).for_each(|(u, &s)| {
        let v = *u + s;
        // A NaN stays NaN (the value check reports it).
        *u = if v < 0.0 { 0.0 } else { v };
    });
}

/// Each slot's matrix of a pass along x, transposed (see `source_pass`).
pub fn transposed(pass: &SourcePass, plan: &SourcePlan) -> Vec<Vec<f32>> {
    let len = pass.len;
    (0..plan.fields.len())
        .map(|slot| {
            let at = pass.base[slot] as usize;
            let m = &plan.matrices[at..at + len * len];
            (0..len * len)
                .map(|e| m[(e % len) * len + e / len])
                .collect()
        })
        .collect()
}
