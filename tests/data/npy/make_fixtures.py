"""Writes the .npy fixtures of tests/npy.rs with NumPy, and expected.json with the values each
holds in row-major order, as decimal strings that parse back to the exact double.
Regenerate with: python3 make_fixtures.py (NumPy 2.x)."""

import json
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
arrays = {
    "f32_2x3": np.arange(6, dtype="<f4").reshape(2, 3) / 7,
    "f64_fortran_3x2": np.asfortranarray(np.arange(6, dtype="<f8").reshape(3, 2) * 1.5 - 2),
    "f16_5": np.array([0.5, -1.25, 65504, 6e-8, 0], dtype="<f2"),
    "i32_7": np.array([0, -1, 2**31 - 1, -(2**31), 5, 6, 7], dtype="<i4"),
    "i64_5": np.array([3, 1, 4, 1, -5], dtype="<i8"),
    "i64_too_big": np.array([2**40], dtype="<i8"),
    "big_endian_f32_4": np.array([1.0, -2.5, 3.25, 1e-3], dtype=">f4"),
    "u8_4": np.array([0, 1, 200, 255], dtype="u1"),
    "bool_3": np.array([True, False, True]),
    "scalar_f32": np.array(2.5, dtype="<f4"),
    "empty_0x3": np.zeros((0, 3), dtype="<f4"),
    "complex_2": np.array([1 + 2j, 3], dtype="<c8"),
}
expected = {}
for name, a in arrays.items():
    np.save(os.path.join(here, name + ".npy"), a)
    if a.dtype.kind != "c":
        expected[name] = {
            "shape": list(a.shape),
            "values": [repr(float(v)) for v in np.ascontiguousarray(a).reshape(-1)],
        }
# A version 2.0 header, as NumPy writes for headers past 64 KiB, forced on a small array.
with open(os.path.join(here, "v2_f32_3.npy"), "wb") as f:
    np.lib.format.write_array(f, np.array([1, 2, 3], dtype="<f4"), version=(2, 0))
expected["v2_f32_3"] = {"shape": [3], "values": ["1.0", "2.0", "3.0"]}
with open(os.path.join(here, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")

# .npz archives of some of the arrays above: stored (np.savez), deflated
# (np.savez_compressed), and deflated with every Zip64 record (the sizes and offsets in the
# central directory, the Zip64 end record and its locator) that Python writes past 4 GiB,
# forced on a small archive by lowering zipfile's threshold.
import zipfile

members = {k: arrays[k] for k in ["f32_2x3", "f64_fortran_3x2", "i64_5", "scalar_f32", "empty_0x3"]}
np.savez(os.path.join(here, "stored.npz"), **members)
np.savez_compressed(os.path.join(here, "deflated.npz"), **members)
zip64_limit = zipfile.ZIP64_LIMIT
zipfile.ZIP64_LIMIT = 0
np.savez_compressed(os.path.join(here, "zip64.npz"), **members)
zipfile.ZIP64_LIMIT = zip64_limit
