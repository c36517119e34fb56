"""Draw docs/architecture.png: the layers of src/, ground floor at the
bottom. Each layer imports only layers below it. Rerun after a layer
changes: python3 scripts/draw_layers.py (needs Pillow)."""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
FONT = ROOT / "assets/fonts/DejaVuSans.ttf"

# (floor, [(module, what it holds)]), top floor first.
FLOORS = [
    ("8", [("main.rs", "parses the arguments; one call per command into app")]),
    ("7", [("app", "the application: each command's arguments (clap), the blame of a bad\nvalue on its flag, and what each command does")]),
    ("6", [("cohort", "virtual trials: patients drawn per cohort file,\nevery arm per patient, records, shards and merge,\nresponse statistics, trial figures and report"),
           ("bench", "tmesim bench: step and stage timing, bytes\nand bandwidth against a copy, patients at once,\ntime to 1% error per solver")]),
    ("5", [("sim", "scenario step (phenotype, resolve, treatment), backend choice, run loop,\ncheckpoints, runs launched into folders, comparisons, backend agreement")]),
    ("4", [("cpu", "reference kernels and CpuBackend"), ("gpu + shaders/", "WGSL stages, pipelines and GpuBackend")]),
    ("3", [("backend", "the Backend interface, the transport\nplan (one list of operations per step)"),
           ("therapy", "therapy and phenotype files:\nper-step parameters of an arm"),
           ("output", "manifest, time series, frames,\nOME-Zarr, report, arm metrics")]),
    ("2", [("config", "TOML schema, --set overrides, validation into RunSpec, initial state")]),
    ("1", [("model", "field and parameter registries, grid, state, boundary and solver kinds,\naxis propagators; imports nothing else of the crate")]),
]

W, FLOOR_H, GAP, MARGIN = 1400, 110, 26, 40


def main() -> None:
    title = ImageFont.truetype(str(FONT), 30)
    name = ImageFont.truetype(str(FONT), 22)
    body = ImageFont.truetype(str(FONT), 16)
    h = 2 * MARGIN + 50 + len(FLOORS) * (FLOOR_H + GAP) - GAP
    img = Image.new("RGB", (W, h), "white")
    d = ImageDraw.Draw(img)
    d.text((MARGIN, MARGIN - 10), "tmesim: the layers of src/ (each imports only the layers below it)", font=title, fill="black")
    y = MARGIN + 50
    for floor, rooms in FLOORS:
        d.text((MARGIN, y + FLOOR_H / 2 - 12), floor, font=name, fill="#666666")
        x0, usable = MARGIN + 40, W - 2 * MARGIN - 40
        width = (usable - (len(rooms) - 1) * 16) / len(rooms)
        for k, (module, what) in enumerate(rooms):
            x = x0 + k * (width + 16)
            d.rectangle((x, y, x + width, y + FLOOR_H), outline="#2b4c7e", width=3, fill="#e8eef7")
            d.text((x + 14, y + 10), module, font=name, fill="#10223f")
            d.multiline_text((x + 14, y + 44), what, font=body, fill="black", spacing=4)
        if floor != "1":
            ax = W / 2
            d.line((ax, y + FLOOR_H + 2, ax, y + FLOOR_H + GAP - 4), fill="#888888", width=3)
            d.polygon([(ax - 7, y + FLOOR_H + GAP - 12), (ax + 7, y + FLOOR_H + GAP - 12), (ax, y + FLOOR_H + GAP - 2)], fill="#888888")
        y += FLOOR_H + GAP
    img.save(ROOT / "docs/architecture.png", optimize=True)


if __name__ == "__main__":
    main()
