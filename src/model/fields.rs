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
    /// The value where the config gives no initial condition.
    pub initial: f32,
    /// The largest valid value (initial conditions are checked against it).
    pub upper: Upper,
    /// The registry parameter of the extra sink a therapy can put on this
    /// field (molecules and cells).
    pub sink_param: Option<&'static str>,
    /// The registry parameter of the radiotherapy death rate (cells).
    pub rt_death_param: Option<&'static str>,
}

/// The upper bound of a field's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upper {
    Unbounded,
    /// A fraction or an activity.
    One,
    /// A cell volume fraction: at most `crowding_limit`.
    CrowdingLimit,
}

impl FieldSpec {
    /// Starts at `value` where the config gives no initial condition.
    const fn initially(self, value: f32) -> Self {
        FieldSpec {
            initial: value,
            ..self
        }
    }

    const fn at_most(self, upper: Upper) -> Self {
        FieldSpec { upper, ..self }
    }

    const fn with_sink(self, param: &'static str) -> Self {
        FieldSpec {
            sink_param: Some(param),
            ..self
        }
    }

    const fn with_rt_death(self, param: &'static str) -> Self {
        FieldSpec {
            rt_death_param: Some(param),
            ..self
        }
    }
}

const fn molecule(
    description: &'static str,
    d: f32,
    half_life_min: f32,
    display_max: f32,
) -> FieldSpec {
    FieldSpec {
        name: "",
        kind: FieldKind::Molecule,
        unit: "nM",
        description,
        diffusion_um2_per_min: d,
        decay_per_min: std::f32::consts::LN_2 / half_life_min,
        chemotaxis_um2_per_min: 0.0,
        display_max,
        initial: 0.0,
        upper: Upper::Unbounded,
        sink_param: None,
        rt_death_param: None,
    }
}

const fn cell(
    description: &'static str,
    motility: f32,
    chemotaxis: f32,
    display_max: f32,
) -> FieldSpec {
    FieldSpec {
        name: "",
        kind: FieldKind::Cell,
        unit: "volume fraction",
        description,
        diffusion_um2_per_min: motility,
        decay_per_min: 0.0,
        chemotaxis_um2_per_min: chemotaxis,
        display_max,
        initial: 0.0,
        upper: Upper::CrowdingLimit,
        sink_param: None,
        rt_death_param: None,
    }
}

const fn fixed(
    kind: FieldKind,
    unit: &'static str,
    description: &'static str,
    display_max: f32,
) -> FieldSpec {
    FieldSpec {
        name: "",
        kind,
        unit,
        description,
        diffusion_um2_per_min: 0.0,
        decay_per_min: 0.0,
        chemotaxis_um2_per_min: 0.0,
        display_max,
        initial: 0.0,
        upper: match kind {
            FieldKind::Map => Upper::One,
            _ => Upper::Unbounded,
        },
        sink_param: None,
        rt_death_param: None,
    }
}

/// Expands the table below into [`FIELDS`], [`FIELD_COUNT`] and the `idx`
/// constants, numbered by their place in the table; each row's lower-case
/// name is the field's name everywhere (configs, outputs, WGSL buffers).
/// `for_each_field!(m)` calls `m! { IFNG ifng, IL10 il10, ... }`, so code
/// that needs one item per field (the reaction kernel's `Voxel`) is
/// generated from this table too. (`$d` is a literal `$`, which the nested
/// macro needs.)
macro_rules! field_table {
    ($d:tt $($index:ident $name:ident = $spec:expr,)*) => {
        /// Index of each field in [`FIELDS`] and in every state buffer.
        pub mod idx {
            #[allow(clippy::upper_case_acronyms)]
            enum Order {
                $($index,)*
            }
            $(pub const $index: usize = Order::$index as usize;)*
        }

        /// The `idx` constant names, in table order (checked against the
        /// field names by a test).
        #[cfg(test)]
        const INDEX_NAMES: &[&str] = &[$(stringify!($index)),*];

        pub const FIELD_COUNT: usize = [$(idx::$index),*].len();

        /// Every field, in buffer order. Transport defaults are documented
        /// with their sources in docs/model.md.
        pub const FIELDS: [FieldSpec; FIELD_COUNT] = [$(FieldSpec {
            name: stringify!($name),
            ..$spec
        },)*];

        /// `m! { INDEX name, ... }` over every field, in table order.
        macro_rules! for_each_field {
            ($d m:ident) => {
                $d m! { $($index $name,)* }
            };
        }
        pub(crate) use for_each_field;
    };
}

field_table! { $
    IFNG ifng = molecule(
        "IFN-gamma, secreted by activated CD8 T cells",
        600.0,
        178.0,
        0.05,
    )
    .with_sink("sink_ifng_per_day"),
    IL10 il10 = molecule(
        "IL-10, secreted by Tregs and M2 macrophages",
        84.0,
        251.0,
        0.2,
    )
    .with_sink("sink_il10_per_day"),
    VEGF vegf = molecule(
        "VEGF-A, from tumour (PI3K-dependent), MDSCs, M2 macrophages",
        1740.0,
        60.0,
        0.5,
    )
    .with_sink("sink_vegf_per_day"),
    ADENOSINE adenosine = molecule(
        "extracellular adenosine from CD39/CD73 ATP hydrolysis",
        18000.0,
        0.25,
        400.0,
    )
    .with_sink("sink_adenosine_per_day"),
    KYNURENINE kynurenine = molecule(
        "kynurenine from IDO1 (MDSCs, DCs, IFN-gamma-induced tumour cells), TDO and plasma",
        20000.0,
        60.0,
        15000.0,
    )
    .with_sink("sink_kynurenine_per_day"),
    TUMOR tumor = cell("tumour cells", 0.1, 0.0, 1.0)
        .with_sink("sink_tumor_per_day")
        .with_rt_death("rt_death_tumor_per_day"),
    CD8 cd8 = cell("effector CD8+ T cells", 10.0, 30.0, 0.03)
        .with_sink("sink_cd8_per_day")
        .with_rt_death("rt_death_cd8_per_day"),
    TREG treg = cell("regulatory T cells", 10.0, 10.0, 0.01)
        .with_sink("sink_treg_per_day")
        .with_rt_death("rt_death_treg_per_day"),
    MDSC mdsc = cell("myeloid-derived suppressor cells", 15.0, 0.0, 0.005)
        .with_sink("sink_mdsc_per_day")
        .with_rt_death("rt_death_mdsc_per_day"),
    TAM tam = cell(
        "M2-type tumour-associated macrophages",
        3.0,
        0.0,
        0.02,
    )
    .with_sink("sink_tam_per_day")
    .with_rt_death("rt_death_tam_per_day"),
    DC dc = cell("mature dendritic cells", 4.0, 0.0, 0.005)
        .with_sink("sink_dc_per_day")
        .with_rt_death("rt_death_dc_per_day"),
    VESSEL vessel = cell("functional vessel density", 0.0, 0.0, 0.2)
        .with_sink("sink_vessel_per_day")
        .with_rt_death("rt_death_vessel_per_day"),
    PDL1 pdl1 = fixed(
        FieldKind::State,
        "fold of basal",
        "tumour PD-L1 expression, induced by IFN-gamma and PI3K",
        8.0,
    )
    .initially(1.0),
    PD1 pd1 = fixed(
        FieldKind::State,
        "fold of basal",
        "PD-1 level of local T cells, raised by chronic antigen",
        2.0,
    )
    .initially(1.0),
    LAG3 lag3 = fixed(
        FieldKind::State,
        "fraction",
        "share of local T cells co-expressing LAG-3/TIM-3",
        1.0,
    )
    .at_most(Upper::One),
    EXHAUSTION exhaustion = fixed(
        FieldKind::State,
        "fraction",
        "exhaustion of local T cells",
        1.0,
    )
    .at_most(Upper::One),
    PI3K pi3k = fixed(
        FieldKind::Map,
        "activity 0-1",
        "PI3K/AKT pathway activity of tumour cells",
        1.0,
    ),
    WNT wnt = fixed(
        FieldKind::Map,
        "activity 0-1",
        "Wnt/beta-catenin activity of tumour cells",
        1.0,
    ),
    IDO ido = fixed(
        FieldKind::Map,
        "capacity 0-1",
        "IDO capacity of tumour cells",
        1.0,
    ),
}

/// The number of fields of `kind`, and their indices in buffer order
/// (the rest of the array unused).
const fn scan(kind: FieldKind) -> (usize, [usize; FIELD_COUNT]) {
    let mut found = [0; FIELD_COUNT];
    let (mut i, mut n) = (0, 0);
    while i < FIELD_COUNT {
        if FIELDS[i].kind as u8 == kind as u8 {
            found[n] = i;
            n += 1;
        }
        i += 1;
    }
    (n, found)
}

pub const CELL_COUNT: usize = scan(FieldKind::Cell).0;

/// The cell fields, in buffer order (a constant, for the per-voxel sums).
pub const CELL_FIELDS: [usize; CELL_COUNT] = {
    let found = scan(FieldKind::Cell).1;
    let mut out = [0; CELL_COUNT];
    let mut k = 0;
    while k < CELL_COUNT {
        out[k] = found[k];
        k += 1;
    }
    out
};

/// The crowding of one voxel: its cell fields summed in buffer order (the
/// generated WGSL `cell_sum` adds them in the same order).
pub fn cell_sum<T: Copy + std::ops::Add<Output = T>>(v: &[T; FIELD_COUNT]) -> T {
    CELL_FIELDS[1..]
        .iter()
        .fold(v[CELL_FIELDS[0]], |sum, &c| sum + v[c])
}

/// The molecules whose cellular production the exact transport integrates
/// (with the exponential solver and reactions on): every molecule. The
/// transport solves du/dt = D lap u - lambda u + P exactly over each half
/// step with P frozen at its start (docs/model.md, "Sources in the
/// transport"); their cell-dependent losses stay in the reactions.
/// Splitting production from decay silenced a fast-decaying molecule
/// (adenosine's production pulse decayed by e^{-lambda dt/2} before the
/// reactions read it), and for IFN-gamma and VEGF, made where cells sit
/// and spread by diffusion much faster than a step, it left a first-order
/// error of 2-5% in the fields that read them (docs/verification.md).
pub const SOURCES_IN_TRANSPORT: [usize; 5] = [
    idx::IFNG,
    idx::IL10,
    idx::VEGF,
    idx::ADENOSINE,
    idx::KYNURENINE,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_constants_are_the_upper_case_field_names() {
        assert_eq!(INDEX_NAMES.len(), FIELD_COUNT);
        for (i, name) in INDEX_NAMES.iter().enumerate() {
            assert_eq!(FIELDS[i].name, name.to_lowercase());
            assert_eq!(field_index(FIELDS[i].name), Some(i));
        }
    }

    #[test]
    fn five_molecules_seven_cells() {
        assert_eq!(fields_of(FieldKind::Molecule).count(), 5);
        assert_eq!(fields_of(FieldKind::Cell).count(), 7);
    }
}
