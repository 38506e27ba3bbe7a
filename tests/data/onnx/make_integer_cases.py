"""Writes integer/<case>/ for tests/onnx_nodes.rs: integer reductions, which the engine
evaluates on the host and ONNX's backend node tests cover only for booleans, in the forms
exporters write them (the product of a shape as a flattened size; sums and extrema of
int64 over chosen axes, kept or not), each as model.onnx with input_N.pb and output_N.pb as
the node tests store them, the outputs from ONNX's reference evaluator.

To regenerate (onnx and NumPy from PyPI):

    python3 -m venv /tmp/onnx-env && /tmp/onnx-env/bin/pip install onnx==1.22.0 numpy
    /tmp/onnx-env/bin/python tests/data/onnx/make_integer_cases.py
"""

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

here = Path(__file__).resolve().parent / "integer"
rng = np.random.default_rng(11)


def write(name, nodes, inputs, outputs, initializers=()):
    def model_of(shapes):
        graph = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for n, v in inputs],
            [helper.make_tensor_value_info(n, t, shape) for (n, t), shape in zip(outputs, shapes)],
            initializer=list(initializers),
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 8
        return model

    feeds = dict(inputs)
    # Run once for the outputs' shapes, then declare them and check the model.
    expected = ReferenceEvaluator(model_of([None] * len(outputs))).run(None, feeds)
    model = model_of([e.shape for e in expected])
    onnx.checker.check_model(model, full_check=True)
    out = here / name
    out.mkdir(parents=True)
    onnx.save(model, out / "model.onnx")
    for i, (n, v) in enumerate(inputs):
        (out / f"input_{i}.pb").write_bytes(numpy_helper.from_array(v, n).SerializeToString())
    for i, ((n, _), e) in enumerate(zip(outputs, expected)):
        (out / f"output_{i}.pb").write_bytes(numpy_helper.from_array(e, n).SerializeToString())


shutil.rmtree(here, ignore_errors=True)
axes = numpy_helper.from_array(np.array([0, 2], dtype=np.int64), "axes")
for op in ["ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin"]:
    # Products of 15 factors stay within i32, the type a model's outputs take here.
    bound = 4 if op == "ReduceProd" else 50
    ints = rng.integers(-bound, bound, size=(3, 4, 5)).astype(np.int64)
    for keep in [0, 1]:
        write(
            f"{op.lower()}_int64_axes_keepdims_{keep}",
            [helper.make_node(op, ["x", "axes"], ["y"], keepdims=keep)],
            [("x", ints)],
            [("y", TensorProto.INT64)],
            [axes],
        )
    write(
        f"{op.lower()}_int64_all_axes",
        [helper.make_node(op, ["x"], ["y"], keepdims=0)],
        [("x", rng.integers(-3, 4, size=(2, 3)).astype(np.int64))],
        [("y", TensorProto.INT64)],
    )
# Flatten by hand, as exporters write it: the product of the trailing shape as the size.
minus_one = numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one")
write(
    "flatten_by_shape_product",
    [
        helper.make_node("Shape", ["x"], ["shape"], start=1),
        helper.make_node("ReduceProd", ["shape"], ["size"], keepdims=1),
        helper.make_node("Concat", ["minus_one", "size"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ],
    [("x", rng.standard_normal((2, 3, 4, 5)).astype(np.float32))],
    [("y", TensorProto.FLOAT)],
    [minus_one],
)
print(f"wrote {len(list(here.iterdir()))} cases into {here}")
