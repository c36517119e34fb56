//! The files a run writes for people and other tools, read back
//! independently: zarr-python reads fields.ome.zarr with the values of the
//! .npy arrays, .vti arrays equal the .npy arrays, the .pvd lists every
//! save, every time-lapse has one frame per save, `tmesim render` redraws
//! from the store and re-rates every time-lapse, and report.html loads in a
//! real headless browser with every image resolved and no console errors.

mod common;

use common::{read_npy, run_short_baseline, tmesim};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Saves of the shared run (days 0, 1, 2).
const SAVES: usize = 3;

/// One short baseline run shared by the tests of this file.
fn run_dir() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let o = run_short_baseline(&out, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (dir, out)
    })
    .1
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

type Attrs = std::collections::HashMap<String, String>;

/// The XML attributes of every element named `tag` before the appended data.
fn elements(xml: &str, tag: &str) -> Vec<Attrs> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut found = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().as_ref() == tag => {
                found.push(
                    e.attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (a.key.as_ref().to_string(), a.value.to_string())
                        })
                        .collect(),
                );
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    found
}

/// Arrays of a .vti with raw appended data: (name, values).
fn read_vti(path: &Path) -> (Vec<Attrs>, Vec<(String, Vec<f32>)>) {
    let bytes = std::fs::read(path).unwrap();
    let marker = b"<AppendedData encoding=\"raw\">";
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("raw appended data");
    let header = std::str::from_utf8(&bytes[..at]).unwrap();
    assert_eq!(
        bytes[at + marker.len()],
        b'_',
        "appended data starts with _"
    );
    let base = at + marker.len() + 1;
    let image = elements(header, "ImageData");
    let file = elements(header, "VTKFile");
    assert_eq!(file[0]["header_type"], "UInt64");
    assert_eq!(file[0]["byte_order"], "LittleEndian");
    let arrays = elements(header, "DataArray")
        .into_iter()
        .filter(|a| a.get("format").map(String::as_str) == Some("appended"))
        .map(|a| {
            assert_eq!(a["type"], "Float32");
            let off = base + a["offset"].parse::<usize>().unwrap();
            let n = u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap()) as usize;
            let values = bytes[off + 8..off + 8 + n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (a["Name"].clone(), values)
        })
        .collect();
    (image, arrays)
}

#[test]
fn vti_arrays_equal_the_npy_arrays() {
    let dir = run_dir();
    let m = manifest(dir);
    let fields = m["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 19);
    for k in 0..SAVES {
        let (image, arrays) = read_vti(&dir.join(format!("vtk/state_{k:04}.vti")));
        assert_eq!(image[0]["WholeExtent"], "0 125 0 125 0 1");
        assert_eq!(image[0]["Spacing"], "20 20 20");
        assert_eq!(image[0]["Origin"], "0 0 0");
        assert_eq!(arrays.len(), fields.len());
        for f in fields {
            let name = f["name"].as_str().unwrap();
            let vtk_name = format!("{name} [{}]", f["unit"].as_str().unwrap());
            assert_eq!(f["vtk_array"], vtk_name.as_str());
            let (_, values) = arrays
                .iter()
                .find(|(n, _)| *n == vtk_name)
                .unwrap_or_else(|| panic!("no array {vtk_name}"));
            let (shape, npy) = read_npy(&dir.join(format!("fields/{name}_{k:04}.npy")));
            assert_eq!(shape, vec![1, 125, 125]);
            assert_eq!(values, &npy, "{name} at save {k}");
        }
    }
}

#[test]
fn pvd_lists_every_save_with_its_time() {
    let dir = run_dir();
    let m = manifest(dir);
    let xml = std::fs::read_to_string(dir.join("run.pvd")).unwrap();
    let sets = elements(&xml, "DataSet");
    let saved = m["saved"].as_array().unwrap();
    assert_eq!(sets.len(), saved.len());
    for (set, s) in sets.iter().zip(saved) {
        let t: f64 = set["timestep"].parse().unwrap();
        assert_eq!(t, s["time_days"].as_f64().unwrap());
        assert!(dir.join(&set["file"]).is_file(), "{}", set["file"]);
    }
}

fn gif_frames(path: &Path) -> usize {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut d = opts.read_info(std::fs::File::open(path).unwrap()).unwrap();
    let mut n = 0;
    while d.read_next_frame().unwrap().is_some() {
        n += 1;
    }
    n
}

fn apng_frames(path: &Path) -> usize {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = d.read_info().unwrap();
    let declared = reader.info().animation_control.unwrap().num_frames as usize;
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let mut n = 0;
    while n < declared + 1 && reader.next_frame(&mut buf).is_ok() {
        n += 1;
    }
    assert_eq!(n, declared, "{}", path.display());
    n
}

#[test]
fn every_time_lapse_has_a_frame_per_save() {
    let dir = run_dir();
    let m = manifest(dir);
    assert_eq!(m["saved"].as_array().unwrap().len(), SAVES);
    // Time-lapses of the montage and the composite; single fields get a
    // frame at the last save only, and no time-lapse.
    for f in m["fields"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        assert!(
            !dir.join(format!("animations/{name}.gif")).exists(),
            "{name}"
        );
        assert!(
            !dir.join(format!("frames/{name}_0000.png")).exists(),
            "{name}"
        );
        let zero_map = ["pi3k", "wnt", "ido"].contains(&name);
        assert_eq!(
            dir.join(format!("frames/{name}_{:04}.png", SAVES - 1))
                .is_file(),
            !zero_map,
            "{name}"
        );
    }
    for name in ["montage", "composite"] {
        assert_eq!(
            gif_frames(&dir.join(format!("animations/{name}.gif"))),
            SAVES,
            "{name}"
        );
        assert_eq!(
            apng_frames(&dir.join(format!("animations/{name}.apng"))),
            SAVES,
            "{name}"
        );
        for k in 0..SAVES {
            assert!(dir.join(format!("frames/{name}_{k:04}.png")).is_file());
        }
    }
    for f in ["timeseries.png", "report.html", "config.toml", "run.pvd"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // The report states the run time the manifest (and the headline) give.
    let wall = format!("wall time {:.1} s", m["wall_time_s"].as_f64().unwrap());
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains(&wall), "report.html lacks \"{wall}\"");
    // The layout index names patterns that resolve to files.
    let layout = &m["layout"];
    let at = |pattern: &serde_json::Value, name: &str| {
        dir.join(
            pattern
                .as_str()
                .unwrap()
                .replace("{name}", name)
                .replace("{index}", "0001"),
        )
    };
    assert!(at(&layout["frame"], "montage").is_file());
    assert!(at(&layout["npy"], "cd8").is_file());
    assert!(dir
        .join(layout["zarr"].as_str().unwrap())
        .join(".zattrs")
        .is_file());
    assert!(at(&layout["vti"], "").is_file());
    assert!(at(&layout["animation_apng"], "montage").is_file());
}

#[test]
fn render_redraws_frames_and_time_lapses_from_the_arrays() {
    let src = run_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of(src, tmp.path());
    std::fs::remove_dir_all(dir.join("frames")).unwrap();
    std::fs::remove_dir_all(dir.join("animations")).unwrap();
    // Without the .npy files render reads fields.ome.zarr.
    std::fs::remove_dir_all(dir.join("fields")).unwrap();
    let before = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let o = tmesim(&[
        "render",
        dir.to_str().unwrap(),
        "--fields",
        "tumor,cd8,montage",
        "--apng",
        "--fps",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Redrawn from fields.ome.zarr: every save of the fields asked for,
    // identical to the frames the run drew (single fields: the last save).
    for k in 0..SAVES {
        for name in ["tumor", "cd8", "montage"] {
            let a = image::open(dir.join(format!("frames/{name}_{k:04}.png"))).unwrap();
            let original = src.join(format!("frames/{name}_{k:04}.png"));
            if original.is_file() {
                let b = image::open(original).unwrap();
                assert!(a == b, "{name} {k}: redrawn frame differs from the run's");
            }
        }
        assert!(!dir.join(format!("frames/ifng_{k:04}.png")).exists());
    }
    assert_eq!(apng_frames(&dir.join("animations/tumor.apng")), SAVES);
    assert_eq!(apng_frames(&dir.join("animations/montage.apng")), SAVES);
    assert!(!dir.join("animations/tumor.gif").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("manifest.json")).unwrap(),
        before
    );
    let o = tmesim(&["render", dir.to_str().unwrap(), "--fields", "nope"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
}

/// A copy of the run folder `src` inside `into`, for tests that change it.
fn copy_of(src: &Path, into: &Path) -> PathBuf {
    let dir = into.join("copy");
    let o = Command::new("cp")
        .args(["-r", src.to_str().unwrap(), dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    dir
}

/// Seconds per frame of an APNG (its first frame's delay).
fn apng_delay(path: &Path) -> f64 {
    let d = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let reader = d.read_info().unwrap();
    let fc = reader.info().frame_control.expect("an animated PNG");
    fc.delay_num as f64 / fc.delay_den.max(1) as f64
}

/// GIF delay of the first frame, seconds.
fn gif_delay(path: &Path) -> f64 {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut d = opts.read_info(std::fs::File::open(path).unwrap()).unwrap();
    d.read_next_frame().unwrap().unwrap().delay as f64 / 100.0
}

/// `render --scale` resizes every frame of a time-lapse, not only the
/// first (a scaled render once failed on its second frame: "differs in
/// size from the first frame").
#[test]
fn render_scale_resizes_every_frame() {
    let src = run_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of(src, tmp.path());
    let o = tmesim(&[
        "render",
        dir.to_str().unwrap(),
        "--fields",
        "montage",
        "--gif",
        "--scale",
        "0.5",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let gif = dir.join("animations/montage.gif");
    assert_eq!(gif_frames(&gif), SAVES);
    let frame = image::open(dir.join("frames/montage_0000.png")).unwrap();
    let d = gif::DecodeOptions::new()
        .read_info(std::fs::File::open(&gif).unwrap())
        .unwrap();
    let half = |n: u32| ((n as f32 * 0.5).round() as u32).max(1);
    assert_eq!(
        (d.width() as u32, d.height() as u32),
        (half(frame.width()), half(frame.height()))
    );
}

#[test]
fn render_with_a_new_rate_rewrites_every_time_lapse() {
    let src = run_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_of(src, tmp.path());
    let rate = manifest(&dir)["output"]["fps"].as_f64().unwrap();
    assert!((apng_delay(&dir.join("animations/montage.apng")) - 1.0 / rate).abs() < 1e-3);
    // The tutorial's command (docs/tutorial.md, step 6): only cd8 is
    // redrawn, yet the montage and composite time-lapses, drawn from the
    // frames on disk, follow the new rate in both formats.
    for sequence in ["montage", "composite"] {
        std::fs::remove_file(dir.join(format!("animations/{sequence}.gif"))).unwrap();
    }
    let o = tmesim(&[
        "render",
        dir.to_str().unwrap(),
        "--fields",
        "cd8",
        "--gif",
        "--fps",
        "2",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(gif_frames(&dir.join("animations/cd8.gif")), SAVES);
    for sequence in ["montage", "composite"] {
        let gif = dir.join(format!("animations/{sequence}.gif"));
        assert_eq!(gif_frames(&gif), SAVES, "{sequence}.gif");
        // Only --gif was asked for, but the APNGs already there follow the new rate.
        assert!((gif_delay(&gif) - 0.5).abs() < 1e-9, "{sequence}.gif");
        let apng = dir.join(format!("animations/{sequence}.apng"));
        assert!((apng_delay(&apng) - 0.5).abs() < 1e-9, "{sequence}.apng");
    }
}

fn python_required() -> bool {
    common::required("TMESIM_REQUIRE_PYTHON")
}

/// zarr-python opens fields.ome.zarr as OME-NGFF 0.4 and reads, for every
/// field and save, exactly the values of the .npy file (written by a
/// different encoder, npyz). Python checks; Rust only reports.
const ZARR_CHECK: &str = r#"
import json, sys
import numpy as np, zarr
run = sys.argv[1]
m = json.load(open(f"{run}/manifest.json"))
g = zarr.open_group(f"{run}/fields.ome.zarr", mode="r")
ms = g.attrs["multiscales"][0]
assert ms["version"] == "0.4", ms
assert [a["name"] for a in ms["axes"]] == ["t", "c", "z", "y", "x"], ms["axes"]
assert ms["axes"][2]["unit"] == "micrometer" and ms["axes"][0]["unit"] == "day"
scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
assert scale[2:] == [m["grid"]["dx_um"]] * 3, scale
labels = [c["label"] for c in g.attrs["omero"]["channels"]]
names = [f["name"] for f in m["fields"]]
assert labels == names, (labels, names)
units = {f["name"]: f["unit"] for f in g.attrs["tmesim"]["fields"]}
assert all(units[f["name"]] == f["unit"] for f in m["fields"])
a = g[ms["datasets"][0]["path"]]
assert a.dtype == np.float32 and a.shape == (len(m["saved"]), len(names), *m["grid"]["npy_shape"]), a.shape
assert g.attrs["tmesim"]["times_days"] == [s["time_days"] for s in m["saved"]]
data = a[:]
n = 0
for s in m["saved"]:
    for c, name in enumerate(names):
        ref = np.load(f"{run}/fields/{name}_{s['index']:04d}.npy")
        assert np.array_equal(data[s["index"], c], ref), (name, s)
        n += 1
assert np.abs(data).max() > 0
print(f"zarr ok: {n} arrays equal")
"#;

#[test]
fn zarr_python_reads_the_store_with_the_npy_values() {
    let dir = run_dir();
    let o = Command::new("python3")
        .args(["-c", ZARR_CHECK, dir.to_str().unwrap()])
        .output();
    let o = match o {
        Ok(o) => o,
        Err(e) if !python_required() => {
            eprintln!(
                "skipped: no python3 ({e}); set TMESIM_REQUIRE_PYTHON=1 to make this an error"
            );
            return;
        }
        Err(e) => panic!("python3 is required (CI / TMESIM_REQUIRE_PYTHON): {e}"),
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    if stderr.contains("ModuleNotFoundError") && !python_required() {
        eprintln!(
            "skipped: {stderr} (pip install zarr; TMESIM_REQUIRE_PYTHON=1 makes this an error)"
        );
        return;
    }
    assert!(
        o.status.success(),
        "zarr-python check failed:
{stderr}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("zarr ok: {} arrays equal", 19 * SAVES)),
        "{stdout}"
    );
}

#[test]
fn report_loads_in_a_headless_browser() {
    let Some((result, stderr)) = common::browser::load_report(run_dir()) else {
        return;
    };
    assert!(result["images"].as_u64().unwrap() >= 20, "{result}");
    common::browser::assert_clean(&result, &stderr);
}
