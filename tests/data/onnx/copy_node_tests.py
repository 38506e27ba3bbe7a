"""Copies ONNX's backend node tests whose every node is an op this engine lowers (ops.txt,
which tests/onnx_nodes.rs holds to `lepton::onnx::supported_ops()`) and whose every value
has an element type the engine reads (not strings, complex numbers, 8-, 4- or 2-bit floats
or integers) from the onnx wheel into node/<case>/: model.onnx and the first data set's
input_N.pb and output_N.pb.

To regenerate (the onnx wheel from PyPI holds the tests as data):

    python3 -m venv /tmp/onnx-env && /tmp/onnx-env/bin/pip install onnx==1.22.0
    /tmp/onnx-env/bin/python tests/data/onnx/copy_node_tests.py
"""

import shutil
from pathlib import Path

import onnx
import onnx.backend.test

here = Path(__file__).resolve().parent
source = Path(onnx.backend.test.__file__).parent / "data" / "node"
ops = set(here.joinpath("ops.txt").read_text().split())
# float, uint8, int8, uint16, int16, int32, int64, bool, float16, double, uint32, uint64,
# bfloat16
readable = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16}


def element_types(model):
    g = model.graph
    for v in list(g.input) + list(g.output):
        yield v.type.tensor_type.elem_type
    for t in g.initializer:
        yield t.data_type
    for n in g.node:
        for a in n.attribute:
            if a.name == "to":
                yield a.i
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t.data_type
target = here / "node"
shutil.rmtree(target, ignore_errors=True)
copied = 0
for case in sorted(source.iterdir()):
    model = onnx.load(case / "model.onnx")
    used = {(n.domain, n.op_type) for n in model.graph.node}
    if not used or any(domain not in ("", "ai.onnx") or op not in ops for domain, op in used):
        continue
    if any(t not in readable for t in element_types(model)):
        continue
    data = case / "test_data_set_0"
    out = target / case.name
    out.mkdir(parents=True)
    shutil.copy(case / "model.onnx", out / "model.onnx")
    for pb in sorted(data.glob("*.pb")):
        shutil.copy(pb, out / pb.name)
    copied += 1
print(f"copied {copied} cases of {len(list(source.iterdir()))} into {target}")
