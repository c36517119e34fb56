//! The field registry: every per-voxel quantity the simulator carries.
//!
//! This table is the one place that lists the fields. The config reader, the
//! initial conditions, both backends (the WGSL bindings are generated from
//! it, see `gpu::shaders`) and the outputs all read it. Defaults for transport
//! live here too, so a config only names what it changes.

/// What a field is, which decides how it is transported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Diffuses and decays (exact exponential or explicit solver).
    Molecule,
    /// Volume fraction of a cell population: random motility, chemotaxis
    /// toward IFN-gamma, volume exclusion against the shared crowding limit.
    Cell,
    /// A bounded per-voxel state (checkpoint levels, exhaustion); relaxes in
    /// the reaction stage, never transported.
    State,
    /// A phenotype map (PI3K/AKT, Wnt, IDO capacity); set by the initial
    /// condition, constant in time.
    Map,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Molecule => "molecule",
            FieldKind::Cell => "cell",
            FieldKind::State => "state",
            FieldKind::Map => "map",
        }
    }
}

/// Static description of one field.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub unit: &'static str,
    pub description: &'static str,
    /// Diffusion coefficient (molecules) or random motility (cells), um^2/min.
    pub diffusion_um2_per_min: f32,
    /// Linear decay, 1/min (molecules only).
    pub decay_per_min: f32,
    /// Chemotactic coefficient toward IFN-gamma, um^2/min (cells only).
    pub chemotaxis_um2_per_min: f32,
    /// Upper end of the default colour scale for frames: about the largest
    /// value of the field in the baseline run (docs/outputs.md), so maps use
    /// the whole colour range; phenotypes that raise a field set their own.
    pub display_max: f32,
}

const fn molecule(
    name: &'static str,
    description: &'static str,
    d: f32,
    half_life_min: f32,
    display_max: f32,
) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Molecule,
        unit: "nM",
        description,
        diffusion_um2_per_min: d,
        decay_per_min: std::f32::consts::LN_2 / half_life_min,
        chemotaxis_um2_per_min: 0.0,
        display_max,
    }
}

const fn cell(
    name: &'static str,
    description: &'static str,
    motility: f32,
    chemotaxis: f32,
    display_max: f32,
) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Cell,
        unit: "volume fraction",
        description,
        diffusion_um2_per_min: motility,
        decay_per_min: 0.0,
        chemotaxis_um2_per_min: chemotaxis,
        display_max,
    }
}

const fn fixed(
    name: &'static str,
    kind: FieldKind,
    unit: &'static str,
    description: &'static str,
    display_max: f32,
) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        unit,
        description,
        diffusion_um2_per_min: 0.0,
        decay_per_min: 0.0,
        chemotaxis_um2_per_min: 0.0,
        display_max,
    }
}

/// Index of each field in [`FIELDS`] and in every state buffer.
pub mod idx {
    pub const IFNG: usize = 0;
    pub const IL10: usize = 1;
    pub const VEGF: usize = 2;
    pub const ADENOSINE: usize = 3;
    pub const KYNURENINE: usize = 4;
    pub const TUMOR: usize = 5;
    pub const CD8: usize = 6;
    pub const TREG: usize = 7;
    pub const MDSC: usize = 8;
    pub const TAM: usize = 9;
    pub const DC: usize = 10;
    pub const VESSEL: usize = 11;
    pub const PDL1: usize = 12;
    pub const PD1: usize = 13;
    pub const LAG3: usize = 14;
    pub const EXHAUSTION: usize = 15;
    pub const PI3K: usize = 16;
    pub const WNT: usize = 17;
    pub const IDO: usize = 18;
}

pub const FIELD_COUNT: usize = 19;

/// Every field, in buffer order. Transport defaults are documented with
/// their sources in docs/model.md.
pub const FIELDS: [FieldSpec; FIELD_COUNT] = [
    molecule(
        "ifng",
        "IFN-gamma, secreted by activated CD8 T cells",
        600.0,
        178.0,
        0.05,
    ),
    molecule(
        "il10",
        "IL-10, secreted by Tregs and M2 macrophages",
        84.0,
        251.0,
        0.2,
    ),
    molecule(
        "vegf",
        "VEGF-A, from tumour (PI3K-dependent), MDSCs, M2 macrophages",
        1740.0,
        60.0,
        0.5,
    ),
    molecule(
        "adenosine",
        "extracellular adenosine from CD39/CD73 ATP hydrolysis",
        18000.0,
        0.25,
        400.0,
    ),
    molecule(
        "kynurenine",
        "kynurenine from IDO in MDSCs and IFN-gamma-induced tumour cells",
        20000.0,
        60.0,
        10.0,
    ),
    cell("tumor", "tumour cells", 0.1, 0.0, 1.0),
    cell("cd8", "effector CD8+ T cells", 10.0, 30.0, 0.03),
    cell("treg", "regulatory T cells", 10.0, 10.0, 0.01),
    cell("mdsc", "myeloid-derived suppressor cells", 15.0, 0.0, 0.005),
    cell(
        "tam",
        "M2-type tumour-associated macrophages",
        3.0,
        0.0,
        0.02,
    ),
    cell("dc", "mature dendritic cells", 4.0, 0.0, 0.005),
    cell("vessel", "functional vessel density", 0.0, 0.0, 0.2),
    fixed(
        "pdl1",
        FieldKind::State,
        "fold of basal",
        "tumour PD-L1 expression, induced by IFN-gamma and PI3K",
        8.0,
    ),
    fixed(
        "pd1",
        FieldKind::State,
        "fold of basal",
        "PD-1 level of local T cells, raised by chronic antigen",
        2.0,
    ),
    fixed(
        "lag3",
        FieldKind::State,
        "fraction",
        "share of local T cells co-expressing LAG-3/TIM-3",
        1.0,
    ),
    fixed(
        "exhaustion",
        FieldKind::State,
        "fraction",
        "exhaustion of local T cells",
        1.0,
    ),
    fixed(
        "pi3k",
        FieldKind::Map,
        "activity 0-1",
        "PI3K/AKT pathway activity of tumour cells",
        1.0,
    ),
    fixed(
        "wnt",
        FieldKind::Map,
        "activity 0-1",
        "Wnt/beta-catenin activity of tumour cells",
        1.0,
    ),
    fixed(
        "ido",
        FieldKind::Map,
        "capacity 0-1",
        "IDO capacity of tumour cells",
        1.0,
    ),
];

/// Look a field up by name.
pub fn field_index(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.name == name)
}

/// Indices of the fields of one kind, in buffer order.
pub fn fields_of(kind: FieldKind) -> impl Iterator<Item = usize> {
    FIELDS
        .iter()
        .enumerate()
        .filter(move |(_, f)| f.kind == kind)
        .map(|(i, _)| i)
}

/// The initial value a field has where the config gives no initial condition.
pub fn default_initial_value(index: usize) -> f32 {
    match index {
        idx::PDL1 | idx::PD1 => 1.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_names() {
        let expected = [
            (idx::IFNG, "ifng"),
            (idx::IL10, "il10"),
            (idx::VEGF, "vegf"),
            (idx::ADENOSINE, "adenosine"),
            (idx::KYNURENINE, "kynurenine"),
            (idx::TUMOR, "tumor"),
            (idx::CD8, "cd8"),
            (idx::TREG, "treg"),
            (idx::MDSC, "mdsc"),
            (idx::TAM, "tam"),
            (idx::DC, "dc"),
            (idx::VESSEL, "vessel"),
            (idx::PDL1, "pdl1"),
            (idx::PD1, "pd1"),
            (idx::LAG3, "lag3"),
            (idx::EXHAUSTION, "exhaustion"),
            (idx::PI3K, "pi3k"),
            (idx::WNT, "wnt"),
            (idx::IDO, "ido"),
        ];
        assert_eq!(expected.len(), FIELD_COUNT);
        for (i, name) in expected {
            assert_eq!(FIELDS[i].name, name);
            assert_eq!(field_index(name), Some(i));
        }
    }

    #[test]
    fn five_molecules_seven_cells() {
        assert_eq!(fields_of(FieldKind::Molecule).count(), 5);
        assert_eq!(fields_of(FieldKind::Cell).count(), 7);
    }
}
